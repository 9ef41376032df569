package gen

import (
	"math"
	"strings"
	"time"
)

// enterprise generates enterprise j, an insured employer.
func (g *generator) enterprise(j int) (string, []byte) {
	id := g.enterpriseUSCC(j)
	w := g.begin(Enterprise, SourceEnterprise, id, j)
	w.str("uscc", id)
	g.writeEnterprise(id, uint64(j))
	return id, g.end()
}

// firm is an enterprise drawn before being written.
type firm struct {
	size       int // 0 large … 3 micro
	staff      int
	industry   industry
	home       district
	registered time.Time
	status     string
}

func sizeName(s int) string { return [...]string{"large", "medium", "small", "micro"}[s] }

func (g *generator) writeEnterprise(id string, j uint64) {
	w := &g.w
	var f firm
	for _, d := range g.t.districts {
		if d.code == id[2:8] {
			f.home = d
		}
	}
	// Size classes of insured employers: small and micro firms are over
	// 95% of all enterprises, fewer among those that insure staff; large
	// ones are rare. Headcounts follow the 2017 划分办法 thresholds for
	// industry (domain.md §2.1: large 1000+, medium 300+, small 20+).
	f.size = g.pick(3, 9, 33, 55)
	bounds := [...][2]float64{{1000, 6000}, {300, 999}, {20, 299}, {1, 19}}[f.size]
	f.staff = int(math.Round(bounds[0] * math.Pow(bounds[1]/bounds[0], g.r.Float64()))) // log-uniform
	f.industry = g.t.industries[pickCum(g.r.Float64(), g.t.industryWeights)]
	years := [...][2]int{{10, 35}, {5, 30}, {2, 25}, {0, 12}}[f.size]
	ageDays := g.between(years[0]*365, years[1]*365)
	if f.size == 3 {
		ageDays = 60 + g.expDays(1800, years[1]*365) // many micro firms are young
	}
	f.registered = g.daysAgo(ageDays)
	// Insured employers are nearly all active; a few are being wound up.
	f.status = [...]string{"active", "revoked", "liquidation", "deregistered"}[g.pick(955, 15, 15, 15)]
	active := f.status == "active"

	if !g.unknown("name", 0.01) {
		w.str("name", g.firmName(&f))
	}
	if !g.unknown("region_code", 0.02) {
		w.str("region_code", f.home.code)
	}
	if !g.unknown("industry_code", 0.04) {
		w.str("industry_code", f.industry.code)
	}
	// Some firms have no size class on file (domain.md E1: 湖北 could not
	// pay 71 firms for a missing 企业划型).
	if !g.unknown("size_class", 0.05) {
		w.str("size_class", sizeName(f.size))
	}
	if !g.unknown("registered_date", 0.02) {
		w.date("registered_date", f.registered)
	}
	if !g.unknown("registration_status", 0.01) {
		w.str("registration_status", f.status)
	}

	// Last year's unemployment-insurance figures (domain.md E1, §2.3).
	lastYear := time.Date(g.today.Year()-1, time.January, 1, 0, 0, 0, 0, time.UTC)
	// A firm founded this year has nothing but zeros for last year; one
	// founded during it started the year with nobody.
	start, end, avg, claimants, premium := 0, 0, 0.0, 0, 0.0
	if f.registered.Before(lastYear.AddDate(1, 0, 0)) {
		if !f.registered.After(lastYear) {
			start = f.staff
		}
		growth := min(max(0.03+0.12*g.r.NormFloat64(), -0.6), 1)
		end = max(0, int(math.Round(float64(f.staff)*(1+growth))))
		avg = math.Round(float64(start+end)/2*(0.95+0.1*g.r.Float64())*10) / 10
		// Layoffs: most firms have no new benefit claimant in a year; the
		// rest lose a few percent of staff, more when shrinking. About one
		// firm in ten exceeds the 5.5% line of 稳岗返还.
		if g.p(0.45) {
			rate := g.r.ExpFloat64() * 0.03
			if growth < -0.1 {
				rate += 0.04
			}
			claimants = int(avg*rate + g.r.Float64()) // stochastic rounding
		}
		// Premium: UI is 1% of wages (0.5% employer, 0.5% employee); the
		// fixture of domain.md §2.3 (64,400 元 for 58.4 insured) is about
		// 1,100 元 per insured a year.
		premium = math.Round(avg*f.industry.wage*(0.85+0.3*g.r.Float64())*12*0.01*100) / 100
	}
	if !g.unknown("ui", 0.04) {
		w.open("ui")
		if !g.unknown("paid_full_months", 0.03) {
			months := max(0, monthsBetween(f.registered, g.today)-g.between(0, 3))
			if g.p(0.07) {
				months = min(months, g.r.IntN(12)) // a recent break in payment
			}
			w.int("paid_full_months", months)
		}
		if !g.unknown("premium_paid_last_year", 0.04) {
			w.num("premium_paid_last_year", premium)
		}
		if !g.unknown("avg_insured_last_year", 0.03) {
			w.num("avg_insured_last_year", avg)
		}
		if !g.unknown("new_claimants_last_year", 0.04) {
			w.int("new_claimants_last_year", claimants)
		}
		if !g.unknown("insured_count_year_start", 0.05) {
			w.int("insured_count_year_start", start)
		}
		if !g.unknown("insured_count_year_end", 0.04) {
			w.int("insured_count_year_end", end)
		}
		w.close()
	}
	now := max(0, int(math.Round(float64(end)*(1+0.05*g.r.NormFloat64()))))
	if end == 0 {
		now = f.staff
	}
	if !g.unknown("insured_count_now", 0.05) {
		w.int("insured_count_now", now)
	}

	// Arrears and credit flags are rare, and commoner among firms being
	// wound up; the zombie list is not shared everywhere.
	if !g.unknown("arrears", 0.12) {
		w.open("arrears")
		has := g.p(0.03 + map2(active, 0, 0.25))
		if !g.unknown("has_arrears", 0.03) {
			w.bool("has_arrears", has)
		}
		months := 0
		if has {
			months = g.between(1, 6)
		}
		if !g.unknown("amount", 0.1) {
			// About 1,600 元 of contributions per insured a month.
			w.num("amount", float64(max(now, 1)*months*g.between(1400, 1800)))
		}
		if !g.unknown("months", 0.1) {
			w.int("months", months)
		}
		w.close()
	}
	if !g.unknown("credit", 0.08) {
		w.open("credit")
		bad := map2(active, 0, 0.3)
		flags := [...]struct {
			name          string
			share, absent float64
		}{
			{"serious_dishonest", 0.006, 0.04},
			{"wage_arrears_blacklist", 0.004, 0.05},
			{"abnormal_operation_list", 0.03, 0.05},
			{"zombie", 0.012, 0.12},
		}
		for _, fl := range flags {
			if !g.unknown(fl.name, fl.absent) {
				w.bool(fl.name, g.p(fl.share+bad))
			}
		}
		w.close()
	}

	g.writeHires(&f, j)

	// 就业见习基地 are certified among larger employers mostly; the list is
	// often not shared with the data platform.
	if !g.unknown("internship_base", 0.3) {
		w.open("internship_base")
		if !g.unknown("certified", 0.03) {
			w.bool("certified", g.p([...]float64{0.3, 0.15, 0.05, 0.01}[f.size]))
		}
		w.close()
	}

	g.writeEnterpriseBenefits(&f, premium)

	if !g.unknown("contacts", 0.03) {
		w.open("contacts")
		// Micro firms often have no HR contact apart from the owner.
		if g.p(map2(f.size == 3, 0.55, 0.9)) && !g.unknown("hr_mobile", 0.03) {
			w.str("hr_mobile", g.mobile(3*j+1))
		}
		if !g.unknown("legal_rep_mobile", 0.08) {
			w.str("legal_rep_mobile", g.mobile(3*j+2))
		}
		w.close()
	}
	if !g.unknown("channels", 0.05) {
		w.open("channels")
		if g.p(0.45) {
			w.open("wechat")
			w.str("openid", g.openID(2, j))
			w.close()
		}
		if !g.unknown("sms", 0.03) {
			w.open("sms")
			w.bool("enabled", g.p(0.97))
			w.close()
		}
		w.close()
	}
	if !g.unknown("consent", 0.05) {
		w.open("consent")
		w.openArray("opt_out_channels")
		switch g.pick(94, 4, 2) {
		case 1:
			w.strElem("sms")
		case 2:
			w.strElem("wechat")
		}
		w.closeArray()
		w.close()
	}
}

// firmName is region + trade name + industry + 有限公司, as registered
// names are built (e.g. 杭州恒达机械有限公司).
func (g *generator) firmName(f *firm) string {
	var b strings.Builder
	switch {
	case f.size <= 1 && g.p(0.5):
		b.WriteString("浙江")
	case f.size >= 2 && g.p(0.3) && f.home.name != "":
		b.WriteString("杭州")
		b.WriteString(f.home.name)
	default:
		b.WriteString("杭州")
	}
	c := g.t.nameChars
	b.WriteString(c[g.r.IntN(len(c))])
	b.WriteString(c[g.r.IntN(len(c))])
	b.WriteString(f.industry.word)
	if f.size == 0 && g.p(0.4) {
		b.WriteString("股份")
	}
	b.WriteString("有限公司")
	return b.String()
}

// writeHires writes the hires of the last 24 months. A large employer's
// full list would run to hundreds; at most 40 are listed, which changes no
// verdict and keeps events small.
func (g *generator) writeHires(f *firm, j uint64) {
	w := &g.w
	// Turnover of about a sixth of the staff a year (plausible).
	n := min(int(float64(f.staff)*0.35*(0.3+1.4*g.r.Float64())+g.r.Float64()), 40)
	if g.unknown("new_hires", 0.08) {
		return
	}
	w.openArray("new_hires")
	for h := range n {
		w.openElem()
		if !g.unknown("person_id", 0.02) {
			w.str("person_id", g.personID(1<<31+j*64+uint64(h)))
		}
		days := g.between(0, 730)
		hired := g.daysAgo(days)
		if !g.unknown("hire_date", 0.02) {
			w.date("hire_date", hired)
		}
		// Key groups among hires (domain.md E2/E3/E5/E7): graduates, young
		// registered unemployed, certified 就业困难人员, veterans. Shares
		// plausible, not sourced.
		if !g.unknown("category", 0.03) {
			w.str("category", [...]string{"graduate", "registered_unemployed_youth", "hard_to_employ", "veteran", "other"}[g.pick(14, 4, 4, 2, 76)])
		}
		if !g.unknown("ui_paid_months", 0.06) {
			paid := max(0, monthsBetween(hired, g.today)-g.pick(60, 40))
			if g.p(0.1) {
				paid = g.r.IntN(paid + 1) // gaps
			}
			w.int("ui_paid_months", paid)
		}
		if !g.unknown("currently_insured", 0.05) {
			// Registration lags hiring by a few weeks: the 30-day window
			// of the 工伤/参保 reminder (domain.md E10).
			w.bool("currently_insured", g.p(map2(days <= 30, 0.75, 0.95)))
		}
		w.close()
	}
	w.closeArray()
}

func (g *generator) writeEnterpriseBenefits(f *firm, premium float64) {
	w := &g.w
	type grant struct {
		policy string
		year   int
		amount float64
	}
	var gs []grant
	y := g.today.Year()
	// 稳岗返还 has been paid 免申即享 for years (domain.md E1: 406万 firms
	// in 2021): many firms received one last year, for the year before,
	// which they must have traded through.
	if premium > 0 && f.registered.Before(time.Date(y-2, time.January, 1, 0, 0, 0, 0, time.UTC)) && g.p(0.45) {
		ratio := map2(f.size == 0, 0.5, 0.9)
		gs = append(gs, grant{"job-retention-refund", y - 1, math.Round(premium*ratio*100) / 100})
	}
	if year := y - g.r.IntN(2); year >= f.registered.Year() && g.p(0.12) {
		gs = append(gs, grant{"job-expansion-subsidy", year, float64(g.between(1, 3)) * 1500})
	}
	if len(gs) == 0 && g.unknown("benefits_received", 0.2) {
		return
	}
	w.openArray("benefits_received")
	for _, gr := range gs {
		w.openElem()
		if !g.unknown("policy_id", 0.02) {
			w.str("policy_id", gr.policy)
		}
		if !g.unknown("year", 0.03) {
			w.int("year", gr.year)
		}
		if !g.unknown("amount", 0.1) {
			w.num("amount", gr.amount)
		}
		w.close()
	}
	w.closeArray()
}
