package rules

import "time"

// civil is a calendar date. The date helpers work on civil dates so that
// they neither parse with the time package nor allocate.
type civil struct{ y, m, d int }

// civilOf reads "YYYY-MM-DD", "YYYY-MM" (the first of the month), an int
// yyyymmdd, or a time.Time. Anything else is not a date.
func civilOf(v any) (civil, bool) {
	switch x := v.(type) {
	case string:
		return parseCivil(x)
	case int:
		return civil{x / 10000, x / 100 % 100, x % 100}, true
	case time.Time:
		y, m, d := x.In(Shanghai).Date()
		return civil{y, int(m), d}, true
	}
	return civil{1970, 1, 1}, false
}

func parseCivil(s string) (civil, bool) {
	if len(s) != 10 && len(s) != 7 {
		return civil{}, false
	}
	num := func(s string) (int, bool) {
		n := 0
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(s[0:4])
	m, ok2 := num(s[5:7])
	d, ok3 := 1, true
	if len(s) == 10 {
		d, ok3 = num(s[8:10])
		ok3 = ok3 && s[7] == '-'
	}
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return civil{}, false // 2025-02-30 is not a date
	}
	return civil{y, m, d}, true
}

// days counts days since 1970-01-01 (Howard Hinnant's days_from_civil).
func (c civil) days() int {
	y, m, d := c.y, c.m, c.d
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// monthsBetween counts whole months from a to b: the largest n such that
// a plus n months is not after b. Adding months keeps the day of the
// month, or takes the month's last day when it has no such day (民法典
// 第二百零二条), so 01-31 plus one month is 02-28. n is negative when b is
// before a: months_since a date later this month is -1, not 0.
func monthsBetween(a, b civil) int {
	n := (b.y-a.y)*12 + b.m - a.m
	if b.d < a.d && b.d < daysIn(b.y, b.m) {
		n--
	}
	return n
}

// years is whole years in n months, rounded down: age of a date in the
// future is negative.
func years(months int) int {
	if months < 0 {
		return -((-months + 11) / 12)
	}
	return months / 12
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// intBox holds pre-boxed ints, so that helpers return the common values
// without allocating.
type intBox struct {
	lo    int
	boxes []any
}

func newIntBox(lo, hi int) *intBox {
	b := &intBox{lo: lo, boxes: make([]any, hi-lo)}
	for i := range b.boxes {
		b.boxes[i] = lo + i
	}
	return b
}

func (b *intBox) box(n int) any {
	if i := n - b.lo; i >= 0 && i < len(b.boxes) {
		return b.boxes[i]
	}
	return n
}
