package browsertest

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/chromedp/chromedp"
)

// ScreenshotDirEnv names the directory Screenshot saves its images in; unset,
// they are taken (and checked to be an image) but not kept.
const ScreenshotDirEnv = "POLICYPUSH_SCREENSHOTS"

// SignIn signs in on the console's sign-in page that p shows, as a person
// does: it types token into the token field, presses the button, and waits
// until an element matching waitSelector is visible.
func (p *Page) SignIn(token, waitSelector string) {
	p.t.Helper()
	Run(p, chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS(waitSelector)),
	))
}

// Screenshot sizes the window to width x height, takes a PNG of the whole
// page and saves it as name.png in $POLICYPUSH_SCREENSHOTS when that is
// set. It returns the image.
func (p *Page) Screenshot(name string, width, height int64) []byte {
	p.t.Helper()
	Run(p, chromedp.EmulateViewport(width, height))
	png := Run(p, chromedp.FullScreenshot(100))
	if !strings.HasPrefix(string(png), "\x89PNG") {
		p.t.Fatalf("browsertest: screenshot %s is not a PNG", name)
	}
	if dir := os.Getenv(ScreenshotDirEnv); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			p.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	return png
}
