package aliyun

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/alibabacloud-go/tea/dara"

	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/notify/sms"
)

const (
	lookupAction = "QuerySendDetails"
	// pageSize is QuerySendDetails' largest page.
	pageSize = 50
	// maxPages bounds the pages read per day: per-number flow control
	// (10 a day by default) keeps real lists far shorter.
	maxPages = 10
)

// SendStatus values of QuerySendDetails.
const (
	statusWaiting   = 1 // accepted, no receipt yet
	statusFailed    = 2
	statusDelivered = 3
)

// detail is one SmsSendDetailDTO. Its fields are those of dysmsapi
// 2017-05-25; QuerySendDetails carries no BizId.
type detail struct {
	OutID      string `json:"OutId"`
	SendStatus num    `json:"SendStatus"`
	SendDate   string `json:"SendDate"`
}

// num is a JSON number that some gateways write as a string.
type num int64

func (n *num) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	*n = num(v)
	return err
}

// Lookup implements notify.LookupChannel with QuerySendDetails: the sends
// to to.Mobile on since's date, and on the next date if the call may have
// crossed midnight in Asia/Shanghai, are searched for OutId = n.ID. Any
// earlier send of the notice counts as well: OutId names the notice, not
// the attempt, and an accepted notice must not be sent again.
//
// A notice not found within Config.LookupSettle after since is an
// sms.ErrNotSettled error: Aliyun lists a send a few seconds after
// accepting it.
func (c *Channel) Lookup(ctx context.Context, n *notify.Notice, to notify.Recipient, since time.Time) (notify.Lookup, error) {
	mobile := strings.TrimSpace(to.Mobile)
	if mobile == "" {
		return notify.Lookup{}, nil // Send never calls Aliyun without one
	}
	now := c.now()
	out := strconv.FormatInt(n.ID, 10)
	var best *detail
	for _, day := range lookupDays(since, now) {
		d, err := c.findDay(ctx, mobile, day, out)
		if err != nil {
			return notify.Lookup{}, err
		}
		if d != nil && (best == nil || rank(d.SendStatus) > rank(best.SendStatus)) {
			best = d
		}
	}
	if best == nil {
		return sms.NotFound("aliyun", since, now, c.settle)
	}
	l := notify.Lookup{Found: true}
	switch best.SendStatus {
	case statusDelivered:
		l.Delivered = new(true)
	case statusFailed:
		l.Delivered = new(false)
	}
	return l, nil
}

// rank orders the statuses of several sends of one notice: one delivered
// settles it, a failed one only when no other is still waiting.
func rank(s num) int {
	switch s {
	case statusDelivered:
		return 3
	case statusWaiting:
		return 2
	case statusFailed:
		return 1
	}
	return 0
}

// lookupDays are the SendDate values (yyyyMMdd, Asia/Shanghai) a call made
// at or after since may be filed under.
func lookupDays(since, now time.Time) []string {
	first := since.In(sms.Shanghai)
	days := []string{first.Format("20060102")}
	if next := first.AddDate(0, 0, 1).Format("20060102"); now.In(sms.Shanghai).Format("20060102") >= next {
		days = append(days, next)
	}
	return days
}

// findDay pages through one day's sends to mobile for OutId out and
// returns the best-ranked match, nil for none.
func (c *Channel) findDay(ctx context.Context, mobile, day, out string) (*detail, error) {
	var best *detail
	for page := 1; page <= maxPages; page++ {
		body, err := c.call(ctx, lookupAction, map[string]*string{
			"PhoneNumber": dara.String(mobile),
			"SendDate":    dara.String(day),
			"PageSize":    dara.String(strconv.Itoa(pageSize)),
			"CurrentPage": dara.String(strconv.Itoa(page)),
		}, mobile)
		if err != nil {
			return nil, err
		}
		list, total := details(body)
		for i := range list {
			if d := &list[i]; d.OutID == out && (best == nil || rank(d.SendStatus) > rank(best.SendStatus)) {
				best = d
			}
		}
		if best != nil && best.SendStatus == statusDelivered || len(list) < pageSize || page*pageSize >= total {
			break
		}
	}
	return best, nil
}

// details reads SmsSendDetailDTOs.SmsSendDetailDTO, which an XML-shaped
// answer may give as one object rather than a list, and TotalCount.
func details(body map[string]any) ([]detail, int) {
	total := 0
	switch v := body["TotalCount"].(type) {
	case string:
		total, _ = strconv.Atoi(v)
	case json.Number:
		t, _ := v.Int64()
		total = int(t)
	case float64:
		total = int(v)
	case int:
		total = v
	case int64:
		total = int(v)
	}
	dtos, _ := body["SmsSendDetailDTOs"].(map[string]any)
	raw, err := json.Marshal(dtos["SmsSendDetailDTO"])
	if err != nil {
		return nil, total
	}
	var list []detail
	if err := json.Unmarshal(raw, &list); err != nil {
		var one detail
		if json.Unmarshal(raw, &one) == nil && one.OutID != "" {
			list = []detail{one}
		}
	}
	if total < len(list) {
		total = len(list)
	}
	return list, total
}
