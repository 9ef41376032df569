package match

import (
	"slices"

	"github.com/policypush/policypush/internal/profile"
)

// contact is what the channel rules of CONTRACTS.md §3 read from a profile.
type contact struct {
	noConsent  bool // consent.personalized_push is false
	optedOut   []string
	openID     bool
	unfollowed bool // channels.wechat.followed is false
	mobile     bool
	smsOff     bool // channels.sms.enabled is false
}

func contactOf(p any) contact {
	var c contact
	switch x := p.(type) {
	case *profile.Resident:
		if x.Consent != nil {
			c.noConsent = x.Consent.PersonalizedPush != nil && !*x.Consent.PersonalizedPush
			c.optedOut = x.Consent.OptOutChannels
		}
		if x.Channels != nil && x.Channels.WeChat != nil {
			c.openID = nonEmpty(x.Channels.WeChat.OpenID)
			c.unfollowed = x.Channels.WeChat.Followed != nil && !*x.Channels.WeChat.Followed
		}
		if x.Channels != nil && x.Channels.SMS != nil {
			c.smsOff = x.Channels.SMS.Enabled != nil && !*x.Channels.SMS.Enabled
		}
		c.mobile = x.Contact != nil && nonEmpty(x.Contact.Mobile)
	case *profile.Enterprise:
		if x.Consent != nil {
			c.optedOut = x.Consent.OptOutChannels
		}
		if x.Channels != nil && x.Channels.WeChat != nil {
			c.openID = nonEmpty(x.Channels.WeChat.OpenID)
		}
		if x.Channels != nil && x.Channels.SMS != nil {
			c.smsOff = x.Channels.SMS.Enabled != nil && !*x.Channels.SMS.Enabled
		}
		c.mobile = x.Contacts != nil && (nonEmpty(x.Contacts.HRMobile) || nonEmpty(x.Contacts.LegalRepMobile))
	}
	return c
}

func nonEmpty(s *string) bool { return s != nil && *s != "" }

// Reasons a notice is not sent, recorded on its outbox row.
const (
	ReasonNoConsent   = "no_consent"
	ReasonUnreachable = "unreachable"
)

// route picks the notice's channel by CONTRACTS.md §3: the first channel
// of the policy's list that can reach the subject, with the other
// reachable ones as fallbacks. ok is false with a reason when none can.
func route(c contact, channels []string, wechatOn bool) (channel string, fallback []string, reason string) {
	if c.noConsent {
		return first(channels), nil, ReasonNoConsent
	}
	var reachable []string
	for _, ch := range channels {
		if slices.Contains(c.optedOut, ch) {
			continue
		}
		switch ch {
		case "wechat":
			if wechatOn && c.openID && !c.unfollowed {
				reachable = append(reachable, ch)
			}
		case "sms":
			if c.mobile && !c.smsOff {
				reachable = append(reachable, ch)
			}
		}
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
