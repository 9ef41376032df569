package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MinConsultationWorkingDays is the shortest public comment period a draft
// may have: the seed plan (七) asks for at least 7 working days.
const MinConsultationWorkingDays = 7

// CalendarFile is the name, at the root of a rules directory, of the list
// of public holidays and make-up working days (调休) that working days are
// counted by. It is not a policy.
const CalendarFile = "calendar.yaml"

// Consultation is a draft's window of public comment (决策预公开):
// From and Until are whole days, Until included, midnight Asia/Shanghai.
type Consultation struct {
	From, Until time.Time
	Pos         Pos // of the consultation key's value
	UntilPos    Pos
}

// InConsultation reports whether the rule is a draft out for comment at
// at: status draft, with a consultation whose window (both days included,
// in Asia/Shanghai) holds at. The public library shows such a draft with
// state consultation, and only then.
func (r *Rule) InConsultation(at time.Time) bool {
	if r.Status != Draft || r.Consultation == nil {
		return false
	}
	at = at.In(Shanghai)
	return !at.Before(r.Consultation.From) && at.Before(r.Consultation.Until.AddDate(0, 0, 1))
}

// consultation parses a rule's consultation: {from: DATE, until: DATE}.
func (y *yfile) consultation(n *yaml.Node) *Consultation {
	m := y.mapping(n, "consultation", []string{"from", "until"}, "from", "until")
	if m == nil || m["from"] == nil || m["until"] == nil {
		return nil
	}
	from, ok1 := y.date(m["from"], "consultation.from")
	until, ok2 := y.date(m["until"], "consultation.until")
	if !ok1 || !ok2 {
		return nil
	}
	if until.Before(from) {
		y.errorf(m["until"], "consultation.until %s is before consultation.from %s", m["until"].Value, m["from"].Value)
		return nil
	}
	return &Consultation{From: from, Until: until, Pos: y.pos(n), UntilPos: y.pos(m["until"])}
}

// Calendar is the State Council's holiday arrangements, year by year: the
// days off that would otherwise be working days, and the weekend days
// that are working days (调休). Working days are counted only within the
// years it covers.
type Calendar struct {
	File     string
	years    map[int]bool
	holidays map[string]string // YYYY-MM-DD → the holiday's name
	workdays map[string]bool   // weekend days worked
}

// Covers reports whether the calendar lists the arrangements of year y.
func (c *Calendar) Covers(y int) bool { return c != nil && c.years[y] }

// WorkingDay reports whether d is a working day: Monday to Friday unless
// a public holiday, or a weekend day that is a make-up working day.
func (c *Calendar) WorkingDay(d time.Time) bool {
	key := d.In(Shanghai).Format(time.DateOnly)
	if c != nil {
		if _, off := c.holidays[key]; off {
			return false
		}
		if c.workdays[key] {
			return true
		}
	}
	wd := d.In(Shanghai).Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// WorkingDays counts the working days from from to until, both included.
// It fails when the calendar does not cover a year the span touches:
// without that year's arrangements, the count could be wrong either way.
func (c *Calendar) WorkingDays(from, until time.Time) (int, error) {
	from, until = from.In(Shanghai), until.In(Shanghai)
	for y := from.Year(); y <= until.Year(); y++ {
		if !c.Covers(y) {
			return 0, fmt.Errorf("the holiday calendar has no arrangements for %d", y)
		}
	}
	n := 0
	for d := from; !d.After(until); d = d.AddDate(0, 0, 1) {
		if c.WorkingDay(d) {
			n++
		}
	}
	return n, nil
}

// ParseCalendar parses a calendar file:
//
//	years:
//	  2026:
//	    source: 国务院办公厅关于2026年部分节假日安排的通知
//	    holidays:
//	      - {name: 元旦, from: 2026-01-01, until: 2026-01-03}
//	    workdays: [2026-01-04]
//
// Every problem is returned together as Errors, each with file:line:col.
func ParseCalendar(name string, data []byte) (*Calendar, error) {
	y := &yfile{name: name, lines: strings.Split(string(data), "\n")}
	root := y.document(data)
	if root == nil {
		return nil, y.errs.err()
	}
	c := &Calendar{File: name, years: map[int]bool{}, holidays: map[string]string{}, workdays: map[string]bool{}}
	m := y.mapping(root, "the calendar", []string{"years"}, "years")
	if n := m["years"]; n != nil {
		if n.Kind != yaml.MappingNode {
			y.errorf(n, "years must map each year to its arrangements")
		} else {
			for i := 0; i+1 < len(n.Content); i += 2 {
				y.calendarYear(c, n.Content[i], n.Content[i+1])
			}
		}
	}
	if err := y.errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

func (y *yfile) calendarYear(c *Calendar, k, v *yaml.Node) {
	year, err := strconv.Atoi(k.Value)
	if err != nil || year < 2000 || year > 2100 {
		y.errorf(k, "year %q must be a year such as 2026", k.Value)
		return
	}
	if c.years[year] {
		y.errorf(k, "year %d appears twice", year)
		return
	}
	c.years[year] = true
	m := y.mapping(v, fmt.Sprintf("year %d", year), []string{"source", "holidays", "workdays"}, "source", "holidays")
	if m == nil {
		return
	}
	y.str(m["source"], "source")
	inYear := func(n *yaml.Node, what string) (time.Time, bool) {
		d, ok := y.date(n, what)
		if ok && d.Year() != year {
			y.errorf(n, "%s %s is not in %d", what, n.Value, year)
			return d, false
		}
		return d, ok
	}
	if h := m["holidays"]; h != nil {
		if h.Kind != yaml.SequenceNode {
			y.errorf(h, "holidays must be a list of {name, from, until}")
		} else {
			for _, e := range h.Content {
				hm := y.mapping(e, "a holiday", []string{"name", "from", "until"}, "name", "from", "until")
				if hm == nil || hm["from"] == nil || hm["until"] == nil {
					continue
				}
				name := y.str(hm["name"], "name")
				from, ok1 := inYear(hm["from"], "from")
				until, ok2 := inYear(hm["until"], "until")
				if !ok1 || !ok2 {
					continue
				}
				if until.Before(from) {
					y.errorf(hm["until"], "until %s is before from %s", hm["until"].Value, hm["from"].Value)
					continue
				}
				for d := from; !d.After(until); d = d.AddDate(0, 0, 1) {
					c.holidays[d.Format(time.DateOnly)] = name
				}
			}
		}
	}
	if w := m["workdays"]; w != nil {
		if w.Kind != yaml.SequenceNode {
			y.errorf(w, "workdays must be a list of dates")
			return
		}
		for _, e := range w.Content {
			d, ok := inYear(e, "workday")
			if !ok {
				continue
			}
			key := d.Format(time.DateOnly)
			switch {
			case d.Weekday() != time.Saturday && d.Weekday() != time.Sunday:
				y.errorf(e, "workday %s is a %s: only a weekend day is a make-up working day", key, d.Weekday())
			case c.holidays[key] != "":
				y.errorf(e, "workday %s is also listed as a holiday (%s)", key, c.holidays[key])
			default:
				c.workdays[key] = true
			}
		}
	}
}

// CheckConsultations checks each rule's consultation against cal (nil when
// the directory has no calendar): only a draft may have one, and its
// window must hold at least MinConsultationWorkingDays working days.
func CheckConsultations(rs []*Rule, cal *Calendar) Errors {
	var es Errors
	for _, r := range rs {
		c := r.Consultation
		if c == nil {
			continue
		}
		if r.Status != Draft {
			es.add(c.Pos, "consultation is only for a draft (status: draft); this policy's status is %s", r.Status)
			continue
		}
		if cal == nil {
			es.add(c.Pos, "consultation needs %s at the root of the rules directory, to count its working days", CalendarFile)
			continue
		}
		n, err := cal.WorkingDays(c.From, c.Until)
		if err != nil {
			es.add(c.Pos, "cannot count the working days of consultation %s to %s: %v; add that year to %s",
				c.From.Format(time.DateOnly), c.Until.Format(time.DateOnly), err, cal.File)
			continue
		}
		if n < MinConsultationWorkingDays {
			es.add(c.UntilPos, "consultation %s to %s holds %d working days; a draft is open for comment for at least %d (weekends and public holidays excluded, per %s)",
				c.From.Format(time.DateOnly), c.Until.Format(time.DateOnly), n, MinConsultationWorkingDays, cal.File)
		}
	}
	return es
}
