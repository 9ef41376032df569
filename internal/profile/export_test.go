package profile

// DecodeFast exposes the fast path of DecodeValid, so that tests can tell
// whether it was taken.
var DecodeFast = decodeFast
