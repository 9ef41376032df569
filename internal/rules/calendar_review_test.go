package rules

import (
	"testing"
	"time"
)

// TestCalendarYearTotals checks rules/calendar.yaml against totals worked
// out by hand from the State Council's notices, not from the file: since
// 2025 there are 13 statutory days off a year, so a year's working days
// are its weekdays less 13 (every day off that falls on a weekday is
// either a statutory day or paid back by a 调休 weekend day). 2025 and
// 2026 each have 261 weekdays: 248 working days. It also pins the edges of
// counting: a window that starts on a weekend, one over New Year across
// two years, and the until day counted.
func TestCalendarYearTotals(t *testing.T) {
	cal := repoCalendar(t)
	d := func(s string) time.Time {
		v, err := time.ParseInLocation(time.DateOnly, s, Shanghai)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		from, until string
		want        int
	}{
		{"2025-01-01", "2025-12-31", 248},
		{"2026-01-01", "2026-12-31", 248},
		// Sat 5 December: the weekend is not counted; Mon 7 to Fri 11, Mon 14.
		{"2026-12-05", "2026-12-14", 6},
		{"2026-12-05", "2026-12-15", 7},
		// Mon 29 to Wed 31 December 2025, 元旦 1–3 January off, Sun 4 worked, Mon 5 to Wed 7.
		{"2025-12-29", "2026-01-07", 7},
		// A single working day, and a single 调休 Saturday (14 February 2026).
		{"2026-12-01", "2026-12-01", 1},
		{"2026-02-14", "2026-02-14", 1},
		// Thu 30 April, 劳动节 1–5 May 2026 off, Wed 6 to Fri 8, Sat 9 May worked.
		{"2026-04-30", "2026-05-09", 5},
	} {
		n, err := cal.WorkingDays(d(tc.from), d(tc.until))
		if err != nil || n != tc.want {
			t.Errorf("%s to %s: %d working days (%v), want %d", tc.from, tc.until, n, err, tc.want)
		}
	}
	// Every day the 2026 notice (国办发明电〔2025〕7号) gives off or as a
	// working day, typed here from the notice, not from the file.
	off := [][2]string{{"2026-01-01", "2026-01-03"}, {"2026-02-15", "2026-02-23"}, {"2026-04-04", "2026-04-06"},
		{"2026-05-01", "2026-05-05"}, {"2026-06-19", "2026-06-21"}, {"2026-09-25", "2026-09-27"}, {"2026-10-01", "2026-10-07"}}
	for _, r := range off {
		for x := d(r[0]); !x.After(d(r[1])); x = x.AddDate(0, 0, 1) {
			if cal.WorkingDay(x) {
				t.Errorf("%s is a working day; the 2026 notice gives it off", x.Format(time.DateOnly))
			}
		}
	}
	for _, w := range []string{"2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"} {
		if !cal.WorkingDay(d(w)) {
			t.Errorf("%s is not a working day; the 2026 notice makes it one (调休)", w)
		}
	}
}
