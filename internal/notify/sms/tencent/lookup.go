package tencent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/notify/sms"
)

const (
	lookupAction = "PullSmsSendStatusByPhoneNumber"
	// pullLimit is the API's largest Limit; Offset is fixed at 0, so a
	// longer list cannot be paged.
	pullLimit = 100
	// skew widens the pulled time range against clock differences.
	skew = time.Minute
	// maxPullAge is how far back Tencent keeps status reports to pull.
	maxPullAge = 7 * 24 * time.Hour
)

// DefaultLookupSettle is longer than Aliyun's: Tencent lists a send only
// once the carrier's status report came back, which takes seconds for a
// phone that is on and can take hours for one that is off. Such a send is
// not found, and after the settle time looks never accepted: the price of
// a shorter settle is a possible duplicate, of a longer one a later retry.
const DefaultLookupSettle = 2 * time.Minute

// ErrNoSessionContext is the error of a lookup whose status reports carry
// no SessionContext: Tencent echoes it only once support has enabled it for
// the account, and without it no report can be tied to a notice.
var ErrNoSessionContext = errors.New("status reports carry no SessionContext; ask Tencent Cloud to enable it")

type pullRequest struct {
	BeginTime   int64
	EndTime     int64
	Offset      int
	Limit       int
	PhoneNumber string
	SmsSdkAppId string
}

// pullResponse is PullSmsSendStatusByPhoneNumber's Response object.
type pullResponse struct {
	PullSmsSendStatusSet []struct {
		SerialNo       string
		ReportStatus   string // SUCCESS or FAIL
		SessionContext *string
	}
}

// Lookup implements notify.LookupChannel with
// PullSmsSendStatusByPhoneNumber: the status reports of sends to to.Mobile
// since since are searched for SessionContext = n.ID. A report means
// Tencent accepted the send; its ReportStatus tells delivery.
//
// Nothing found within the settle time after since is an
// sms.ErrNotSettled error; reports without any SessionContext are
// ErrNoSessionContext, and a full list without the notice is an error
// too, since it cannot be paged further. Tencent keeps reports for 7
// days: a send older than that is not found.
func (c *Channel) Lookup(ctx context.Context, n *notify.Notice, to notify.Recipient, since time.Time) (notify.Lookup, error) {
	mobile := E164(to.Mobile)
	if mobile == "" {
		return notify.Lookup{}, nil // Send never calls Tencent without one
	}
	national := strings.TrimPrefix(mobile, "+86")
	now := c.cfg.Now()
	// Older reports cannot be pulled; asking for them is refused.
	begin := since.Add(-skew)
	if oldest := now.Add(-maxPullAge + time.Hour); begin.Before(oldest) {
		begin = oldest
	}
	payload, err := json.Marshal(pullRequest{
		BeginTime:   begin.Unix(),
		EndTime:     now.Add(skew).Unix(),
		Limit:       pullLimit,
		PhoneNumber: mobile,
		SmsSdkAppId: c.cfg.AppID,
	})
	if err != nil {
		return notify.Lookup{}, sms.Config(notify.ReasonBadRequest, &sms.ProviderError{Provider: "tencent", Message: err.Error()})
	}
	raw, status, reqID, err := c.do(ctx, lookupAction, payload, national)
	if err != nil {
		return notify.Lookup{}, err
	}
	var r pullResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return notify.Lookup{}, sms.Fail(notify.ReasonServerError, true, false, false,
			&sms.ProviderError{Provider: "tencent", Status: status, Message: "unexpected response", RequestID: reqID})
	}
	id := strconv.FormatInt(n.ID, 10)
	var l notify.Lookup
	withContext := false
	for _, st := range r.PullSmsSendStatusSet {
		if st.SessionContext == nil || *st.SessionContext == "" {
			continue
		}
		withContext = true
		if *st.SessionContext != id {
			continue
		}
		delivered := st.ReportStatus == "SUCCESS"
		if !l.Found || delivered && !*l.Delivered {
			l = notify.Lookup{Found: true, ProviderMsgID: st.SerialNo, Delivered: &delivered}
		}
	}
	switch {
	case l.Found:
		return l, nil
	case len(r.PullSmsSendStatusSet) > 0 && !withContext:
		return notify.Lookup{}, fmt.Errorf("tencent sms lookup (request_id=%s): %w", reqID, ErrNoSessionContext)
	case len(r.PullSmsSendStatusSet) >= pullLimit:
		return notify.Lookup{}, fmt.Errorf("tencent sms lookup (request_id=%s): more than %d status reports, which one pull cannot page", reqID, pullLimit)
	}
	return sms.NotFound("tencent", since, now, c.cfg.LookupSettle)
}
