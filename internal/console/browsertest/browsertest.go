// Package browsertest opens a page in headless Chromium for a test and
// reports what the page shows and every error it ran into: console.error
// calls, uncaught exceptions, and the browser's own error log (a
// Content-Security-Policy violation, a failed request for a script or a
// stylesheet).
//
// The console's test uses it, and so can a test of a running service's
// console (the demo's, say):
//
//	texts, errs := browsertest.Open(t, baseURL+"/", `body[data-state="ok"]`)
//	if len(errs) > 0 {
//		t.Errorf("errors in the page: %q", errs)
//	}
//	if got := texts["policy/skill-upgrade-subsidy/matched"]; got == "" || got == "0" {
//		t.Errorf("matched = %q, want some", got)
//	}
//
// texts maps the data-key attribute of every element that has one to the
// element's text, trimmed. The console page sets body[data-state] to "ok"
// once it has shown a snapshot ("error" while it cannot fetch one), and
// gives these keys (numbers are formatted as shown, "1,234"):
//
//	updated                              the snapshot's time, "2006-01-02 15:04:05" in local time
//	error                                the error banner's text; empty when there is none
//	backlog/outbox_waiting, backlog/oldest_due, backlog/dlq_messages, backlog/unknown_outcome
//	rules/last_reload, rules/last_reload_ok, rules/loaded
//	policy/<id>/title, policy/<id>/state
//	policy/<id>/<stage>                  stage: matched sent delivered clicked waiting waiting_for_channel
//	                                     waiting_for_consent failed suppressed cancelled
//	channel/<channel>/<stage>            stage: sent delivered rate failed waiting suppressed fallbacks
//	sweep/<id>/status, sweep/<id>/progress, sweep/<id>/profiles, sweep/<id>/matched
//	session/name, session/role            who is signed in (the role in Chinese, 管理员 for admin)
//
// The console is behind its sign-in page (internal/signin): open "/" and
// wait for "#token", then Page.SignIn types the token and presses the
// button. Page.Screenshot keeps PNGs in $POLICYPUSH_SCREENSHOTS.
//
// Start gives a Page to read again later, for a test that waits for the
// page to change.
//
// Chromium is looked up on PATH as chromium, chromium-browser or
// google-chrome. A test that needs it fails when it is missing, saying how
// to install it (make browser), so that CI notices; under go test -short it
// is skipped instead.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Timeout bounds each step: starting the browser and loading the page, or
// one Run.
const Timeout = 30 * time.Second

// ExecPath returns the path of the Chromium binary, or an error that says
// how to install it.
func ExecPath() (string, error) {
	// The names Chromium goes by: Debian's package, Ubuntu's and Google's
	// build.
	browsers := []string{"chromium", "chromium-browser", "google-chrome"}
	for _, name := range browsers {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("headless Chromium is needed and none of %s is on PATH: "+
		"install it with `make browser` (or `apt-get install -y --no-install-recommends chromium`), "+
		"or run go test -short to skip the browser tests", strings.Join(browsers, ", "))
}

// ChineseFont returns an error that says how to install one when fontconfig
// knows no font for Chinese: without one every Chinese character renders as
// a box, and a screenshot proves nothing.
func ChineseFont() error {
	out, err := exec.Command("fc-list", ":lang=zh", "family").Output()
	if err != nil || len(strings.TrimSpace(string(out))) == 0 {
		return errors.New("no Chinese font is installed: install one with `make browser` " +
			"(or `apt-get install -y fonts-wqy-microhei`), or run go test -short to skip the browser tests")
	}
	return nil
}

// Page is a page open in headless Chromium. The browser is closed when the
// test ends.
type Page struct {
	t   testing.TB
	ctx context.Context

	mu   sync.Mutex
	errs []string
}

// Open loads url, waits until an element matching the CSS selector
// waitSelector is visible, and returns the texts of the elements that have
// a data-key attribute, by key, and the errors the page ran into.
func Open(t testing.TB, url, waitSelector string) (texts map[string]string, consoleErrors []string) {
	t.Helper()
	p := Start(t, url, waitSelector)
	texts = p.Texts()
	// A request the page made during the load (its favicon, say) may
	// still fail: give the failure the time to be logged.
	time.Sleep(250 * time.Millisecond)
	return texts, p.Errors()
}

// Start starts headless Chromium, loads url and waits until an element
// matching the CSS selector waitSelector is visible. It fails the test if
// that does not happen within Timeout, with the page's errors and text.
func Start(t testing.TB, url, waitSelector string) *Page {
	t.Helper()
	exe, err := ExecPath()
	if err == nil {
		err = ChineseFont()
	}
	if err != nil {
		if testing.Short() {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		// As root in a container: no sandbox, no GPU, and /dev/shm may
		// be small.
		chromedp.NoSandbox,
		chromedp.Flag("headless", "new"),
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1366, 768), // a laptop's screen
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	p := &Page{t: t}
	// A listener given at creation sees the tab's events from its start,
	// so no error of the load is missed.
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(p.listen))
	p.ctx = ctx
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})

	// The first command starts the browser, and a deadline on its context
	// would end the browser with it: bound it from outside instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("browsertest: start %s: %v", exe, err)
		}
	case <-time.After(Timeout):
		t.Fatalf("browsertest: %s did not start within %v", exe, Timeout)
	}

	if _, err := run(p, chromedp.Steps(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(waitSelector)))); err != nil {
		t.Fatalf("browsertest: %s: waiting for %s: %v\nerrors in the page: %q\ntext of the page: %s",
			url, waitSelector, err, p.Errors(), p.bodyText())
	}
	return p
}

// Texts returns the texts of the elements that have a data-key attribute,
// by key, as they are now.
func (p *Page) Texts() map[string]string {
	p.t.Helper()
	const js = `Object.fromEntries(Array.from(document.querySelectorAll('[data-key]'),
		(e) => [e.dataset.key, e.textContent.trim()]))`
	return Run(p, chromedp.Evaluate[map[string]string](js))
}

// Errors returns the errors the page has run into so far, each as
// "console.error: …", "exception: …" or "<source> error: …" for an entry
// of the browser's log (source network, security, …).
func (p *Page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}

// Run runs a chromedp action on the page, such as
// chromedp.Evaluate[int]("document.images.length") or
// chromedp.FullScreenshot(90), and returns its value; it fails the test if
// the action fails or takes longer than Timeout.
func Run[T any](p *Page, a chromedp.Action[T]) T {
	p.t.Helper()
	v, err := run(p, a)
	if err != nil {
		p.t.Fatalf("browsertest: %v\nerrors in the page: %q", err, p.Errors())
	}
	return v
}

func run[T any](p *Page, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return v, fmt.Errorf("timed out after %v: %w", Timeout, err)
	}
	return v, err
}

// bodyText is the start of what the page shows, for a failure message.
func (p *Page) bodyText() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ''`))
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	return s
}

// listen runs on chromedp's goroutine that reads the tab's messages, for
// every event of the page: it must be quick and must not call chromedp.
func (p *Page) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		args := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			args = append(args, remoteString(a))
		}
		msg = "console." + string(ev.Type) + ": " + strings.Join(args, " ")
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		msg = fmt.Sprintf("exception: %s (%s:%d:%d)", text, d.URL, d.LineNumber+1, d.ColumnNumber+1)
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		if e.Level != cdplog.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("%s error: %s", e.Source, e.Text)
		if e.URL != "" {
			msg += " (" + e.URL + ")"
		}
	default:
		return
	}
	p.mu.Lock()
	p.errs = append(p.errs, msg)
	p.mu.Unlock()
}

func remoteString(o *runtime.RemoteObject) string {
	switch {
	case o == nil:
		return ""
	case o.Type == runtime.RemoteObjectTypeString && len(o.Value) > 0:
		var s string
		if err := json.Unmarshal(o.Value, &s); err == nil {
			return s
		}
		return string(o.Value)
	case len(o.Value) > 0:
		return string(o.Value)
	case o.Description != "":
		return o.Description
	default:
		return string(o.Type)
	}
}
