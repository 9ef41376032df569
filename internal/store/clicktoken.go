package store

// Click tokens: what a notice's short link POLICYPUSH_PUBLIC_URL/r/{token}
// carries, and the credential of its page.
//
// A token is minted when the notice is first claimed for sending: the 16
// bytes of a random (version 4) UUID, 122 of them random, in base64url
// without padding, 22 characters, so that an SMS with the link still fits
// one segment (rules.ClickTokenRunes). Tokens minted before were the same
// UUID in hex, 32 characters; they stay valid.

// ClickTokenLen is the length of a token minted now.
const ClickTokenLen = 22

// legacyClickTokenLen is the length of a token minted before (hex).
const legacyClickTokenLen = 32

// newClickTokenSQL mints a token in SQL. gen_random_uuid is built in
// (PostgreSQL 13 and later); its 16 bytes encode to 24 characters of
// base64, 2 of them padding.
const newClickTokenSQL = `translate(rtrim(encode(uuid_send(gen_random_uuid()), 'base64'), '='), '+/', '-_')`

// IsClickToken reports whether s has the form of a token this service
// mints or minted: a cheap check before any query.
func IsClickToken(s string) bool {
	switch len(s) {
	case ClickTokenLen:
		return only(s, func(c byte) bool {
			return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		})
	case legacyClickTokenLen:
		return only(s, func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' })
	}
	return false
}

func only(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}
