package demo

import (
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/policypush/policypush/internal/ruledir"
)

// printConsultations prints the page of each draft out for comment at at
// (issue 15), and where officers moderate its comments.
func printConsultations(out io.Writer, base, rulesDir string, at time.Time) {
	d, err := ruledir.Read(rulesDir)
	if err != nil {
		return // the service loaded the same directory: not reached
	}
	for _, r := range d.Rules {
		if r.InConsultation(at) {
			fmt.Fprintf(out, "consultation %s/consultations/%s — %s, open for comment until %s (JSON: /public/consultations; moderation: %s/console/comments)\n",
				base, url.PathEscape(r.ID), r.Title, r.Consultation.Until.Format(time.DateOnly), base)
		}
	}
}
