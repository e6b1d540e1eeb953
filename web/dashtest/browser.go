package dashtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// ChromiumPath is the browser the page tests drive.
const ChromiumPath = "/usr/bin/chromium"

// Browser starts a headless Chromium with a fresh profile whose downloads
// go to the returned directory, or skips the test when Chromium is missing.
func Browser(t *testing.T, timeout time.Duration) (context.Context, string) {
	t.Helper()
	if _, err := exec.LookPath(ChromiumPath); err != nil {
		t.Skipf("%s not found: install chromium (apt-get install chromium) to run the browser tests", ChromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	downloads := t.TempDir()
	_, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: "allow", DownloadPath: downloads})
	if err != nil {
		t.Fatalf("set download directory: %v", err)
	}
	return bctx, downloads
}

// Page drives one browser tab and fails the test on any error.
type Page struct {
	T   *testing.T
	Ctx context.Context
}

// Do runs steps.
func (p Page) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.T.Helper()
	if err := chromedp.Do(p.Ctx, steps...); err != nil {
		p.T.Fatalf("%s: %v", what, err)
	}
}

// Text is the visible text of the first element matching sel.
func (p Page) Text(sel string) string {
	p.T.Helper()
	s, err := chromedp.Run(p.Ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.T.Fatalf("read text of %s: %v", sel, err)
	}
	return s
}

// Check evaluates a boolean expression in the page.
func (p Page) Check(expr string) bool {
	p.T.Helper()
	ok, err := chromedp.Run(p.Ctx, chromedp.Evaluate[bool](expr))
	if err != nil {
		p.T.Fatalf("evaluate %s: %v", expr, err)
	}
	return ok
}

// Location is the current URL.
func (p Page) Location() string {
	p.T.Helper()
	s, err := chromedp.Run(p.Ctx, chromedp.Location())
	if err != nil {
		p.T.Fatal(err)
	}
	return s
}

// Screenshot saves a full-page PNG as dir/name, where dir is
// $PIXELGATE_SCREENSHOTS (to refresh docs/screenshots) or a temporary
// directory.
func (p Page) Screenshot(name string) string {
	p.T.Helper()
	dir := os.Getenv("PIXELGATE_SCREENSHOTS")
	if dir == "" {
		dir = p.T.TempDir()
	}
	b, err := chromedp.Run(p.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.T.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		p.T.Fatal(err)
	}
	return path
}

// Download waits for a file whose name starts with prefix to be complete
// in dir and returns its content.
func Download(t *testing.T, dir, prefix string) []byte {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) && !strings.HasSuffix(e.Name(), ".crdownload") {
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err == nil && len(b) > 0 {
					return b
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no download %s* in %s", prefix, dir)
	return nil
}
