package demo

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// After the notices, the officers and 金保 (the demo's cases, issue 14):
// reviewers decide the claims of the review: true policies over the
// admin API — most approved, a share fixed by fate rejected with a
// reason — then the payment office exports each policy's approved list
// (cases.csv), pays those ready for payment, and 金保 reports each grant
// back as a profile event with a benefits_received entry; 免申即享
// (apply.mode automatic) policies are paid to every active match without
// a claim. The summary then shows the funnel down to the 元.

// shareReject is the percentage of claims the simulated reviewers reject.
const shareReject = 15

// reviewed is what the simulated officers and 金保 did.
type reviewed struct {
	Approved, Rejected int
	Paid               int
	PaidYuan           float64
	Events             int // profile events 金保 sent
}

// api calls the admin API with the admin token.
type api struct {
	base, token string
	client      *http.Client
}

func (a api) do(ctx context.Context, method, path string, body any, out any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	if out != nil {
		return data, json.Unmarshal(data, out)
	}
	return data, nil
}

// reviewAndPay runs the officers and 金保 over the policies of set.
func reviewAndPay(ctx context.Context, cfg *config.Config, st *store.Store, set *rules.Set, base, token string) (reviewed, error) {
	a := api{base: base, token: token, client: &http.Client{Timeout: time.Minute}}
	var r reviewed
	for _, p := range set.Policies() {
		if !p.Review {
			continue
		}
		var list struct {
			Cases []struct {
				ID int64 `json:"id"`
			} `json:"cases"`
		}
		if _, err := a.do(ctx, http.MethodGet, "/api/cases?status=claimed&limit=10000&policy="+p.ID, nil, &list); err != nil {
			return r, err
		}
		var approve, reject []int64
		for _, c := range list.Cases {
			if fate("review:"+strconv.FormatInt(c.ID, 10)) < shareReject {
				reject = append(reject, c.ID)
			} else {
				approve = append(approve, c.ID)
			}
		}
		if len(reject) == 0 && len(approve) > 1 { // a demo shows both decisions
			reject, approve = approve[len(approve)-1:], approve[:len(approve)-1]
		}
		for _, b := range []struct {
			ids              []int64
			decision, reason string
		}{{approve, "approve", "材料齐全，符合条件"}, {reject, "reject", "缺少证明材料，请补充后重新申领"}} {
			for len(b.ids) > 0 {
				n := min(len(b.ids), 1000)
				body := map[string]any{"ids": b.ids[:n], "decision": b.decision, "reason": b.reason}
				if _, err := a.do(ctx, http.MethodPost, "/api/cases/decide", body, nil); err != nil {
					return r, err
				}
				b.ids = b.ids[n:]
			}
		}
		r.Approved += len(approve)
		r.Rejected += len(reject)
	}

	// The payment office pays what is ready; 金保 reports it back.
	type payment struct {
		key    store.SubjectKey
		policy string
		amount float64
	}
	var pay []payment
	type paid struct {
		key    store.SubjectKey
		policy string
	}
	inCSV := map[paid]bool{}
	for _, p := range set.Policies() {
		if p.Amount == nil {
			continue // a reminder or a service: nothing to pay, so no grant
		}
		raw, err := a.do(ctx, http.MethodGet, "/api/policies/"+p.ID+"/cases.csv", nil, nil)
		if err != nil {
			return r, err
		}
		rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\ufeff")))).ReadAll()
		if err != nil {
			return r, fmt.Errorf("%s cases.csv: %w", p.ID, err)
		}
		col := map[string]int{}
		for i, c := range rows[0] {
			col[c] = i
		}
		for _, row := range rows[1:] {
			if row[col["ready_for_payment"]] != "true" {
				continue
			}
			amount, _ := strconv.ParseFloat(row[col["amount"]], 64)
			k := store.SubjectKey{Type: row[col["subject_type"]], ID: row[col["subject_id"]]}
			pay = append(pay, payment{k, p.ID, amount})
			inCSV[paid{k, p.ID}] = true
		}
		// 免申即享: every active match, claimed (and so approved) or not,
		// but for those the CSV's list already pays; an approved claim
		// waits for its 公示 only on a policy that needs a claim.
		if p.NextSteps().Mode == rules.ApplyAutomatic {
			rows, err := st.Pool().Query(ctx, `SELECT m.subject_type, m.subject_id, coalesce(m.amount, 0)::float8 FROM matches m
LEFT JOIN cases c ON c.match_id = m.id
WHERE m.policy_id = $1 AND m.status = 'active' AND (c.status IS NULL OR c.status NOT IN ('granted', 'declined'))`, p.ID)
			if err != nil {
				return r, err
			}
			for rows.Next() {
				var pm payment
				if err := rows.Scan(&pm.key.Type, &pm.key.ID, &pm.amount); err != nil {
					rows.Close()
					return r, err
				}
				pm.policy = p.ID
				if !inCSV[paid{pm.key, pm.policy}] {
					pay = append(pay, pm)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return r, err
			}
		}
	}
	if len(pay) == 0 {
		return r, nil
	}
	// A merge patch replaces a list whole: each event carries the
	// subject's benefits_received as stored, plus the new entries.
	byKey := map[store.SubjectKey][]payment{}
	var order []store.SubjectKey
	for _, p := range pay {
		if byKey[p.key] == nil {
			order = append(order, p.key)
		}
		byKey[p.key] = append(byKey[p.key], p)
	}
	now := time.Now().In(rules.Shanghai)
	producer := ingest.NewProducer([]string{cfg.KafkaEmbeddedAddr}, cfg.KafkaTopic)
	defer producer.Close()
	var kvs []ingest.KV
	for n, k := range order {
		var existing []any
		var raw []byte
		if err := st.Pool().QueryRow(ctx, `SELECT coalesce(data->'benefits_received', '[]') FROM profiles WHERE subject_type = $1 AND subject_id = $2`,
			k.Type, k.ID).Scan(&raw); err != nil {
			return r, fmt.Errorf("benefits of a paid subject: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber() // the stored amounts as written
		if err := dec.Decode(&existing); err != nil {
			return r, err
		}
		for _, p := range byKey[k] {
			e := map[string]any{"policy_id": p.policy, "amount": p.amount}
			if k.Type == "enterprise" {
				e["year"] = now.Year()
			} else {
				e["granted_on"] = now.Format(time.DateOnly)
			}
			existing = append(existing, e)
			r.Paid++
			r.PaidYuan += p.amount
		}
		ev, err := json.Marshal(map[string]any{
			"event_id": fmt.Sprintf("jinbao-pay-%d-%d", now.Unix(), n), "subject_type": k.Type, "subject_id": k.ID,
			"occurred_at": now.Format(time.RFC3339), "source": "jinbao", "type": "patch",
			"data": map[string]any{"benefits_received": existing},
		})
		if err != nil {
			return r, err
		}
		kvs = append(kvs, ingest.KV{Key: []byte(k.ID), Value: ev})
		r.Events++
		if len(kvs) == 2000 || n == len(order)-1 {
			if err := producer.ProduceBatch(ctx, kvs); err != nil {
				return r, err
			}
			kvs = kvs[:0]
		}
	}
	return r, nil
}

// funnelReport is GET /api/funnel's answer, as the summary prints it.
type funnelReport struct {
	PolicyID      string                    `json:"policy_id"`
	Steps         map[string]int            `json:"steps"`
	GrantedAmount float64                   `json:"granted_amount"`
	Median        *float64                  `json:"median_match_to_grant_hours"`
	Flagged       bool                      `json:"flagged"`
	Automatic     bool                      `json:"automatic"`
	Conversions   map[string]float64        `json:"conversions"`
	Sources       map[string]map[string]int `json:"sources"`
	Policies      []funnelReport            `json:"policies"`
}

func printFunnel(out io.Writer, f funnelReport, r reviewed) {
	fmt.Fprintf(out, "\ncases: reviewers approved %d and rejected %d claims of the review: true policies; 金保 reported %d grants (%s 元)\n",
		r.Approved, r.Rejected, r.Paid, yuanText(r.PaidYuan))
	fmt.Fprintln(out, "funnel, per policy, down to the 元 (unclaimed: granted without a claim; granted %: of matched for a 免申即享 (automatic) policy, else of approved + unclaimed):")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tmatched\tsent\tdelivered\topened\tclaimed\tapproved\tgranted\tunclaimed\tgranted %\tgranted 元\tmedian h\tby backfill\t")
	row := func(name string, x funnelReport) {
		med := "—"
		if x.Median != nil {
			med = strconv.FormatFloat(*x.Median, 'f', 2, 64)
		}
		if x.Automatic {
			name += " (automatic)"
		}
		if x.Flagged {
			name += " ⚠"
		}
		conv := "—"
		if c, ok := x.Conversions["granted"]; ok {
			conv = strconv.FormatFloat(100*c, 'f', 1, 64) + "%"
		}
		s := x.Steps
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t\n", name, s["matched"], s["sent"], s["delivered"], s["opened"], s["claimed"],
			s["approved"], s["granted"], s["granted_unclaimed"], conv, yuanText(x.GrantedAmount), med, x.Sources["backfill"]["matched"])
	}
	for _, p := range f.Policies {
		row(p.PolicyID, p)
	}
	row("cases total", f)
	tw.Flush()
}

func yuanText(a float64) string {
	s := strconv.FormatFloat(a, 'f', 2, 64)
	s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		return b.String() + "." + frac
	}
	return b.String()
}
