package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/ruledir"
)

// demoComments are what a few people write on a draft out for comment,
// posted as the public does, so that the console's moderation page has
// something to moderate.
var demoComments = []string{
	`{"text":"建议把高级工及以上的补贴标准再提高一些，技师、高级技师取证难度更大，可以单独设档。","name":"刘师傅"}`,
	`{"text":"希望明确灵活就业人员参保满12个月是否也可以申领。"}`,
	`{"text":"申领期限能否从取证后12个月延长到18个月？很多人拿到证书后才知道有这个补贴。","name":"陈女士"}`,
}

// showConsultations posts demoComments on each draft out for comment at
// at (issue 15), and prints its page and where officers moderate.
func showConsultations(ctx context.Context, out io.Writer, base, rulesDir string, at time.Time) {
	d, err := ruledir.Read(rulesDir)
	if err != nil {
		return // the service loaded the same directory: not reached
	}
	for _, r := range d.Rules {
		if !r.InConsultation(at) {
			continue
		}
		posted := 0
		for _, c := range demoComments {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost,
				base+"/public/consultations/"+url.PathEscape(r.ID)+"/comments", strings.NewReader(c))
			if err != nil {
				continue
			}
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					posted++
				}
			}
		}
		fmt.Fprintf(out, "consultation %s/consultations/%s — %s, open for comment until %s; %d sample comments await moderation at %s/console/comments (JSON: /public/consultations)\n",
			base, url.PathEscape(r.ID), r.Title, r.Consultation.Until.Format(time.DateOnly), posted, base)
	}
}
