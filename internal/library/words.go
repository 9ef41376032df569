package library

import (
	"fmt"
	"math"
	"regexp"
	"slices"
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

// wording writes parameters and amounts in words. labels turns a code
// that a parameter lists (dibao, graduate) into the words the field
// dictionary gives it (城乡低保家庭, 高校毕业生).
type wording struct{ labels map[string]string }

// unit is what a parameter's name says its values count, by the words of
// the catalogue's names: *_months are months, *age* years of age, a rate,
// ratio or share a fraction shown as a percentage, an amount, wage,
// subsidy, benefit, rent or deduction yuan; "" when the name says nothing.
func unit(name string) string {
	words := strings.Split(name, "_")
	has := func(ws ...string) bool {
		for _, w := range ws {
			if slices.Contains(words, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("months"):
		return "个月"
	case has("days"):
		return "天"
	case has("age"):
		return "周岁"
	case has("rate", "ratio", "share"):
		return "%"
	case has("amount", "wage", "subsidy", "benefit", "rent", "deduction"):
		return "元"
	case has("headcount", "threshold", "staff"):
		return "人"
	case has("times"):
		return "次"
	}
	return ""
}

// value writes one value of the parameter name: a number with its unit,
// a list with 、 between its items, a code in the dictionary's words.
func (w wording) value(name string, v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = w.value("", e)
		}
		return strings.Join(parts, "、")
	case bool:
		if x {
			return "是"
		}
		return "否"
	case string:
		if l, ok := w.labels[x]; ok {
			return l
		}
		return x
	}
	f, ok := toFloat(v)
	if !ok {
		return fmt.Sprint(v)
	}
	switch u := unit(name); u {
	case "%":
		// 0.055 × 100 is 5.500000000000001 in binary: round it off.
		return strconv.FormatFloat(math.Round(f*100*1e6)/1e6, 'f', -1, 64) + "%"
	case "":
		return strconv.FormatFloat(f, 'f', -1, 64)
	default:
		return strconv.FormatFloat(f, 'f', -1, 64) + " " + u
	}
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// history writes a parameter's dated values, such as
// "2023-01-01 起 30%；2025-01-01 起 50%（现行）", marking the one in force
// at now when there are several.
func (w wording) history(p *rules.Param, now time.Time) string {
	cur := -1
	for i, v := range p.Values {
		if !now.Before(v.From) {
			cur = i
		}
	}
	parts := make([]string, len(p.Values))
	for i, v := range p.Values {
		parts[i] = v.From.Format(time.DateOnly) + " 起 " + w.value(p.Name, v.Value)
		if i == cur && len(p.Values) > 1 {
			parts[i] += "（现行）"
		}
	}
	return strings.Join(parts, "；")
}

// params says the standards expr applies, with their dated values; ""
// when it reads no parameter. Several are separated by a full-width
// semicolon, in the order the expression names them.
func (w wording) params(r *rules.Rule, expr string, now time.Time) string {
	var parts []string
	for _, n := range paramsOf(expr) {
		if p := paramByName(r, n); p != nil {
			parts = append(parts, w.history(p, now))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "标准：" + strings.Join(parts, "；")
}

var number = regexp.MustCompile(`^\s*[0-9]+(\.[0-9]+)?\s*$`)

// amount says the amount rule in words where it can: a fixed sum, or
// one parameter's dated sums; otherwise that it is reckoned by the rule,
// with the parameters it uses.
func (w wording) amount(r *rules.Rule, now time.Time) string {
	if r.Amount == nil {
		return ""
	}
	e := strings.TrimSpace(r.Amount.Expr)
	if number.MatchString(e) {
		return e + " 元"
	}
	if m := paramRef.FindStringSubmatch(e); m != nil && m[0] == e {
		if p := paramByName(r, m[1]); p != nil {
			if unit(p.Name) == "" {
				return w.history(p, now) + "（元）"
			}
			return w.history(p, now)
		}
	}
	s := "按政策规定的标准计算，具体金额以经办机构核定为准"
	if t := w.params(r, e, now); t != "" {
		s += "。计算所用的" + t
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
