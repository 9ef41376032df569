package console

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/funnel"
	"github.com/policypush/policypush/internal/store"
)

// The funnel page's trend is drawn as small multiples: one row per step
// (and per answer, and the 元 granted), each with its total over the
// window beside a bar on a scale shared by the steps, so that the rows
// read as a funnel, and its days as bars on the row's own scale, so that
// granted (tens) is as legible as matched (hundreds) with no log scale
// to explain. Days are bars, not a line: a policy with one day of data
// shows one bar, not a ramp up from zeros that never were.

// trend is one chart and what is said about it beside it.
type trend struct {
	SVG       template.HTML
	From, To  string       // the window, YYYY-MM-DD
	Days      []funnel.Day // the days with data, newest first, for the table under the chart
	DataDays  int
	Over      bool // a conversion drawn is above 100%
	Unclaimed bool // some grants had no claim
}

// trendRow is one row of the chart: a step, an answer, or the amount.
type trendRow struct {
	key, name, colour string
	value             func(funnel.Day) float64
	funnel            bool // on the steps' shared scale, with its conversion
	yuan              bool
	// base is what the row's conversion is measured against; nil: the
	// row before. Granted's is funnel.Day.GrantedBase, so that 免申即享
	// grants, which have no claim, are not read against the approved.
	base func(funnel.Day) float64
}

func trendRows() []trendRow {
	var rows []trendRow
	for _, s := range funnelColumns() {
		r := trendRow{key: s, name: stepNames[s], colour: "#2e75b6", funnel: true,
			value: func(d funnel.Day) float64 { return float64(d.Steps.Get(s)) }}
		switch s {
		case store.StepGranted:
			r.colour = "#2e7d32"
			r.base = func(d funnel.Day) float64 { return float64(d.GrantedBase) }
		case store.StepGrantedUnclaimed:
			r.colour = "#66a36a"
		}
		rows = append(rows, r)
	}
	return append(rows,
		trendRow{key: "disputed", name: "信息有误", colour: "#b00020", value: func(d funnel.Day) float64 { return float64(d.Disputes) }},
		trendRow{key: "stopped", name: "不再接收", colour: "#a35200", value: func(d funnel.Day) float64 { return float64(d.Stops) }},
		trendRow{key: "granted_yuan", name: "发放金额", colour: "#7030a0", yuan: true, value: func(d funnel.Day) float64 { return d.GrantedAmount }},
	)
}

// Trend draws the last days days up to now (Asia/Shanghai) of ds, the
// days of what name says, as inline SVG with a <title> and a <desc> that
// say its totals in words; the days themselves go in the table the page
// puts under it.
func Trend(name string, ds []funnel.Day, now time.Time, days int) trend {
	const (
		w, rowH, head, gap = 900, 30, 24, 10
		labelEnd           = 64
		barX, barW         = 72, 160
		totalEnd, convEnd  = 300, 362
		dayX, dayW         = 380, 420
		peakX              = 808
	)
	days = max(days, 1)
	end := now.In(shanghai)
	keys := make([]string, days)
	for i := range keys {
		keys[i] = end.AddDate(0, 0, i-days+1).Format(time.DateOnly)
	}
	by := map[string]funnel.Day{}
	for _, d := range ds {
		by[d.Day] = d
	}
	t := trend{From: keys[0], To: keys[days-1]}
	for i := days - 1; i >= 0; i-- {
		if d, ok := by[keys[i]]; ok {
			t.Days = append(t.Days, d)
		}
	}
	t.DataDays = len(t.Days)

	rows := trendRows()
	totals := make([]float64, len(rows))
	bases := make([]float64, len(rows)) // what each conversion is measured against
	peaks := make([]float64, len(rows))
	var funnelPeak float64
	funnelRows := 0
	for i, r := range rows {
		for _, k := range keys {
			v := r.value(by[k])
			totals[i] += v
			peaks[i] = max(peaks[i], v)
			if r.base != nil {
				bases[i] += r.base(by[k])
			}
		}
		if r.funnel {
			funnelPeak = max(funnelPeak, totals[i])
			funnelRows++
			if r.base == nil && i > 0 {
				bases[i] = totals[i-1]
			}
		}
		if r.key == store.StepGrantedUnclaimed && totals[i] > 0 {
			t.Unclaimed = true
		}
	}
	sent := totals[1] // rates per 1,000 notices, as the table's

	top := func(i int) int { // a row's top; the answers are set apart from the steps
		y := head + i*rowH
		if i >= funnelRows {
			y += gap
		}
		return y
	}
	axisY := top(len(rows))
	h := axisY + 34
	slot := float64(dayW) / float64(days)

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="trend" viewBox="0 0 %d %d" role="img" aria-labelledby="trend-title trend-desc" xmlns="http://www.w3.org/2000/svg" font-family="inherit">`, w, h)
	fmt.Fprintf(&b, `<title id="trend-title">%s：%s至%s每日各环节数量</title>`, template.HTMLEscapeString(name), t.From, t.To)
	fmt.Fprintf(&b, `<desc id="trend-desc">%s</desc>`, template.HTMLEscapeString(t.describe(rows, totals, bases, sent)))
	fmt.Fprintf(&b, `<text x="%d" y="14" font-size="12" fill="#555">近%d天合计</text>`, barX, days)
	fmt.Fprintf(&b, `<text x="%d" y="14" font-size="12" fill="#555" text-anchor="end">较上一环节</text>`, convEnd)
	fmt.Fprintf(&b, `<text x="%d" y="14" font-size="12" fill="#555">每日（每行按本行最高值）</text>`, dayX)
	for i, r := range rows {
		y := top(i)
		mid := y + rowH/2 + 4
		fmt.Fprintf(&b, `<g class="row" data-step="%s" data-total="%s">`, r.key, number(totals[i], r.yuan))
		if i%2 == 0 {
			fmt.Fprintf(&b, `<rect x="0" y="%d" width="%d" height="%d" fill="#f5f7fa"/>`, y, w, rowH)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" fill="#222" text-anchor="end">%s</text>`, labelEnd, mid, r.name)
		if r.funnel && totals[i] > 0 {
			bw := max(1, float64(barW)*totals[i]/funnelPeak)
			fmt.Fprintf(&b, `<rect class="total" x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, barX, y+7, bw, rowH-14, r.colour)
		}
		unit := ""
		if r.yuan {
			unit = " 元"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" fill="#222" text-anchor="end">%s%s</text>`, totalEnd, mid, number(totals[i], r.yuan), unit)
		switch {
		case r.funnel && i > 0 && bases[i] > 0:
			t.Over = t.Over || totals[i] > bases[i]
			fmt.Fprintf(&b, `<text class="conv" x="%d" y="%d" font-size="12" fill="#555" text-anchor="end">%s</text>`, convEnd, mid, percent(totals[i]/bases[i]))
		case !r.funnel && !r.yuan && sent > 0:
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="#555" text-anchor="end">%s‰</text>`, convEnd, mid, strconv.FormatFloat(1000*totals[i]/sent, 'f', 1, 64))
		}
		base := y + rowH - 3
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#bbb" stroke-width="1"/>`, dayX, base, dayX+dayW, base)
		for j, k := range keys {
			v := r.value(by[k])
			if v <= 0 {
				continue
			}
			bh := max(1.5, float64(rowH-8)*v/peaks[i])
			fmt.Fprintf(&b, `<rect class="day" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s %s</title></rect>`,
				float64(dayX)+float64(j)*slot+slot*0.15, float64(base)-bh, slot*0.7, bh, r.colour, k[5:], r.name, number(v, r.yuan))
		}
		if peaks[i] > 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#555">最高 %s</text>`, peakX, mid, short(peaks[i], r.yuan))
		}
		b.WriteString(`</g>`)
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999" stroke-width="1"/>`, dayX, axisY, dayX+dayW, axisY)
	for j := days - 1; j >= 0; j -= 7 { // a tick a week, counted back from today
		x := float64(dayX) + (float64(j)+0.5)*slot
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999" stroke-width="1"/>`, x, axisY, x, axisY+4)
		label := keys[j][5:]
		if j == days-1 {
			label += " 今天"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" fill="#555" text-anchor="middle">%s</text>`, x, axisY+17, label)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#555">%s</text>`, dayX, axisY+31, "日期（北京时间）")
	b.WriteString(`</svg>`)
	t.SVG = template.HTML(b.String()) // numbers, dates and fixed names; the name and the <desc> escaped
	return t
}

// describe says the chart's totals in a sentence, for its <desc>.
func (t trend) describe(rows []trendRow, totals, bases []float64, sent float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s至%s，%d天有数据。合计：", t.From, t.To, t.DataDays)
	for i, r := range rows {
		if i > 0 {
			b.WriteString("，")
		}
		fmt.Fprintf(&b, "%s %s", r.name, number(totals[i], r.yuan))
		switch {
		case r.yuan:
			b.WriteString(" 元")
		case r.key == store.StepGranted && bases[i] > 0:
			fmt.Fprintf(&b, "（可发放数的%s）", percent(totals[i]/bases[i]))
		case r.key == store.StepGrantedUnclaimed && bases[i] > 0:
			fmt.Fprintf(&b, "（占发放的%s）", percent(totals[i]/bases[i]))
		case r.funnel && i > 0 && bases[i] > 0:
			fmt.Fprintf(&b, "（上一环节的%s）", percent(totals[i]/bases[i]))
		case !r.funnel && sent > 0:
			fmt.Fprintf(&b, "（每千条通知 %s）", strconv.FormatFloat(1000*totals[i]/sent, 'f', 1, 64))
		}
	}
	b.WriteString("。逐日数字见图下的表。")
	return b.String()
}

func number(v float64, isYuan bool) string {
	if isYuan {
		return yuan(v)
	}
	return yuan(float64(int64(v)))
}

// short writes a row's peak briefly enough to fit beside the row: amounts
// from 10,000 元 on in 万.
func short(v float64, isYuan bool) string {
	if isYuan && v >= 10000 {
		return strconv.FormatFloat(v/10000, 'f', 1, 64) + "万"
	}
	return number(v, isYuan)
}

// percent writes a conversion; above 100% it carries a star, explained
// under the chart: a case reached the step without the one before in
// the window (paid before its approval, or approved before the window).
func percent(c float64) string {
	s := strconv.FormatFloat(c*100, 'f', 1, 64) + "%"
	if c > 1 {
		s += "*"
	}
	return s
}
