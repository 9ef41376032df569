package library

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/rules"
)

// ParamValue is one dated value of a parameter, as the JSON gives it.
type ParamValue struct {
	From  string `json:"from"` // YYYY-MM-DD
	Value any    `json:"value"`
}

var paramRef = regexp.MustCompile(`\bparams\.([a-z_][a-z0-9_]*)`)

// paramsOf lists the parameters expr reads, in the order it first names
// them.
func paramsOf(expr string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range paramRef.FindAllStringSubmatch(expr, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

func paramByName(r *rules.Rule, name string) *rules.Param {
	for _, p := range r.Params {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// valueWords writes a parameter's value: a number as written, a list with
// 、 between its items.
func valueWords(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = valueWords(e)
		}
		return strings.Join(parts, "、")
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "是"
		}
		return "否"
	}
	return fmt.Sprint(v)
}

// history writes a parameter's dated values, such as
// "2023-01-01 起 0.3；2025-01-01 起 0.5（现行）", marking the one in force at
// now.
func history(p *rules.Param, now time.Time) string {
	cur := -1
	for i, v := range p.Values {
		if !now.Before(v.From) {
			cur = i
		}
	}
	parts := make([]string, len(p.Values))
	for i, v := range p.Values {
		parts[i] = v.From.Format(time.DateOnly) + " 起 " + valueWords(v.Value)
		if i == cur && len(p.Values) > 1 {
			parts[i] += "（现行）"
		}
	}
	return strings.Join(parts, "；")
}

// paramsText says which parameters expr reads and their dated values; ""
// when it reads none. One parameter is written alone; several are each
// named.
func paramsText(r *rules.Rule, expr string, now time.Time) string {
	names := paramsOf(expr)
	var parts []string
	for _, n := range names {
		p := paramByName(r, n)
		if p == nil {
			continue
		}
		if len(names) == 1 {
			return "标准：" + history(p, now)
		}
		parts = append(parts, n+"："+history(p, now))
	}
	if len(parts) == 0 {
		return ""
	}
	return "标准（" + strings.Join(parts, "；") + "）"
}

var number = regexp.MustCompile(`^\s*[0-9]+(\.[0-9]+)?\s*$`)

// amountWords says the amount rule in words where it can: a fixed sum, or
// one parameter's dated sums; otherwise that it is reckoned by the rule,
// with the parameters it uses.
func amountWords(r *rules.Rule, now time.Time) string {
	if r.Amount == nil {
		return ""
	}
	e := strings.TrimSpace(r.Amount.Expr)
	if number.MatchString(e) {
		return e + " 元"
	}
	if m := paramRef.FindStringSubmatch(e); m != nil && m[0] == e {
		if p := paramByName(r, m[1]); p != nil {
			return history(p, now) + "（元）"
		}
	}
	s := "按政策规定的标准计算，具体金额以经办机构核定为准"
	if t := paramsText(r, e, now); t != "" {
		s += "。计算所用" + t
	}
	return s
}

// dateWords writes a day as 2026年1月31日.
func dateWords(t time.Time) string {
	return fmt.Sprintf("%d年%d月%d日", t.Year(), t.Month(), t.Day())
}

// windowWords writes the validity window.
func windowWords(r *rules.Rule) string {
	if r.ValidUntil == nil {
		return dateWords(r.ValidFrom) + "起施行，未规定截止日期"
	}
	return dateWords(r.ValidFrom) + " 至 " + dateWords(*r.ValidUntil)
}

// stateBanner says, at the top of a policy's page, that it no longer or
// not yet applies, in plain words with its date; "" while it is in force.
func stateBanner(r *rules.Rule, state string) string {
	switch state {
	case Repealed:
		if r.ValidUntil != nil {
			return "本政策已废止，执行至" + dateWords(*r.ValidUntil) + "，现已不再受理申请。"
		}
		return "本政策已废止，现已不再受理申请。"
	case Expired:
		return "本政策已于" + dateWords(*r.ValidUntil) + "到期失效，现已不再受理申请。"
	case NotYet:
		return "本政策尚未生效，将于" + dateWords(r.ValidFrom) + "起施行。"
	case Consultation:
		return "这是征求意见稿，尚未生效，内容可能调整。"
	}
	return ""
}

var domainWords = map[string]string{
	"employment": "就业创业", "social_insurance": "社会保险", "talent": "人才人事", "labor_relations": "劳动关系",
}

// Domains lists the domains in the order the library shows them.
var Domains = []string{"employment", "social_insurance", "talent", "labor_relations"}

var subjectWords = map[string]string{"resident": "个人", "enterprise": "企业"}
