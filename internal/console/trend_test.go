package console

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/funnel"
)

// svgChart is what a test reads back from a drawn trend, by parsing it as
// XML: the rows' totals, and each day's bar with the slot it stands in.
type svgChart struct {
	totals map[string]string   // data-step → data-total
	bars   map[string][]svgBar // data-step → its day bars
	texts  []string            // every <text>, in order
	title  string
	desc   string
	lines  int // <polyline>s: there should be none
}

type svgBar struct {
	slot   int
	height float64
	title  string
}

func readSVG(t *testing.T, s string) svgChart {
	t.Helper()
	c := svgChart{totals: map[string]string{}, bars: map[string][]svgBar{}}
	dec := xml.NewDecoder(strings.NewReader(s))
	var step, inText, inTitle string
	var bar *svgBar
	depth := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed SVG: %v\n%s", err, s)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			depth++
			attr := map[string]string{}
			for _, a := range e.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch e.Name.Local {
			case "g":
				step = attr["data-step"]
				c.totals[step] = attr["data-total"]
			case "polyline":
				c.lines++
			case "rect":
				if attr["class"] == "day" {
					x, _ := strconv.ParseFloat(attr["x"], 64)
					hgt, _ := strconv.ParseFloat(attr["height"], 64)
					bar = &svgBar{slot: int(math.Floor((x - 380) / (420.0 / 30))), height: hgt}
				}
			case "text":
				inText = "text"
			case "title", "desc":
				inTitle = e.Name.Local
			}
		case xml.CharData:
			switch {
			case inTitle == "title" && bar != nil:
				bar.title += string(e)
			case inTitle == "title" && depth == 2:
				c.title += string(e)
			case inTitle == "desc":
				c.desc += string(e)
			case inText != "":
				c.texts = append(c.texts, string(e))
			}
		case xml.EndElement:
			depth--
			switch e.Name.Local {
			case "rect":
				if bar != nil {
					c.bars[step] = append(c.bars[step], *bar)
					bar = nil
				}
			case "text":
				inText = ""
			case "title", "desc":
				inTitle = ""
			case "g":
				step = ""
			}
		}
	}
	return c
}

// The trend draws a row per step with its total over the window and a bar
// for each day that has any, in that day's slot counted back from today;
// days before the window are left out; one day of data is one bar, not a
// line up from zeros; granted is measured against its base (for 免申即享
// the cases found) and the grants without a claim have their own row, so
// they read below 100%; a conversion still above 100% (a grant before its
// approval) is starred; the <title> and <desc> say the same in words.
func TestTrend(t *testing.T) {
	now := time.Date(2026, 12, 8, 1, 30, 0, 0, time.UTC) // 09:30 in Beijing
	today, yesterday, week := "2026-12-08", "2026-12-07", "2026-12-01"
	for _, tc := range []struct {
		name      string
		days      []funnel.Day
		totals    map[string]string
		bars      map[string][]int // step → the slots of its bars
		dataDays  int
		over      bool
		texts     []string // some of the texts drawn
		descParts []string
		absent    []string
	}{{
		name: "one day of data",
		days: []funnel.Day{{Day: today, Steps: funnel.Steps{Matched: 77, Sent: 66, Delivered: 65, Opened: 17, Claimed: 3, Approved: 3},
			Disputes: 3, Stops: 2}},
		totals:   map[string]string{"matched": "77", "sent": "66", "granted": "0", "disputed": "3", "stopped": "2", "granted_yuan": "0"},
		bars:     map[string][]int{"matched": {29}, "sent": {29}, "claimed": {29}, "disputed": {29}, "granted": nil, "granted_yuan": nil},
		texts:    []string{"85.7%", "45.5‰", "30.3‰", "12-08 今天", "12-01", "11-10", "最高 77"},
		dataDays: 1, descParts: []string{"2026-11-09至2026-12-08，1天有数据", "匹配 77", "发送 66（上一环节的85.7%）", "信息有误 3（每千条通知 45.5）"},
	}, {
		name: "days before the window are left out",
		days: []funnel.Day{{Day: "2026-10-01", Steps: funnel.Steps{Matched: 1000}},
			{Day: week, Steps: funnel.Steps{Matched: 10, Sent: 10}},
			{Day: yesterday, Steps: funnel.Steps{Matched: 30, Sent: 20}, GrantedAmount: 38640.5},
			{Day: today, Steps: funnel.Steps{Matched: 5}}},
		totals:   map[string]string{"matched": "45", "sent": "30", "granted_yuan": "38,640.5"},
		bars:     map[string][]int{"matched": {22, 28, 29}, "sent": {22, 28}, "granted_yuan": {28}},
		texts:    []string{"最高 30", "最高 3.9万", "38,640.5 元", "66.7%"},
		dataDays: 3, descParts: []string{"3天有数据", "匹配 45", "发放金额 38,640.5 元"},
		absent: []string{"1000", "1,000"},
	}, {
		name:      "no data",
		totals:    map[string]string{"matched": "0", "granted": "0"},
		bars:      map[string][]int{"matched": nil},
		texts:     []string{"12-08 今天"},
		descParts: []string{"0天有数据"},
	}, {
		name: "grants without a claim",
		days: []funnel.Day{{Day: yesterday, Steps: funnel.Steps{Matched: 40, Sent: 40, Claimed: 1, Approved: 1}, GrantedBase: 40},
			{Day: today, Steps: funnel.Steps{Granted: 32, GrantedUnclaimed: 31}}},
		totals:   map[string]string{"granted": "32", "granted_unclaimed": "31", "approved": "1"},
		bars:     map[string][]int{"granted": {29}, "granted_unclaimed": {29}, "matched": {28}},
		texts:    []string{"80.0%", "96.9%", "100.0%"},
		dataDays: 2, descParts: []string{"发放 32（可发放数的80.0%）", "其中未申领 31（占发放的96.9%）"},
		absent: []string{"%*", "3200"},
	}, {
		name:     "a grant before its approval",
		days:     []funnel.Day{{Day: today, Steps: funnel.Steps{Matched: 10, Sent: 10, Claimed: 3, Approved: 1, Granted: 2}, GrantedBase: 1}},
		totals:   map[string]string{"granted": "2", "granted_unclaimed": "0"},
		texts:    []string{"200.0%*"},
		dataDays: 1, over: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			tr := Trend("社保<断缴>", tc.days, now, 30)
			c := readSVG(t, string(tr.SVG))
			if tr.DataDays != tc.dataDays || len(tr.Days) != tc.dataDays {
				t.Errorf("%d days with data (%d listed), want %d", tr.DataDays, len(tr.Days), tc.dataDays)
			}
			if tr.From != "2026-11-09" || tr.To != today {
				t.Errorf("window %s to %s, want 2026-11-09 to %s", tr.From, tr.To, today)
			}
			for i := 1; i < len(tr.Days); i++ {
				if tr.Days[i-1].Day <= tr.Days[i].Day {
					t.Errorf("the days are not newest first: %v", tr.Days)
				}
			}
			if len(c.totals) != 11 {
				t.Errorf("%d rows, want the 7 steps, the grants without a claim, 2 answers and the amount: %v", len(c.totals), c.totals)
			}
			for step, want := range tc.totals {
				if c.totals[step] != want {
					t.Errorf("row %s total %q, want %q", step, c.totals[step], want)
				}
			}
			for step, slots := range tc.bars {
				var got []int
				for _, b := range c.bars[step] {
					got = append(got, b.slot)
					if b.height <= 0 || b.height > 22 {
						t.Errorf("row %s: a bar %.1f high, want within the row", step, b.height)
					}
					if !strings.Contains(b.title, stepNames[step]) && step != "granted_yuan" && step != "disputed" {
						t.Errorf("row %s: bar title %q", step, b.title)
					}
				}
				if !equalInts(got, slots) {
					t.Errorf("row %s: bars in slots %v, want %v", step, got, slots)
				}
			}
			if tr.Over != tc.over {
				t.Errorf("over 100%%: %v, want %v", tr.Over, tc.over)
			}
			if c.lines != 0 {
				t.Errorf("%d polylines: days are bars", c.lines)
			}
			texts := strings.Join(c.texts, "|")
			for _, want := range tc.texts {
				if !strings.Contains(texts, want) {
					t.Errorf("no text %q in %s", want, texts)
				}
			}
			for _, bad := range tc.absent {
				if strings.Contains(string(tr.SVG), bad) {
					t.Errorf("%q is drawn", bad)
				}
			}
			if !strings.Contains(c.title, "社保<断缴>：2026-11-09至2026-12-08") || strings.Contains(string(tr.SVG), "<断缴>") {
				t.Errorf("title %q", c.title)
			}
			for _, want := range tc.descParts {
				if !strings.Contains(c.desc, want) {
					t.Errorf("desc %q lacks %q", c.desc, want)
				}
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
