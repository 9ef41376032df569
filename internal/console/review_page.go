package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/funnel"
	"github.com/policypush/policypush/internal/store"
)

// stepColours are the trend's line colours, by step, told apart also by
// the legend's order and the line's dash.
var stepColours = map[string]string{
	"matched": "#1f4e79", "sent": "#2e75b6", "delivered": "#5b9bd5", "opened": "#70ad47",
	"claimed": "#bf9000", "approved": "#c55a11", "granted": "#7030a0",
}

// Trend draws the last days days up to now of each funnel step as an
// inline SVG line chart, missing days as 0, with axes, the highest value
// and a legend; its <title> and the table beside it say the same in
// words for screen readers.
func Trend(ds []funnel.Day, now time.Time, days int) template.HTML {
	const w, h, left, right, top, bottom = 640, 220, 40, 10, 10, 40
	by := map[string]funnel.Day{}
	for _, d := range ds {
		by[d.Day] = d
	}
	end := now.In(shanghai)
	var keys []string
	for i := days - 1; i >= 0; i-- {
		keys = append(keys, end.AddDate(0, 0, -i).Format(time.DateOnly))
	}
	peak := 1
	for _, k := range keys {
		for _, s := range store.FunnelSteps {
			peak = max(peak, by[k].Steps.Get(s))
		}
	}
	x := func(i int) float64 { return left + float64(i)*float64(w-left-right)/float64(max(days-1, 1)) }
	y := func(v int) float64 { return top + float64(h-top-bottom)*(1-float64(v)/float64(peak)) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="trend" viewBox="0 0 %d %d" role="img" aria-label="近%d天各环节趋势" xmlns="http://www.w3.org/2000/svg">`, w, h+24, days)
	fmt.Fprintf(&b, `<title>近%d天各环节每日数量，最高 %d</title>`, days, peak)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999" stroke-width="1"/>`, left, h-bottom, w-right, h-bottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999" stroke-width="1"/>`, left, top, left, h-bottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#555">%d</text>`, left-4, top+4, peak)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#555">0</text>`, left-4, h-bottom+4)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#555">%s</text>`, left, h-bottom+16, keys[0][5:])
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#555">%s</text>`, w-right, h-bottom+16, keys[len(keys)-1][5:])
	for n, s := range store.FunnelSteps {
		var pts []string
		for i, k := range keys {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(by[k].Steps.Get(s))))
		}
		dash := ""
		if n%2 == 1 {
			dash = ` stroke-dasharray="4 2"`
		}
		fmt.Fprintf(&b, `<polyline class="step-%s" fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`, s, stepColours[s], dash, strings.Join(pts, " "))
		lx := left + n*85
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" font-size="12" fill="#222">%s</text>`,
			lx, h-6, stepColours[s], lx+14, h+3, stepNames[s])
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and fixed names only
}

const reviewHTML = `
{{define "head"}}<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · 政策推送</title>
<link rel="icon" href="/console/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/console/style.css">
<link rel="stylesheet" href="/console/review.css">
</head>
<body data-state="ok">
<header class="top">
  <div>
    <h1>{{.Title}}</h1>
    <nav class="tabs">
      <a href="/">运行看板</a>
      <a href="/console/review"{{if eq .Nav "review"}} aria-current="page"{{end}}>案件审核</a>
      <a href="/console/disputes"{{if eq .Nav "disputes"}} aria-current="page"{{end}}>信息有误</a>
      <a href="/console/funnel"{{if eq .Nav "funnel"}} aria-current="page"{{end}}>漏斗与趋势</a>
    </nav>
  </div>
  <div class="top-side">
    {{if .Officer.Name}}<form class="session" method="post" action="/console/logout">
      <span class="who">当前用户：<strong id="officer">{{.Officer.Name}}</strong>（{{.Officer.Role}}）</span>
      <input type="hidden" name="csrf" value="{{.CSRF}}">
      <button type="submit">退出登录</button>
    </form>{{end}}
  </div>
</header>
{{if .Error}}<div id="error" class="banner" role="alert">{{.Error}}</div>{{end}}
{{if .Notice}}<div id="notice" class="banner ok-banner" role="status" data-done="{{.Notice}}">{{.Notice}}</div>{{end}}
<main>
{{end}}

{{define "foot"}}</main>
</body>
</html>
{{end}}

{{define "error"}}{{template "head" .}}<p>请稍后刷新本页。</p>{{template "foot" .}}{{end}}

{{define "queue"}}{{template "head" .}}
<section class="panel">
  <h2>政策</h2>
  <ul class="policy-list">
  {{range .Policies}}<li><a href="/console/review?policy={{.ID}}&amp;status={{$.Status}}"{{if eq .ID $.Policy.ID}} aria-current="page"{{end}}>{{.Title}}</a>{{if .Review}} <span class="tag">需审核</span>{{end}}</li>
  {{end}}</ul>
</section>
{{if .Policy.ID}}
<section class="panel">
  <div class="panel-head">
    <h2 id="queue-title">{{.Policy.Title}}：{{status .Status}}</h2>
    <p class="filters">{{range .Statuses}}<a href="/console/review?policy={{$.Policy.ID}}&amp;status={{.}}"{{if eq . $.Status}} aria-current="page"{{end}}>{{status .}}</a> {{end}}</p>
  </div>
  {{if not .Policy.Review}}<p class="note">本政策不需审核：申领即通过。</p>{{end}}
  <form id="decide" method="post" action="/console/review/decide">
    <input type="hidden" name="csrf" value="{{.CSRF}}">
    <input type="hidden" name="policy" value="{{.Policy.ID}}">
    <input type="hidden" name="status" value="{{.Status}}">
    {{if .Cases}}
    <div class="table-wrap">
    <table class="cases">
      <thead><tr>{{if .CanAct}}<th scope="col"><span class="visually-hidden">选择</span></th>{{end}}<th scope="col">案件</th><th scope="col">对象</th><th scope="col">状态</th><th scope="col">金额（元）</th><th scope="col">判断依据</th><th scope="col">数据日期</th><th scope="col">更新时间</th>{{if .CanAct}}<th scope="col">操作</th>{{end}}</tr></thead>
      <tbody>
      {{range .Cases}}<tr id="case-{{.ID}}" data-case="{{.ID}}" data-status="{{.Status}}">
        {{if $.CanAct}}<td><input type="checkbox" name="id" value="{{.ID}}" id="pick-{{.ID}}" aria-label="选择案件 {{.ID}}"></td>{{end}}
        <td>{{.ID}}</td>
        <td>{{.SubjectMasked}}</td>
        <td class="status">{{status .Status}}{{if .Reason}}<br><small>理由：{{.Reason}}</small>{{end}}{{if .DecidedBy}}<br><small>经办：{{.DecidedBy}}</small>{{end}}</td>
        <td class="num">{{.AmountText}}</td>
        <td><ul class="conds">{{range .Conditions}}<li class="v-{{.Verdict}}"><span aria-hidden="true">{{.Mark}}</span> {{.Name}}</li>{{end}}</ul></td>
        <td>{{if .DataDate}}{{.DataDate}}{{else}}—{{end}}</td>
        <td>{{.Updated}}</td>
        {{if $.CanAct}}<td class="row-actions"><button type="submit" name="decision" value="approve:{{.ID}}" id="approve-{{.ID}}">通过</button> <button type="submit" name="decision" value="reject:{{.ID}}" id="reject-{{.ID}}" class="reject">不通过</button></td>{{end}}
      </tr>
      {{end}}</tbody>
    </table>
    </div>
    {{if .CanAct}}
    <div class="batch">
      <label for="reason">理由（不通过时必填，记入案件和审计记录）</label>
      <textarea id="reason" name="reason" rows="2" maxlength="500"></textarea>
      <div class="batch-buttons">
        <button type="submit" name="decision" value="approve" id="approve-selected">通过所选</button>
        <button type="submit" name="decision" value="reject" id="reject-selected" class="reject">不通过所选</button>
      </div>
    </div>
    {{end}}
    {{else}}<p id="empty" class="note">没有{{status .Status}}的案件。</p>{{end}}
  </form>
  <p class="note"><a href="/api/policies/{{.Policy.ID}}/cases.csv">导出已通过名单（CSV，供拨付）</a> · <a href="/policies/{{.Policy.ID}}/publicity">公示页</a></p>
</section>
{{end}}
{{template "foot" .}}{{end}}

{{define "disputes"}}{{template "head" .}}
{{range .Sources}}<section class="panel" id="source-{{.Source}}">
  <div class="panel-head"><h2>数据来源：{{.Source}}</h2><p>待更正 <strong>{{.Open}}</strong> · 已更正 <strong>{{.Fixed}}</strong></p></div>
  <div class="table-wrap"><table>
    <thead><tr><th scope="col">编号</th><th scope="col">政策</th><th scope="col">对象</th><th scope="col">字段</th><th scope="col">条件</th><th scope="col">说明</th><th scope="col">状态</th><th scope="col">提出</th><th scope="col">已发送</th><th scope="col">更正</th></tr></thead>
    <tbody>{{range .Requests}}<tr><td>{{.ID}}</td><td>{{.PolicyID}}</td><td>{{.SubjectMasked}}</td><td>{{join .Fields "、"}}</td><td>{{join .Conditions "、"}}</td><td>{{.Note}}</td><td>{{if eq .Status "open"}}待更正{{else}}已更正{{end}}</td><td>{{.ReportedAt.Format "2006-01-02"}}</td><td>{{time .PublishedAt}}</td><td>{{time .FixedAt}}</td></tr>
    {{end}}</tbody>
  </table></div>
</section>
{{else}}<p class="note" id="empty">还没有更正请求。</p>{{end}}
{{template "foot" .}}{{end}}

{{define "funnelrow"}}<tr{{if .Flagged}} class="flagged"{{end}} data-policy="{{.PolicyID}}">
  <th scope="row">{{.Title}}{{if .Flagged}}<br><strong class="bad flag">⚠ {{.FlagReason}}</strong>{{end}}</th>
  {{$r := .Report}}{{$k := pid .PolicyID}}{{range $.Steps}}<td class="num"><span data-key="funnel/{{$k}}/{{.}}">{{count $r.Steps .}}</span>{{with conv $r .}}<br><small>{{.}}</small>{{end}}</td>{{end}}
  <td class="num granted" data-key="funnel/{{$k}}/granted_yuan">{{yuan .GrantedAmount}}</td>
  <td class="num">{{hours .MedianMatchToGrantHours}}</td>
  <td class="num">{{per .DisputesPer1000}}</td>
  <td class="num">{{per .StopsPer1000}}</td>
  <td class="num" data-key="funnel/{{$k}}/backfill">{{(index .Sources "backfill").Matched}}</td>
  <td class="num">{{(index .Sources "time").Matched}}</td>
</tr>{{end}}

{{define "funnel"}}{{template "head" .}}
<section class="panel">
  <h2>各政策漏斗（匹配 → 发放，直到元）</h2>
  <p class="note">每格下方是相对上一环节的转化率。信息有误、不再接收按每千条通知计；远高于其他政策的会标出，多半是规则或数据来源有误。“回溯匹配”是政策发布（或改版）后对存量数据回溯产生的匹配，“定期重算”是每日按时间重算产生的，其余来自实时数据事件。</p>
  <div class="table-wrap"><table class="funnel" id="funnel-table">
    <thead><tr><th scope="col">政策</th>{{range .Steps}}<th scope="col">{{step .}}</th>{{end}}<th scope="col">发放金额（元）</th><th scope="col">匹配至发放（中位）</th><th scope="col">信息有误/千条</th><th scope="col">不再接收/千条</th><th scope="col">其中回溯匹配</th><th scope="col">其中定期重算</th></tr></thead>
    <tbody>
    {{range .Policies}}{{template "funnelrow" (row $ .)}}{{end}}
    </tbody>
    <tfoot>{{template "funnelrow" (row $ .Total)}}</tfoot>
  </table></div>
</section>
<section class="panel">
  <h2>近30天趋势：全部政策</h2>
  <figure id="trend-total">{{.Total.Chart}}</figure>
</section>
{{range .Policies}}<section class="panel">
  <h2>近30天趋势：{{.Title}}</h2>
  <figure>{{.Chart}}</figure>
</section>{{end}}
{{template "foot" .}}{{end}}
`
