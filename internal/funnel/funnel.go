// Package funnel turns the store's per-day case counts into what officers
// read (CONTRACTS §8): per policy the chain matched → sent → delivered →
// opened → claimed → approved → granted with the conversion between
// steps, the grants that had no claim (免申即享) among granted, the
// amount granted in 元, the median hours from match to grant,
// disputes and stops per 1,000 notices, each day of a trend, and which
// source (a profile event, or a sweep) produced the matches. It flags a
// policy whose dispute or stop rate is far above the others', since its
// rule or its data source is then probably wrong.
package funnel

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/policypush/policypush/internal/store"
)

// Steps counts cases per step; the JSON names are CONTRACTS §8's, and
// granted_unclaimed, the grants among granted of cases never claimed
// (免申即享, or 金保 paying without a claim).
type Steps struct {
	Matched   int `json:"matched"`
	Sent      int `json:"sent"`
	Delivered int `json:"delivered"`
	Opened    int `json:"opened"`
	Claimed   int `json:"claimed"`
	Approved  int `json:"approved"`
	Granted   int `json:"granted"`

	GrantedUnclaimed int `json:"granted_unclaimed"`
}

// Get returns the count of step.
func (s Steps) Get(step string) int {
	switch step {
	case store.StepMatched:
		return s.Matched
	case store.StepSent:
		return s.Sent
	case store.StepDelivered:
		return s.Delivered
	case store.StepOpened:
		return s.Opened
	case store.StepClaimed:
		return s.Claimed
	case store.StepApproved:
		return s.Approved
	case store.StepGranted:
		return s.Granted
	case store.StepGrantedUnclaimed:
		return s.GrantedUnclaimed
	}
	return 0
}

func (s *Steps) add(step string, n int) {
	switch step {
	case store.StepMatched:
		s.Matched += n
	case store.StepSent:
		s.Sent += n
	case store.StepDelivered:
		s.Delivered += n
	case store.StepOpened:
		s.Opened += n
	case store.StepClaimed:
		s.Claimed += n
	case store.StepApproved:
		s.Approved += n
	case store.StepGranted:
		s.Granted += n
	case store.StepGrantedUnclaimed:
		s.GrantedUnclaimed += n
	}
}

// counted are the steps a Steps counts: the chain's and granted_unclaimed.
func counted() []string { return append(slices.Clone(store.FunnelSteps), store.StepGrantedUnclaimed) }

// Day is one day of a policy's trend.
type Day struct {
	Day           string  `json:"day"` // YYYY-MM-DD, Asia/Shanghai
	Steps         Steps   `json:"steps"`
	GrantedBase   int     `json:"granted_base"` // what granted is measured against (Report.GrantedBase)
	GrantedAmount float64 `json:"granted_amount"`
	Disputes      int     `json:"disputes"`
	Stops         int     `json:"stops"`
}

// Report is one policy's funnel (or every policy's, PolicyID "").
type Report struct {
	PolicyID    string             `json:"policy_id,omitempty"`
	Steps       Steps              `json:"steps"`
	Conversions map[string]float64 `json:"conversions"` // "sent" is sent/matched, and so on, but "granted" is granted/granted_base; absent when the step before (the base) is 0
	// Automatic is a 免申即享 policy (apply.mode automatic), paid without
	// a claim.
	Automatic bool `json:"automatic,omitempty"`
	// GrantedBase is what granted is measured against: for a 免申即享
	// policy the cases matched (of those found, how many got the money),
	// for the others the approved plus the grants without a claim (of
	// those cleared for payment, how many got it); a total sums its
	// policies'.
	GrantedBase             int              `json:"granted_base"`
	GrantedAmount           float64          `json:"granted_amount"`
	MedianMatchToGrantHours *float64         `json:"median_match_to_grant_hours"`
	Disputes                int              `json:"disputes"`
	Stops                   int              `json:"stops"`
	DisputesPer1000         float64          `json:"disputes_per_1000_notices"`
	StopsPer1000            float64          `json:"stops_per_1000_notices"`
	Sources                 map[string]Steps `json:"sources"` // event, sweep
	Days                    []Day            `json:"days"`
	Flagged                 bool             `json:"flagged"`
	FlagReason              string           `json:"flag_reason,omitempty"`
}

// Build makes one report per policy from counts, days oldest first, and
// flags outliers; medians are per policy, and automatic says whether a
// policy is 免申即享 (nil: none is). The reports are sorted by policy id.
func Build(counts []store.FunnelCount, medians map[string]float64, automatic func(policyID string) bool) []*Report {
	by := map[string]*Report{}
	days := map[string]map[string]*Day{}
	for _, c := range counts {
		r := by[c.PolicyID]
		if r == nil {
			r = &Report{PolicyID: c.PolicyID, Sources: map[string]Steps{}}
			by[c.PolicyID] = r
			days[c.PolicyID] = map[string]*Day{}
		}
		key := c.Day.Format(time.DateOnly)
		d := days[c.PolicyID][key]
		if d == nil {
			d = &Day{Day: key}
			days[c.PolicyID][key] = d
		}
		switch c.Step {
		case store.StepDisputed:
			r.Disputes += c.Cases
			d.Disputes += c.Cases
		case store.StepStopped:
			r.Stops += c.Cases
			d.Stops += c.Cases
		default:
			r.Steps.add(c.Step, c.Cases)
			d.Steps.add(c.Step, c.Cases)
			src := r.Sources[c.Source]
			src.add(c.Step, c.Cases)
			r.Sources[c.Source] = src
			if c.Step == store.StepGranted {
				r.GrantedAmount += c.Amount
				d.GrantedAmount += c.Amount
			}
		}
	}
	out := make([]*Report, 0, len(by))
	for id, r := range by {
		r.Automatic = automatic != nil && automatic(id)
		r.GrantedBase = grantedBase(r.Automatic, r.Steps)
		for _, d := range days[id] {
			d.GrantedBase = grantedBase(r.Automatic, d.Steps)
			r.Days = append(r.Days, *d)
		}
		slices.SortFunc(r.Days, func(a, b Day) int { return compare(a.Day, b.Day) })
		if m, ok := medians[id]; ok {
			r.MedianMatchToGrantHours = &m
		}
		r.finish()
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PolicyID < out[j].PolicyID })
	flag(out)
	return out
}

// grantedBase is what the grants of steps are measured against: a
// 免申即享 policy's grants need no claim, so against the cases found;
// the others' against the approved and the grants that skipped the
// claim (金保 paying without one), so that neither kind reads above 100%.
func grantedBase(automatic bool, s Steps) int {
	if automatic {
		return s.Matched
	}
	return s.Approved + s.GrantedUnclaimed
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Total sums reports into one (PolicyID ""), the median taken from
// medianAll (nil: none).
func Total(reports []*Report, medianAll *float64) *Report {
	t := &Report{Sources: map[string]Steps{}}
	days := map[string]*Day{}
	for _, r := range reports {
		t.GrantedBase += r.GrantedBase
		for _, step := range counted() {
			t.Steps.add(step, r.Steps.Get(step))
			for src, s := range r.Sources {
				x := t.Sources[src]
				x.add(step, s.Get(step))
				t.Sources[src] = x
			}
		}
		t.GrantedAmount += r.GrantedAmount
		t.Disputes += r.Disputes
		t.Stops += r.Stops
		for _, d := range r.Days {
			x := days[d.Day]
			if x == nil {
				x = &Day{Day: d.Day}
				days[d.Day] = x
			}
			for _, step := range counted() {
				x.Steps.add(step, d.Steps.Get(step))
			}
			x.GrantedBase += d.GrantedBase
			x.GrantedAmount += d.GrantedAmount
			x.Disputes += d.Disputes
			x.Stops += d.Stops
		}
	}
	for _, d := range days {
		t.Days = append(t.Days, *d)
	}
	slices.SortFunc(t.Days, func(a, b Day) int { return compare(a.Day, b.Day) })
	t.MedianMatchToGrantHours = medianAll
	t.finish()
	return t
}

func (r *Report) finish() {
	r.Conversions = map[string]float64{}
	for i := 1; i < len(store.FunnelSteps); i++ {
		prev, cur := r.Steps.Get(store.FunnelSteps[i-1]), r.Steps.Get(store.FunnelSteps[i])
		if store.FunnelSteps[i] == store.StepGranted {
			prev = r.GrantedBase
		}
		if prev > 0 {
			r.Conversions[store.FunnelSteps[i]] = round(float64(cur) / float64(prev))
		}
	}
	if r.Steps.Sent > 0 {
		r.DisputesPer1000 = round(1000 * float64(r.Disputes) / float64(r.Steps.Sent))
		r.StopsPer1000 = round(1000 * float64(r.Stops) / float64(r.Steps.Sent))
	}
	if r.Days == nil {
		r.Days = []Day{}
	}
}

func round(f float64) float64 { return math.Round(f*10000) / 10000 }

// minNotices is how many notices a policy needs before its rates say
// anything, and minAnswers how many disputes (or stops): a handful of
// notices with one dispute is not an outlier.
const (
	minNotices = 20
	minAnswers = 5
)

// flag marks a policy whose disputes or stops per 1,000 notices are far
// above the others': at least 20 per 1,000 (2%), from at least 5 answers,
// and more than three times the pooled rate of the other policies with
// enough notices (their answers over their notices). Each policy is
// compared with the others without it, so that one bad policy among few
// does not hide itself by raising the reference; pooling keeps the many
// small policies, whose rates are mostly 0 by chance, from making an
// ordinary rate look high.
func flag(reports []*Report) {
	for _, r := range reports {
		if r.Steps.Sent < minNotices {
			continue
		}
		for _, m := range []struct {
			name  string
			count func(*Report) int
		}{
			{"信息有误", func(x *Report) int { return x.Disputes }},
			{"不再接收", func(x *Report) int { return x.Stops }},
		} {
			var answers, sent int
			for _, o := range reports {
				if o != r && o.Steps.Sent >= minNotices {
					answers += m.count(o)
					sent += o.Steps.Sent
				}
			}
			if sent == 0 {
				continue
			}
			others := 1000 * float64(answers) / float64(sent)
			n := m.count(r)
			if v := 1000 * float64(n) / float64(r.Steps.Sent); n >= minAnswers && v >= 20 && v > 3*others {
				r.Flagged = true
				r.FlagReason = m.name + "率远高于其他政策：请核对规则或数据来源"
				break
			}
		}
	}
}
