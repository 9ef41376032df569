package match

import "github.com/policypush/policypush/internal/notify"

// Reasons a notice is not sent, recorded on its outbox row.
const (
	ReasonNoConsent   = "no_consent"
	ReasonUnreachable = "unreachable"
)

// Route picks the notice's channel by CONTRACTS.md §3: the first channel
// of the policy's list that can reach the subject, with the other
// reachable ones as fallbacks, or a reason when none can.
func Route(to notify.Recipient, channels []string, wechatOn bool) (channel string, fallback []string, reason string) {
	if to.Consent != nil && !*to.Consent {
		return first(channels), nil, ReasonNoConsent
	}
	var reachable []string
	for _, ch := range channels {
		if to.OptedOut(ch) || !to.Reaches(ch) || ch == notify.WeChat && !wechatOn {
			continue
		}
		reachable = append(reachable, ch)
	}
	if len(reachable) == 0 {
		return first(channels), nil, ReasonUnreachable
	}
	return reachable[0], reachable[1:], ""
}

func first(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return s[0]
}
