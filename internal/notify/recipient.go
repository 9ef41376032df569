package notify

import "github.com/policypush/policypush/internal/profile"

// RecipientOf reads from a *profile.Resident or *profile.Enterprise what
// the channel rules of CONTRACTS.md §3 need. Matching routes a new notice
// with it, and the dispatcher checks it again at send time.
func RecipientOf(p any) Recipient {
	var to Recipient
	str := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	switch x := p.(type) {
	case *profile.Resident:
		if x.Contact != nil {
			to.Mobile = str(x.Contact.Mobile)
		}
		if x.Channels != nil && x.Channels.WeChat != nil {
			to.OpenID, to.Followed = str(x.Channels.WeChat.OpenID), x.Channels.WeChat.Followed
		}
		if x.Channels != nil && x.Channels.SMS != nil {
			to.SMSEnabled = x.Channels.SMS.Enabled
		}
		if x.Consent != nil {
			to.OptOut, to.Consent = x.Consent.OptOutChannels, x.Consent.PersonalizedPush
		}
	case *profile.Enterprise:
		to.Name = str(x.Name)
		if x.Contacts != nil {
			to.Mobile = str(x.Contacts.HRMobile)
			if to.Mobile == "" {
				to.Mobile = str(x.Contacts.LegalRepMobile)
			}
		}
		if x.Channels != nil && x.Channels.WeChat != nil {
			to.OpenID, to.Followed = str(x.Channels.WeChat.OpenID), x.Channels.WeChat.Followed
		}
		if x.Channels != nil && x.Channels.SMS != nil {
			to.SMSEnabled = x.Channels.SMS.Enabled
		}
		if x.Consent != nil {
			to.OptOut, to.Consent = x.Consent.OptOutChannels, x.Consent.PersonalizedPush
		}
	}
	return to
}
