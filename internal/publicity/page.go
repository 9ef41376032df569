package publicity

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

func writeJSON(w http.ResponseWriter, v any) {
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

// formatYuan writes an amount with thousands separators and at most two
// decimals: 38,640.5.
func formatYuan(a float64) string {
	s := strconv.FormatFloat(a, 'f', 2, 64)
	s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	whole, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(whole, "-")
	whole = strings.TrimPrefix(whole, "-")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

const pageHTML = `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .Missing}}没有这项政策{{else if .Failed}}暂时无法显示{{else}}{{.Title}} 拟享受名单公示{{end}}</title>
<style>
body{margin:0;font:16px/1.6 -apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;color:#222;background:#f6f6f6}
main{max-width:42rem;margin:0 auto;padding:1rem;background:#fff;min-height:100vh}
h1{font-size:1.25rem;margin:.5rem 0 1rem}
p{margin:.5rem 0}
.sum{background:#f0f5ff;padding:.75rem;border-radius:.5rem}
table{width:100%;border-collapse:collapse;margin-top:1rem;font-size:.95rem}
th,td{border-bottom:1px solid #ddd;padding:.5rem .25rem;text-align:left;vertical-align:top}
td.n{text-align:right;white-space:nowrap}
small{color:#666}
</style>
</head>
<body>
<main>
{{if .Missing}}
<h1>没有这项政策</h1>
<p>请核对链接是否完整。</p>
{{else if .Failed}}
<h1>暂时无法显示</h1>
<p>请稍后再试。</p>
{{else}}
<h1>{{.Title}} 拟享受名单公示</h1>
<p class="sum">经审核，以下{{if .Enterprises}} {{.Enterprises}} 家单位{{end}}{{if and .Enterprises .Residents}}和{{end}}{{if .Residents}} {{.Residents}} 名个人{{end}}{{if not .Count}}暂无对象{{end}}拟享受本政策{{if .Count}}，合计 {{total .Amount}} 元{{end}}。</p>
<p>公示期：每一条自审核通过之日起 {{.Days}} 个工作日。公示期满无异议的，按规定拨付。</p>
{{if .Residents}}<p>为保护个人信息，个人不公示姓名和证件号码，只公示人数。</p>{{end}}
{{if .Cases}}
<table>
<thead><tr><th>单位名称</th><th>统一社会信用代码</th><th>金额（元）</th><th>公示截止</th></tr></thead>
<tbody>
{{range .Cases}}<tr><td>{{.NameMasked}}</td><td>{{.IDMasked}}</td><td class="n">{{yuan .Amount}}</td><td>{{.Until}}</td></tr>
{{end}}</tbody>
</table>
{{end}}
<p><small>如有异议，请在公示期内向{{.Department}}反映，或拨打 12333。</small></p>
{{end}}
</main>
</body>
</html>
`
