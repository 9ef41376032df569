package sweep

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/policypush/policypush/internal/match"
	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// PreviewStore is what a preview reads; *store.Store implements it.
type PreviewStore interface {
	ProfilesAfter(ctx context.Context, subjectType, afterID string, limit int) ([]store.Profile, error)
	OptOutsOf(ctx context.Context, subjectType string) (map[string][]string, error)
	MatchedSubjects(ctx context.Context, policyID string) (map[store.SubjectKey]bool, error)
}

var _ PreviewStore = (*store.Store)(nil)

// Report is what a policy would do to the stored population at an instant.
// New, WeChat, SMS, Neither and NoConsent predict a backfill: the matches
// it would make and where their notices would be queued (by the profiles'
// channels, as matching routes them).
type Report struct {
	PolicyID    string    `json:"policy_id"`
	Version     int       `json:"policy_version"`
	Status      string    `json:"status"`
	SubjectType string    `json:"subject_type"`
	At          time.Time `json:"at"`
	InForce     bool      `json:"in_force"` // active and within its validity at At

	Profiles   int `json:"profiles"`
	Eligible   int `json:"eligible"`
	Unknown    int `json:"unknown"`
	Ineligible int `json:"ineligible"`
	Notifiable int `json:"notifiable"` // eligible, plus unknown when notify.on_unknown

	AlreadyNotified int `json:"already_notified"` // notifiable, with a match already
	New             int `json:"new"`              // notifiable, not matched yet
	WeChat          int `json:"wechat"`           // of new: queued for WeChat
	SMS             int `json:"sms"`              // of new: queued for SMS
	Neither         int `json:"neither"`          // of new: no channel reaches them
	NoConsent       int `json:"no_consent"`       // of new: consent.personalized_push is false
	OptedOut        int `json:"opted_out"`        // of new: opted out of one of the policy's channels (profile or recorded)
}

// Preview evaluates policy p (of set, which need not be in force) against
// every stored profile of its kind at now, and counts. It changes nothing.
func Preview(ctx context.Context, st PreviewStore, set *rules.Set, p *rules.Policy, cfg match.Config, now time.Time) (Report, error) {
	at := set.At(now)
	r := Report{PolicyID: p.ID, Version: p.Version, Status: string(p.Status), SubjectType: string(p.Subject), At: now, InForce: p.Applies(at)}
	optOuts, err := st.OptOutsOf(ctx, string(p.Subject))
	if err != nil {
		return r, err
	}
	matched, err := st.MatchedSubjects(ctx, p.ID)
	if err != nil {
		return r, err
	}
	channels := cfg.ChannelsOf(p)
	ev := set.NewEvaluator()
	after := ""
	for {
		profiles, err := st.ProfilesAfter(ctx, string(p.Subject), after, 2000)
		if err != nil {
			return r, err
		}
		for _, sp := range profiles {
			subject, err := profile.DecodeValid(p.Subject, sp.Data)
			if err != nil {
				return r, fmt.Errorf("decode profile %s/%s: %w", sp.Key.Type, sp.Key.ID, err)
			}
			in, err := set.Prepare(subject)
			if err != nil {
				return r, err
			}
			r.Profiles++
			o := ev.Evaluate(p, in, at)
			switch o.Result {
			case rules.Eligible:
				r.Eligible++
			case rules.Unknown:
				r.Unknown++
			default:
				r.Ineligible++
			}
			if !p.Notifies(o.Result) {
				continue
			}
			r.Notifiable++
			if matched[sp.Key] {
				r.AlreadyNotified++
				continue
			}
			r.New++
			to := notify.RecipientOf(subject)
			ch, _, reason := match.Route(to, channels, cfg.WeChatEnabled)
			switch {
			case reason == match.ReasonNoConsent:
				r.NoConsent++
			case reason != "":
				r.Neither++
			case ch == notify.WeChat:
				r.WeChat++
			default:
				r.SMS++
			}
			recorded := optOuts[sp.Key.ID]
			if slices.ContainsFunc(channels, func(c string) bool { return to.OptedOut(c) || slices.Contains(recorded, c) }) {
				r.OptedOut++
			}
		}
		if len(profiles) < 2000 {
			return r, nil
		}
		after = profiles[len(profiles)-1].Key.ID
		if err := ctx.Err(); err != nil {
			return r, err
		}
	}
}
