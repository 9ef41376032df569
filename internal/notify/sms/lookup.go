package sms

import (
	"errors"
	"fmt"
	"time"

	"github.com/policypush/policypush/internal/notify"
)

// ErrNotSettled is the error of a lookup that found nothing while the
// provider may not show the send yet: both providers list a send some
// seconds after accepting it (Tencent only once its status report came),
// so an early "not found" is no evidence. Ask again later.
var ErrNotSettled = errors.New("the provider may not list the send yet")

// Shanghai is the provider's calendar: Aliyun keys its send records by the
// date in China Standard Time, which has no daylight saving.
var Shanghai = time.FixedZone("CST", 8*3600)

// NotFound returns the answer to a lookup that found nothing: a plain
// not-found once settle has passed since the call, else a retryable error
// wrapping ErrNotSettled.
func NotFound(provider string, since, now time.Time, settle time.Duration) (notify.Lookup, error) {
	if now.Sub(since) < settle {
		return notify.Lookup{}, fmt.Errorf("%s sms lookup: %w", provider, ErrNotSettled)
	}
	return notify.Lookup{}, nil
}
