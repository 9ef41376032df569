package consult

import (
	"context"
	"strconv"
	"time"

	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/sweep"
)

// SmallCount is the count below which a reach is shown as "<10", on the
// page and in JSON alike: a draft is public, and a count of 1 or 2 of a
// narrow group could point at a person.
const SmallCount = 10

// Count is a number of residents or firms. It is written to JSON as a
// number, or as the string "<10" when under SmallCount.
type Count int

// MarshalJSON implements json.Marshaler.
func (c Count) MarshalJSON() ([]byte, error) {
	if c < SmallCount {
		return []byte(`"<` + strconv.Itoa(SmallCount) + `"`), nil // unescaped: json.Marshal would write \u003c
	}
	return strconv.AppendInt(nil, int64(c), 10), nil
}

// String is the count as the page shows it.
func (c Count) String() string {
	if c < SmallCount {
		return "<" + strconv.Itoa(SmallCount)
	}
	return strconv.Itoa(int(c))
}

// Reach is whom a draft would reach: Total is every stored resident or
// firm it would notify (eligible, plus unknown when its rule says
// notify.on_unknown), WeChat and SMS those whose notice would go by that
// channel; the rest have no channel or have not consented.
type Reach struct {
	Total  Count `json:"total"`
	WeChat Count `json:"wechat"`
	SMS    Count `json:"sms"`
}

// Estimate is a draft's reach, as evaluated on At (the later of the day it
// was made and the draft's valid_from: its params are dated from then)
// over Profiles stored profiles of its kind, made at Made.
type Estimate struct {
	Reach    Reach
	At       time.Time
	Made     time.Time
	Profiles int
}

func estimateKey(p *rules.Policy) string { return p.ID + "@" + strconv.Itoa(p.Version) }

// estimate returns p's cached estimate.
func (s *Service) estimate(p *rules.Policy) (Estimate, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.est[estimateKey(p)]
	return e, ok
}

// Wake asks Run to estimate again now, as after a rule reload.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run makes the estimates of the drafts out for comment at once, then
// every Refresh and on Wake, until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Refresh)
	defer t.Stop()
	for {
		s.Refresh(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
	}
}

// Refresh estimates the reach of every draft open for comment, one at a
// time, each within the budget. A failed estimate is logged and the last
// one kept.
func (s *Service) Refresh(ctx context.Context) {
	set := s.rules.Load()
	if set == nil {
		return
	}
	now := s.cfg.Now()
	for _, d := range s.drafts(now) {
		if !d.Open {
			continue
		}
		at := now
		if at.Before(d.Policy.ValidFrom) {
			at = d.Policy.ValidFrom
		}
		pctx, cancel := context.WithTimeout(ctx, s.cfg.Budget)
		rep, err := sweep.Preview(pctx, s.st, set, d.Policy, s.cfg.Match, at)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Log.WarnContext(ctx, "consult: estimate the reach of a draft", "policy", d.Policy.ID, "err", err)
			}
			continue
		}
		e := Estimate{Reach: Reach{Total: Count(rep.Notifiable), WeChat: Count(rep.WeChat), SMS: Count(rep.SMS)},
			At: at, Made: now, Profiles: rep.Profiles}
		s.mu.Lock()
		s.est[estimateKey(d.Policy)] = e
		s.mu.Unlock()
	}
}
