package gen

import "time"

// Education levels, highest first as in the schema's enum.
const (
	doctorate = iota
	master
	bachelor
	college
	secondaryVocational
	highSchool
	juniorOrBelow
)

func levelName(l int) string {
	return [...]string{"doctorate", "master", "bachelor", "college", "secondary_vocational", "high_school", "junior_or_below"}[l]
}

// Why a resident's snapshot is in the stream. Sources publish a snapshot
// when a record changes, so the stream is not a census: besides periodic
// full syncs it carries the people something just happened to, and those
// are the people the bureau's policies are about. Within each trigger the
// draws follow the census-like shares commented below; the trigger mix
// itself is a modelling choice (not sourced), set so that about a third of
// residents qualify for something, as a push service's input would.
const (
	routine           = iota // periodic full sync: anyone in the records
	jobLoss                  // separated in the last six months
	newCertificate           // a skill certificate issued in the last year
	graduation               // a college graduate of the last three years, or a final-year student
	pensionUpdate            // a pensioner's record, certification falling due
	contributionGap          // pension contributions stopped recently
	startup                  // registered a business in the last three years
	hardshipCertified        // certified 就业困难人员
)

// person is a resident drawn before being written: the sections of a
// profile depend on each other (a registered unemployed 4050 woman is a
// likely 就业困难人员), so everything is decided first.
type person struct {
	why       int
	graduate  bool // drawn by drawGraduate
	male      bool
	age       int
	birth     time.Time
	local     bool
	hukouType string
	hukouCode string
	home      district

	level                 int
	regular, fullTime     bool
	grad                  time.Time
	student, graduated    bool
	recentGrad            bool // left a regular college less than 24 months ago
	retireAge             int
	status                string
	hasSep                bool
	sep                   time.Time
	sepReason             string
	registered            bool // unemployment registration
	regDate               time.Time
	scheme, pensionStatus string
	pensionMonths         int
	pensionLast           time.Time // zero: no last paid month
	uiStatus              string
	uiMonths              int
	uiLast                time.Time
	receiving             bool
	pensionStart          time.Time
	lastAuth              time.Time
	veteran               bool
	discharge             time.Time
	disabled              bool
	disabilityLevel       int
	hardship              bool
	hardshipDate          time.Time
	categories            []string
	founder               bool
	founded               time.Time
	certs                 []cert
	benefits              []benefit
}

type cert struct {
	occ   occupation
	level int // 0 junior … 4 senior_technician
	issue time.Time
}

func certLevelName(l int) string {
	return [...]string{"junior", "intermediate", "senior", "technician", "senior_technician"}[l]
}

type benefit struct {
	policy string
	on     time.Time
	amount float64
}

// resident generates resident i.
func (g *generator) resident(i int) (string, []byte) {
	id := g.personID(uint64(i))
	w := g.begin(Resident, SourceResident, id, i)
	w.str("person_id", id)
	p := g.drawPerson()
	g.writePerson(&p, uint64(i))
	return id, g.end()
}

// drawPerson decides a resident's situation. The shares are commented
// where they are set; "domain.md" is shared/research/domain.md.
func (g *generator) drawPerson() person {
	var p person
	p.why = g.pick(26, 10, 16, 18, 14, 6, 6, 4)
	// 51.2% male (7th census, 2020).
	p.male = g.p(0.512)
	// Adults in the city's 人社 records, by age band. The shape follows the
	// 2020 census (about a fifth aged 60 or more) shifted towards the young,
	// as in a city that draws graduates and migrant workers; not sourced
	// beyond that.
	bands := [...][2]int{{16, 17}, {18, 21}, {22, 24}, {25, 29}, {30, 34}, {35, 39}, {40, 44},
		{45, 49}, {50, 54}, {55, 59}, {60, 64}, {65, 69}, {70, 79}, {80, 90}}
	b := [2]int{20, 20} // a graduate's age follows from the graduation date
	switch p.why {
	case routine:
		b = bands[g.pick(2, 6, 7, 10, 11, 10, 9, 9, 9, 8, 7, 6, 5, 1)]
	case graduation:
	case pensionUpdate:
		b = bands[10+g.pick(30, 26, 34, 10)]
	case hardshipCertified:
		b = bands[1+g.pick(0, 3, 6, 8, 10, 18, 20, 18, 17)] // many are "4050"
	default: // working age
		b = bands[1+g.pick(6, 7, 10, 11, 10, 9, 9, 9, 8)]
	}
	p.age = g.between(b[0], b[1])
	p.birth = g.today.AddDate(-p.age, 0, -g.r.IntN(365))
	// Graduates found businesses with the most support (domain.md R7, R8).
	if p.why == graduation || p.why == startup && g.p(0.4) {
		g.drawGraduate(&p)
	}

	// Local hukou: most of the elderly, under half of the young (a migrant
	// city; plausible, not sourced). Many provinces now register a unified
	// 居民户口 (domain.md §2.1, GA 324.1); migrants are more often rural.
	local := 0.45
	switch {
	case p.age >= 60:
		local = 0.88
	case p.age >= 35:
		local = 0.65
	}
	p.local = g.p(local)
	p.home = g.t.districts[pickCum(g.r.Float64(), g.t.districtWeights)]
	if p.local {
		p.hukouType = [...]string{"unified", "urban", "rural"}[g.pick(55, 28, 17)]
		p.hukouCode = p.home.code
	} else {
		p.hukouType = [...]string{"unified", "urban", "rural"}[g.pick(35, 15, 50)]
		p.hukouCode = g.t.elsewhere[g.r.IntN(len(g.t.elsewhere))]
	}

	g.drawEducation(&p)
	g.drawEmployment(&p)
	g.drawCircumstances(&p)
	g.drawInsurance(&p)
	g.drawCertificates(&p)
	g.drawBenefits(&p)
	return p
}

// drawGraduate makes a recent graduate of a regular college: the cohorts
// of this year and the two before (2024-2026 for a city generated in
// 2026), and next year's, still studying. The birth date follows from the
// graduation date.
func (g *generator) drawGraduate(p *person) {
	p.graduate = true
	p.level = g.pick(2, 14, 52, 32)
	p.regular, p.fullTime = true, g.p(0.97)
	year := g.today.Year() - g.pick(15, 30, 30, 25) + 1
	p.grad = time.Date(year, time.June, g.between(20, 30), 0, 0, 0, 0, time.UTC)
	if p.level <= master && g.p(0.08) {
		p.grad = time.Date(year, time.December, g.between(15, 31), 0, 0, 0, 0, time.UTC)
	}
	gradAge := [...]int{29, 25, 22, 21}[p.level] + g.pick(60, 30, 10)
	p.birth = time.Date(year-gradAge, time.Month(1+g.r.IntN(8)), 1+g.r.IntN(28), 0, 0, 0, 0, time.UTC)
	p.age = g.today.Year() - p.birth.Year()
	if g.today.Before(p.birth.AddDate(p.age, 0, 0)) {
		p.age--
	}
}

func (g *generator) drawEducation(p *person) {
	if p.graduate {
		p.graduated = !p.grad.After(g.today)
		p.student = !p.graduated
		p.recentGrad = p.graduated && monthsBetween(p.grad, g.today) < 24
		return
	}
	// Highest level by cohort: a census-like shape (15.5% of the population
	// held a college degree in 2020) scaled up for a large city, where most
	// of the young go to college.
	switch {
	case p.age < 18:
		p.level = highSchool
		if g.p(0.4) {
			p.level = secondaryVocational
		}
	case p.age <= 35:
		p.level = g.pick(1.5, 8, 30, 22, 12, 14, 12.5)
	case p.age <= 55:
		p.level = g.pick(0.5, 4, 18, 16, 12, 20, 29.5)
	default:
		p.level = g.pick(0, 0.5, 6, 6, 8, 20, 59.5)
	}
	// A 20-year-old who will hold a master's degree is a bachelor student
	// now: the level on record is the one being studied for.
	for p.level < bachelor && p.birth.Year()+[...]int{29, 25}[p.level]-g.today.Year() > [...]int{4, 3}[p.level] {
		p.level++
	}
	higher := p.level <= college
	// About one degree in six is from adult or correspondence education,
	// not a 普通高校 (domain.md E2: those do not count as graduates).
	p.regular = higher && g.p(0.83)
	p.fullTime = p.regular && g.p(0.97) || !higher && g.p(0.8)
	gradAge := [...]int{29, 25, 22, 21, 18, 18, 15}[p.level]
	year := p.birth.Year() + gradAge
	if p.birth.Month() >= time.September { // school years start in September
		year++
	}
	switch {
	case higher && !p.regular:
		// Adult education, taken while working.
		year += g.between(2, 15)
		p.grad = time.Date(year, [...]time.Month{time.January, time.July}[g.r.IntN(2)], g.between(5, 25), 0, 0, 0, 0, time.UTC)
		if p.grad.After(g.today) {
			p.grad = g.daysAgo(g.between(30, 3000))
		}
	case p.level <= master && g.p(0.08):
		// Some graduate students finish in winter.
		p.grad = time.Date(year-1, time.December, g.between(15, 31), 0, 0, 0, 0, time.UTC)
	case g.p(0.85):
		p.grad = time.Date(year, time.June, g.between(20, 30), 0, 0, 0, 0, time.UTC)
	default:
		p.grad = time.Date(year, time.July, g.between(1, 10), 0, 0, 0, 0, time.UTC)
	}
	p.graduated = !p.grad.After(g.today)
	p.student = !p.graduated
	p.recentGrad = p.regular && p.graduated && monthsBetween(p.grad, g.today) < 24
}

func (g *generator) drawEmployment(p *person) {
	// Statutory retirement before the 2025 reform, which has added only a
	// few months so far (domain.md R13): men 60, women cadres 55, women
	// workers 50.
	p.retireAge = 60
	if !p.male {
		p.retireAge = 50
		if p.level <= college {
			p.retireAge = 55
		}
	}
	statuses := [...]string{"employed", "flexible", "self_employed", "unemployed_registered", "unemployed_unregistered", "retired"}
	switch {
	case p.student:
		p.status = "student"
	case p.why == jobLoss:
		p.status = statuses[g.pick(0, 0, 0, 60, 40, 0)]
	case p.why == pensionUpdate:
		p.status = "retired"
	case p.why == contributionGap:
		p.status = statuses[g.pick(15, 45, 15, 0, 25, 0)]
	case p.why == startup:
		p.status = statuses[g.pick(15, 10, 60, 15, 0, 0)]
	case p.why == hardshipCertified:
		p.status = statuses[g.pick(25, 35, 0, 40, 0, 0)]
	case p.age >= p.retireAge+2:
		p.status = statuses[g.pick(3, 3, 1, 0, 0, 93)]
	case p.age >= p.retireAge:
		p.status = statuses[g.pick(15, 7, 3, 0, 0, 75)]
	case p.age <= 24 || p.recentGrad:
		// Youth: the surveyed unemployment rate of 16-24 year-olds not in
		// school has run at about 15-19% (NBS monthly figures 2024-2025,
		// not in domain.md), higher in the months after graduation.
		p.status = statuses[g.pick(62, 7, 3, 7, 16, 0)]
	case p.age >= 45:
		p.status = statuses[g.pick(68, 11, 8, 5, 5, 3)]
	default:
		// Urban registered unemployment rate is about 3-5% (plausible).
		p.status = statuses[g.pick(72, 10, 8, 4.5, 4.5, 0)]
	}

	switch p.status {
	case "unemployed_registered", "unemployed_unregistered":
		reg := p.status == "unemployed_registered"
		// A graduate may never have had a job to leave.
		p.hasSep = !(p.recentGrad && g.p(0.5))
		if p.hasSep {
			if p.why == jobLoss {
				p.sep = g.daysAgo(g.between(0, 180))
				p.sepReason = [...]string{"involuntary", "contract_expiry", "voluntary", "other"}[g.pick(45, 30, 20, 5)]
			} else if reg {
				p.sep = g.daysAgo(g.expDays(200, 720))
				p.sepReason = [...]string{"involuntary", "contract_expiry", "voluntary", "other"}[g.pick(45, 25, 25, 5)]
			} else {
				p.sep = g.daysAgo(g.expDays(300, 1400))
				p.sepReason = [...]string{"involuntary", "contract_expiry", "voluntary", "other"}[g.pick(20, 20, 50, 10)]
			}
		}
		if reg {
			p.registered = true
			from := p.sep
			if !p.hasSep {
				from = p.grad
			}
			p.regDate = minDate(from.AddDate(0, 0, g.between(3, 40)), g.today)
		}
	case "employed", "flexible", "self_employed":
		// Job changers keep their last separation on record.
		if g.p(0.3) {
			p.hasSep = true
			p.sep = g.daysAgo(g.between(120, 2500))
			p.sepReason = [...]string{"involuntary", "contract_expiry", "voluntary", "other"}[g.pick(15, 20, 60, 5)]
		}
	}
}

func minDate(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxDate(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// drawCircumstances draws veterans, disability, hardship and founders.
func (g *generator) drawCircumstances(p *person) {
	// Veterans: about 57 million in China, mostly men: some 5% of adult men
	// (plausible from 退役军人事务部 totals).
	if p.age >= 20 && g.p(map2(p.male, 0.05, 0.004)) {
		p.veteran = true
		p.discharge = p.birth.AddDate(18+g.between(2, 5)+g.between(0, 1)*g.between(0, 12), g.r.IntN(12), 0)
		if p.discharge.After(g.today) {
			p.discharge = g.daysAgo(g.between(30, 900))
		}
	}
	// Disability certificate holders: 37.8 million (2.7% of the population,
	// 中国残联), more among the elderly.
	if g.p(map2(p.age >= 60, 0.045, 0.02)) {
		p.disabled = true
		p.disabilityLevel = g.pick(10, 20, 35, 35) + 1
	}

	// 就业困难人员 (domain.md R6): certified mostly among the registered
	// unemployed, the "4050" (women 40+, men 50+), the disabled and the
	// long-term unemployed. The shares are plausible, not sourced.
	is4050 := (p.male && p.age >= 50 || !p.male && p.age >= 40) && p.age < p.retireAge
	long := p.registered && monthsBetween(p.regDate, g.today) >= 12
	q := 0.0
	switch p.status {
	case "unemployed_registered":
		q = 0.18 + b2f(is4050)*0.25 + b2f(p.disabled)*0.2 + b2f(long)*0.2
	case "flexible":
		q = 0.06 + b2f(is4050)*0.15 + b2f(p.disabled)*0.2
	case "unemployed_unregistered":
		q = 0.03
	case "employed", "self_employed":
		q = 0.01 + b2f(p.disabled)*0.05
	}
	if p.why == hardshipCertified || g.p(q) {
		p.hardship = true
		p.hardshipDate = maxDate(g.daysAgo(g.expDays(500, 2500)), p.birth.AddDate(18, 0, 0))
		if p.why == hardshipCertified {
			p.hardshipDate = g.daysAgo(g.between(0, 365))
		}
		if p.registered {
			p.hardshipDate = maxDate(p.hardshipDate, p.regDate)
		}
		if is4050 {
			p.categories = append(p.categories, "age_4050")
		}
		if long {
			p.categories = append(p.categories, "long_term_unemployed")
		}
		if p.disabled {
			p.categories = append(p.categories, "disabled")
		}
		if p.veteran && p.registered && monthsBetween(p.regDate, g.today) >= 6 {
			p.categories = append(p.categories, "veteran_unemployed_6m")
		}
		if p.hukouType == "rural" && g.p(0.15) {
			p.categories = append(p.categories, "land_lost")
		}
		if g.p(0.12) || len(p.categories) == 0 {
			p.categories = append(p.categories, [...]string{"dibao", "zero_employment_family", "single_parent", "poverty_monitoring"}[g.pick(45, 25, 15, 15)])
		}
	} else {
		// Families on 低保 or under poverty monitoring without a certified
		// member; students from such families are what 一次性求职创业补贴
		// is for (domain.md R5).
		if g.p(map2(p.student, 0.07, 0.02)) {
			p.categories = append(p.categories, [...]string{"dibao", "poverty_monitoring", "zero_employment_family"}[g.pick(50, 35, 15)])
		}
		if p.disabled && g.p(0.5) {
			p.categories = append(p.categories, "disabled")
		}
	}

	// Founders: most of the self-employed, a few others (domain.md R7/R8
	// groups: graduates, veterans, the registered unemployed).
	q = 0.01
	switch {
	case p.status == "self_employed":
		q = 0.55
	case p.status == "student" || p.status == "retired":
		q = 0.002
	case p.recentGrad || p.veteran || p.registered:
		q = 0.04
	}
	switch {
	case p.why == startup:
		p.founder = true
		p.founded = g.daysAgo(g.between(30, 1100))
	case g.p(q):
		p.founder = true
		mean := 400.0
		if p.status == "self_employed" {
			mean = 1000
		}
		p.founded = maxDate(g.daysAgo(g.expDays(mean, 7000)), p.birth.AddDate(18, 0, 0))
	}
}

// map2 is a if c, else b.
func map2(c bool, a, b float64) float64 {
	if c {
		return a
	}
	return b
}

func b2f(c bool) float64 { return map2(c, 1, 0) }

func (g *generator) drawInsurance(p *person) {
	// Months of working life so far: from leaving school (a degree) or
	// from 17-20, to now or to the separation or retirement.
	start := p.birth.AddDate(g.between(17, 20), 0, 0)
	if p.level <= college && p.regular {
		start = p.grad
	}
	end := g.today
	switch {
	case p.status == "retired":
		end = minDate(p.birth.AddDate(p.retireAge, 0, 0), g.today)
	case p.hasSep && (p.status == "unemployed_registered" || p.status == "unemployed_unregistered"):
		end = p.sep
	}
	worked := max(0, monthsBetween(start, end))

	schemes := [...]string{"employee", "urban_rural", "none"}
	switch p.status {
	case "student":
		p.scheme = schemes[g.pick(0, 5, 95)]
	case "retired":
		if p.hukouType == "rural" {
			p.scheme = schemes[g.pick(25, 75, 0)]
		} else {
			p.scheme = schemes[g.pick(85, 15, 0)]
		}
	case "employed":
		p.scheme = schemes[g.pick(97, 2, 1)]
	case "flexible":
		p.scheme = schemes[g.pick(75, 20, 5)]
	case "self_employed":
		p.scheme = schemes[g.pick(65, 30, 5)]
	default: // unemployed
		if p.hasSep {
			p.scheme = schemes[g.pick(80, 12, 8)]
		} else {
			p.scheme = schemes[g.pick(10, 20, 70)]
		}
	}

	coverage := 0.4 + 0.5*g.r.Float64() // share of months actually paid
	if p.status == "employed" || p.status == "retired" {
		coverage = 0.75 + 0.25*g.r.Float64()
	}
	p.pensionMonths = int(float64(worked) * coverage)
	statuses := [...]string{"active", "suspended", "none"}
	switch {
	case p.scheme == "none":
		p.pensionStatus, p.pensionMonths = "none", 0
	case p.status == "retired":
		p.pensionStatus = "none"
		if p.scheme == "employee" {
			p.pensionMonths = max(p.pensionMonths, 180+g.r.IntN(60)) // 15 years are needed to draw it
		} else {
			p.pensionMonths = g.between(96, 300)
		}
		p.pensionLast = monthOf(end.AddDate(0, -1, 0))
	case p.status == "employed":
		p.pensionStatus = statuses[g.pick(96, 4, 0)]
	case p.status == "flexible":
		p.pensionStatus = statuses[g.pick(65, 35, 0)]
	case p.status == "self_employed":
		p.pensionStatus = statuses[g.pick(75, 25, 0)]
	case p.status == "student":
		p.pensionStatus = "active"
	default: // unemployed: some keep paying as flexible workers
		p.pensionStatus = statuses[g.pick(10, 85, 5)]
	}
	if p.why == contributionGap && p.status != "student" {
		p.scheme = schemes[g.pick(90, 5, 5)]
		if p.scheme != "none" {
			p.pensionStatus = "suspended"
			p.pensionMonths = max(p.pensionMonths, g.between(6, 240))
		}
	}
	switch p.pensionStatus {
	case "active":
		// Contributions are recorded for last month, or already this one.
		p.pensionLast = g.monthsAgo(g.pick(30, 70))
		p.pensionMonths = max(p.pensionMonths, 1)
	case "suspended":
		if p.why == contributionGap {
			p.pensionLast = g.monthsAgo(g.between(1, 8))
		} else if p.hasSep && p.sep.After(g.today.AddDate(-3, 0, 0)) {
			p.pensionLast = monthOf(p.sep)
		} else {
			// Gaps: a short one (2-6 months, what 断缴 reminders are for,
			// domain.md R14) half of the time.
			gap := [...][2]int{{1, 1}, {2, 6}, {7, 30}}[g.pick(15, 50, 35)]
			p.pensionLast = g.monthsAgo(g.between(gap[0], gap[1]))
		}
		p.pensionMonths = max(p.pensionMonths, 1)
	}

	// Unemployment insurance: only employees pay it; flexible workers and
	// the self-employed cannot, but keep the months of earlier jobs.
	switch {
	case p.status == "student":
		p.uiStatus = "none"
	case p.status == "employed" && p.scheme == "employee":
		p.uiStatus = statuses[g.pick(88, 4, 8)]
		p.uiMonths = int(float64(p.pensionMonths) * (0.7 + 0.3*g.r.Float64()))
		if p.uiStatus != "none" {
			p.uiLast = p.pensionLast
			p.uiMonths = max(p.uiMonths, 1)
		}
	case p.status == "unemployed_registered" || p.status == "unemployed_unregistered":
		if p.hasSep {
			p.uiStatus = "suspended"
			p.uiMonths = int(float64(max(worked, p.pensionMonths)) * (0.5 + 0.5*g.r.Float64()))
			p.uiLast = monthOf(p.sep)
		} else {
			p.uiStatus = "none"
		}
	default:
		p.uiStatus = "none"
		if p.pensionMonths > 0 && g.p(0.6) {
			p.uiMonths = g.r.IntN(p.pensionMonths + 1)
		}
	}

	// Pension in payment: an employee pension from retirement, a resident
	// pension from 60 once applied for (domain.md R12); certification at
	// least every 12 months (R11).
	switch {
	case p.scheme == "employee" && p.status == "retired":
		p.receiving = g.p(0.98)
		p.pensionStart = end
	case p.scheme == "urban_rural":
		p.pensionStart = p.birth.AddDate(60, g.between(0, 3), 0)
		p.receiving = !p.pensionStart.After(g.today)
	}
	if p.receiving {
		since := g.today.Sub(p.pensionStart).Hours() / 24
		ago := g.between(0, 420)
		if p.why == pensionUpdate && g.p(0.5) {
			ago = g.between(320, 420) // the snapshot is the certification falling due
		}
		if g.p(0.06) {
			ago = g.between(420, 700) // overdue: payment suspended until certified
		}
		p.lastAuth = g.daysAgo(min(ago, int(since)))
	}
}

// monthOf is the first day of d's month.
func monthOf(d time.Time) time.Time {
	return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func (g *generator) drawCertificates(p *person) {
	// About a quarter of working-age people hold a vocational skill
	// certificate (plausible: some 200 million skilled workers among 740
	// million employed); the registered unemployed are often sent to
	// training. Three in ten certificates are less than a year old, the
	// window of 技能提升补贴 (domain.md R2).
	q := 0.0
	switch p.status {
	case "employed", "flexible", "self_employed", "unemployed_unregistered":
		q = 0.24
	case "unemployed_registered":
		q = 0.32
	case "student":
		q = 0.06
	case "retired":
		q = 0.03
	}
	if p.age >= 60 && p.status != "retired" {
		q = 0.05
	}
	if p.why == newCertificate {
		q = 1
	}
	if !g.p(q) {
		return
	}
	n := g.pick(75, 20, 5) + 1
	for k := range n {
		c := cert{occ: g.t.occupations[g.r.IntN(len(g.t.occupations))], level: g.pick(30, 35, 25, 7, 3)}
		if k == 0 && p.why == newCertificate || g.p(0.3) {
			c.issue = g.daysAgo(g.between(0, 364))
		} else {
			c.issue = g.daysAgo(g.between(365, 3650))
		}
		c.issue = maxDate(c.issue, p.birth.AddDate(16, 0, 0))
		p.certs = append(p.certs, c)
	}
}

// drawBenefits records benefits some residents have already received, so
// that the rules' "not yet received" conditions are exercised.
func (g *generator) drawBenefits(p *person) {
	add := func(policy string, on time.Time, amount float64) {
		if !on.After(g.today) {
			p.benefits = append(p.benefits, benefit{policy, on, amount})
		}
	}
	if p.registered && p.hasSep && (p.sepReason == "involuntary" || p.sepReason == "contract_expiry") && p.uiMonths >= 12 && g.p(0.55) {
		months := [...]float64{12, 18, 24}[min(p.uiMonths/60, 2)]
		add("unemployment-insurance-benefit", p.regDate.AddDate(0, 0, g.between(5, 30)), months*2150)
	}
	for _, c := range p.certs {
		q := 0.25
		if c.issue.After(g.today.AddDate(-1, 0, 0)) {
			q = 0.1
		}
		if p.uiMonths >= 12 && g.p(q) {
			add("skill-upgrade-subsidy", c.issue.AddDate(0, 0, g.between(20, 200)), [...]float64{1000, 1500, 2000, 2000, 2000}[c.level])
		}
	}
	if p.status == "unemployed_registered" && len(p.certs) > 0 && g.p(0.15) {
		add("vocational-training-subsidy", p.certs[0].issue.AddDate(0, 0, g.between(20, 90)), 1200)
	}
	if p.level <= bachelor && p.fullTime && p.graduated && p.status == "employed" &&
		monthsBetween(p.grad, g.today) < 60 && g.p(0.3) {
		add("talent-rent-subsidy", p.grad.AddDate(0, 0, g.between(60, 400)), [...]float64{3000, 2000, 1500}[p.level]*12)
	}
	if p.status == "flexible" && (p.hardship || p.recentGrad) && g.p(0.25) {
		add("flexible-employment-insurance-subsidy", g.daysAgo(g.between(30, 700)), 600*12)
	}
	if p.founder {
		if g.p(0.15) {
			add("one-time-startup-subsidy", p.founded.AddDate(0, 6, g.between(10, 90)), map2(p.hardship, 10000, 5000))
		}
		if g.p(0.1) {
			add("startup-guarantee-loan", p.founded.AddDate(0, 0, g.between(30, 120)), float64(g.between(10, 30))*10000)
		}
	}
	// Applied for through the university in the autumn of the final year.
	if p.student && p.regular && len(p.categories) > 0 && monthsBetween(g.today, p.grad) < 12 && g.p(0.3) {
		add("job-search-startup-subsidy", time.Date(g.today.Year()-1, time.November, g.between(1, 30), 0, 0, 0, 0, time.UTC), 1500)
	}
}

// writePerson writes the profile's fields in the order of CONTRACTS.md §2,
// leaving some unknown: the shares of unknown fields are plausible gaps in
// the data shared between departments, not sourced.
func (g *generator) writePerson(p *person, i uint64) {
	w := &g.w
	if !g.unknown("gender", 0.02) {
		w.str("gender", [...]string{"F", "M"}[b2i(p.male)])
	}
	if !g.unknown("birth_date", 0.015) {
		w.date("birth_date", p.birth)
	}
	if !g.unknown("hukou", 0.04) {
		w.open("hukou")
		if !g.unknown("type", 0.05) {
			w.str("type", p.hukouType)
		}
		if !g.unknown("region_code", 0.03) {
			w.str("region_code", p.hukouCode)
		}
		if !g.unknown("is_local", 0.03) {
			w.bool("is_local", p.local)
		}
		w.close()
	}
	if !g.unknown("residence_region_code", 0.05) {
		w.str("residence_region_code", p.home.code)
	}

	if !g.unknown("education", 0.05) {
		w.open("education")
		if !g.unknown("level", 0.02) {
			w.str("level", levelName(p.level))
		}
		if !g.unknown("is_full_time", 0.08) {
			w.bool("is_full_time", p.fullTime)
		}
		if !g.unknown("is_regular_college", 0.06) {
			w.bool("is_regular_college", p.regular)
		}
		// Below college the graduation date is seldom on record.
		if !g.unknown("graduation_date", map2(p.level <= college || p.student, 0.05, 0.55)) {
			w.date("graduation_date", p.grad)
		}
		w.close()
	}

	if !g.unknown("employment", 0.03) {
		w.open("employment")
		if !g.unknown("status", 0.05) {
			w.str("status", p.status)
		}
		if p.status == "employed" && !g.unknown("employer_uscc", 0.2) {
			if g.o.Enterprises > 0 {
				w.str("employer_uscc", g.enterpriseUSCC(g.r.IntN(g.o.Enterprises)))
			} else {
				w.str("employer_uscc", uscc("91", p.home.code, g.r.Uint64N(usccSpace)))
			}
		}
		if p.hasSep && !g.unknown("last_separation", 0.05) {
			w.open("last_separation")
			if !g.unknown("date", 0.04) {
				w.date("date", p.sep)
			}
			if !g.unknown("reason", 0.08) {
				w.str("reason", p.sepReason)
			}
			w.close()
		}
		if (p.registered || p.status != "student" && p.status != "retired") && !g.unknown("unemployment_registration", 0.25) {
			w.open("unemployment_registration")
			if !g.unknown("registered", 0.04) {
				w.bool("registered", p.registered)
			}
			if p.registered && !g.unknown("date", 0.05) {
				w.date("date", p.regDate)
			}
			w.close()
		}
		w.close()
	}

	if !g.unknown("hardship", 0.3) {
		w.open("hardship")
		if !g.unknown("certified", 0.05) {
			w.bool("certified", p.hardship)
		}
		if !g.unknown("categories", 0.15) {
			w.openArray("categories")
			for _, c := range p.categories {
				w.strElem(c)
			}
			w.closeArray()
		}
		if p.hardship && !g.unknown("certified_date", 0.1) {
			w.date("certified_date", p.hardshipDate)
		}
		w.close()
	}
	if !g.unknown("veteran", 0.25) {
		w.open("veteran")
		if !g.unknown("is_veteran", 0.02) {
			w.bool("is_veteran", p.veteran)
		}
		if p.veteran && !g.unknown("discharge_date", 0.1) {
			w.date("discharge_date", p.discharge)
		}
		w.close()
	}
	if !g.unknown("disability", 0.35) {
		w.open("disability")
		if !g.unknown("has_certificate", 0.02) {
			w.bool("has_certificate", p.disabled)
		}
		if p.disabled && !g.unknown("level", 0.1) {
			w.int("level", p.disabilityLevel)
		}
		w.close()
	}

	g.writeInsurance(p)

	// The pension system knows who draws a pension: this is rarely unknown.
	if !g.unknown("pension_receiving", 0.06) {
		w.open("pension_receiving")
		if !g.unknown("receiving", 0.02) {
			w.bool("receiving", p.receiving)
		}
		if p.receiving {
			if !g.unknown("start_date", 0.05) {
				w.date("start_date", p.pensionStart)
			}
			if !g.unknown("last_auth_date", 0.08) {
				w.date("last_auth_date", p.lastAuth)
			}
		}
		w.close()
	}

	// The certificates 人社 issued are on record: none is usually an empty
	// list, and sometimes the list was not shared.
	if !g.unknown("skill_certificates", map2(len(p.certs) > 0, 0.02, 0.15)) {
		w.openArray("skill_certificates")
		for _, c := range p.certs {
			w.openElem()
			if !g.unknown("occupation_code", 0.03) {
				w.str("occupation_code", c.occ.code)
			}
			if !g.unknown("occupation_name", 0.03) {
				w.str("occupation_name", c.occ.name)
			}
			if !g.unknown("level", 0.03) {
				w.str("level", certLevelName(c.level))
			}
			if !g.unknown("issue_date", 0.03) {
				w.date("issue_date", c.issue)
			}
			w.close()
		}
		w.closeArray()
	}

	if !g.unknown("entrepreneur", map2(p.founder, 0.05, 0.4)) {
		w.open("entrepreneur")
		if !g.unknown("is_founder", 0.03) {
			w.bool("is_founder", p.founder)
		}
		if p.founder {
			if !g.unknown("business_uscc", 0.1) {
				// Mostly 个体工商户 ("92"). The body permutes an index past
				// the enterprises', so it is never one of the sample's codes.
				prefix := [...]string{"91", "92"}[g.pick(40, 60)]
				w.str("business_uscc", uscc(prefix, p.home.code, permute(MaxSubjects+i, usccSpace, g.keyFor(tweakUSCC))))
			}
			if !g.unknown("registered_date", 0.05) {
				w.date("registered_date", p.founded)
			}
		}
		w.close()
	}

	// The rules read an absent list as "none received".
	if len(p.benefits) > 0 || !g.unknown("benefits_received", 0.3) {
		w.openArray("benefits_received")
		for _, b := range p.benefits {
			w.openElem()
			if !g.unknown("policy_id", 0.02) {
				w.str("policy_id", b.policy)
			}
			if !g.unknown("granted_on", 0.03) {
				w.date("granted_on", b.on)
			}
			if !g.unknown("amount", 0.1) {
				w.num("amount", b.amount)
			}
			w.close()
		}
		w.closeArray()
	}

	g.writeReach(p, i)
}

func b2i(c bool) int {
	if c {
		return 1
	}
	return 0
}

func (g *generator) writeInsurance(p *person) {
	w := &g.w
	if g.unknown("insurance", 0.04) {
		return
	}
	w.open("insurance")
	if (p.scheme != "none" || g.p(0.5)) && !g.unknown("pension", 0.04) {
		w.open("pension")
		if !g.unknown("scheme", 0.03) {
			w.str("scheme", p.scheme)
		}
		if !g.unknown("status", 0.04) {
			w.str("status", p.pensionStatus)
		}
		if !g.unknown("cumulative_months", 0.05) {
			w.int("cumulative_months", p.pensionMonths)
		}
		if !p.pensionLast.IsZero() && !g.unknown("last_paid_month", 0.05) {
			w.month("last_paid_month", p.pensionLast)
		}
		w.close()
	}
	if (p.uiStatus != "none" || p.uiMonths > 0 || g.p(0.6)) && !g.unknown("unemployment", 0.08) {
		w.open("unemployment")
		if !g.unknown("status", 0.04) {
			w.str("status", p.uiStatus)
		}
		if !g.unknown("cumulative_months", 0.06) {
			w.int("cumulative_months", p.uiMonths)
		}
		if !p.uiLast.IsZero() && !g.unknown("last_paid_month", 0.05) {
			w.month("last_paid_month", p.uiLast)
		}
		w.close()
	}
	if !g.unknown("work_injury", 0.4) {
		w.open("work_injury")
		st := "none"
		if p.status == "employed" && g.p(0.92) {
			st = "active"
		}
		w.str("status", st)
		w.close()
	}
	if !g.unknown("medical", 0.15) {
		w.open("medical")
		// Nearly everyone has employee or resident medical insurance.
		w.str("status", [...]string{"active", "suspended", "none"}[g.pick(94, 3, 3)])
		w.close()
	}
	w.close()
}

// writeReach writes contact, channels and consent.
func (g *generator) writeReach(p *person, i uint64) {
	w := &g.w
	if !g.unknown("contact", 0.03) {
		w.open("contact")
		if !g.unknown("mobile", 0.05) {
			w.str("mobile", g.mobile(3*i))
		}
		w.close()
	}
	if !g.unknown("channels", 0.05) {
		w.open("channels")
		// Most people under 60 have bound the bureau's official account
		// (domain.md §3.4, §4: WeChat first, SMS for the rest); fewer of
		// the elderly. Some have unfollowed it since.
		if g.p(map2(p.age < 60, 0.8, 0.45)) {
			w.open("wechat")
			w.str("openid", g.openID(1, i))
			if !g.unknown("followed", 0.05) {
				w.bool("followed", g.p(0.9))
			}
			w.close()
		}
		if !g.unknown("sms", 0.03) {
			w.open("sms")
			w.bool("enabled", g.p(0.95))
			w.close()
		}
		w.close()
	}
	if !g.unknown("consent", 0.04) {
		w.open("consent")
		// PIPL art. 24: a few switch personalised pushes off, a few refuse a
		// channel (SMS "回T退订" replies, domain.md §3.2).
		if !g.unknown("personalized_push", 0.03) {
			w.bool("personalized_push", g.p(0.96))
		}
		out := g.pick(88, 5, 3, 1, 3)
		if out < 4 {
			w.openArray("opt_out_channels")
			for _, c := range [...][]string{nil, {"sms"}, {"wechat"}, {"wechat", "sms"}}[out] {
				w.strElem(c)
			}
			w.closeArray()
		}
		if out >= 1 && out <= 3 {
			w.key("opt_out_at")
			w.b = append(w.b, '"')
			t := time.Date(g.today.Year(), g.today.Month(), g.today.Day()-g.between(1, 700), g.between(8, 21), g.r.IntN(60), g.r.IntN(60), 0, g.at.Location())
			w.b = t.AppendFormat(w.b, time.RFC3339)
			w.b = append(w.b, '"')
		}
		w.close()
	}
}
