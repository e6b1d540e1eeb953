package mailrewrite

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/pixelgate/pixelgate/web/dashtest"
)

// renderedPage is one HTML part to load in the browser, with the tracker
// URLs its message's labels name.
type renderedPage struct {
	name     string
	html     []byte
	charset  string
	trackers map[string]string // normalised URL -> URL as labelled
}

// browserPages are the HTML parts of every corpus message as a recipient
// without consent gets them (rewritten) or as the sender wrote them.
func browserPages(t *testing.T, rw *Rewriter, rewritten bool) []renderedPage {
	t.Helper()
	var pages []renderedPage
	for _, dir := range corpusDirs {
		labels, ok := corpusLabelsIn(t, dir)
		if !ok {
			continue
		}
		names := make([]string, 0, len(labels))
		for n := range labels {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, name := range names {
			msg, rcpt := corpusMessage(t, dir, name)
			if rewritten {
				out, _, err := rw.Rewrite(msg, Decision{Recipient: rcpt, Consent: Refused, URLs: testURLs(rcpt)})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				msg = out
			}
			root, err := parseMessage(msg)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			parts, err := (&job{r: rw}).collect(msg, root)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			// A URL the labels also call content in the same message
			// (a 1x1 copy of a picture shown full size) is requested
			// for the picture: not counted.
			trk, content := map[string]string{}, map[string]bool{}
			for _, r := range labels[name].Resources {
				switch correctedLabel(dir, name, r.URL, r.Label) {
				case "tracker":
					trk[normRequestURL(r.URL)] = r.URL
				case "content":
					content[normRequestURL(r.URL)] = true
				}
			}
			for u := range content {
				delete(trk, u)
			}
			for _, p := range parts {
				if p.kind == "html" {
					pages = append(pages, renderedPage{name: filepath.Base(dir) + "/" + name, html: p.content, charset: p.e.charset(), trackers: trk})
				}
			}
		}
	}
	return pages
}

// normRequestURL puts a URL as labelled and as the browser requests it in
// one form: scheme and default scheme dropped (HSTS may upgrade), host
// lower-cased, escapes undone (the browser escapes what HTML left raw).
func normRequestURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if strings.HasPrefix(raw, "//") {
		raw = "http:" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	rest := u.EscapedPath()
	if u.RawQuery != "" {
		rest += "?" + u.RawQuery
	}
	if d, err := url.PathUnescape(rest); err == nil {
		rest = d
	}
	return strings.ToLower(u.Host) + rest
}

// renderCount loads every page in headless Chromium, from a loopback
// server, with scripts off (mail programs run none) and every other
// request intercepted and failed before it leaves the machine. It returns
// the requests made to URLs the labels call trackers, and how many remote
// requests the pages made in all.
func renderCount(t *testing.T, pages []renderedPage, tabs int) (hits []string, remote int) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/m/"))
		if err != nil || i < 0 || i >= len(pages) {
			http.NotFound(w, r)
			return
		}
		ct := "text/html"
		if pages[i].charset != "" {
			ct += "; charset=" + pages[i].charset
		}
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(pages[i].html)
	}))
	t.Cleanup(srv.Close)
	bctx, _ := dashtest.Browser(t, 8*time.Minute)

	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for range tabs {
		tab, cancel := chromedp.NewContext(bctx)
		t.Cleanup(cancel)
		if err := chromedp.Do(tab); err != nil {
			t.Fatalf("open tab: %v", err)
		}
		var current *renderedPage // the page this tab is loading
		err := chromedp.Listen(tab, func(ev any) {
			e, ok := ev.(*fetch.EventRequestPaused)
			if !ok {
				return
			}
			u := e.Request.URL + e.Request.URLFragment
			if strings.HasPrefix(u, srv.URL+"/") {
				go func() {
					_, _ = chromedp.Call(tab, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID})
				}()
				return
			}
			mu.Lock()
			remote++
			if p := current; p != nil {
				if lab, ok := p.trackers[normRequestURL(u)]; ok {
					hits = append(hits, p.name+": "+lab)
				}
			}
			mu.Unlock()
			go func() {
				_, _ = chromedp.Call(tab, fetch.FailRequest, fetch.FailRequestParams{RequestID: e.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
			}()
		})
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		if _, err := chromedp.Call(tab, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}}); err != nil {
			t.Fatalf("intercept requests: %v", err)
		}
		if _, err := chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatalf("disable scripts: %v", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				if i < len(pages) {
					current = &pages[i]
				}
				mu.Unlock()
				if i >= len(pages) {
					return
				}
				ctx, cancel := context.WithTimeout(tab, 30*time.Second)
				err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/m/%d", srv.URL, i)))
				cancel()
				if err != nil {
					t.Errorf("%s: load: %v", pages[i].name, err)
				}
			}
		}()
	}
	wg.Wait()
	return hits, remote
}

// TestBrowserRefusedCopiesRequestNoTracker renders the copy a recipient
// without consent gets of every message of both corpora in headless
// Chromium and counts the requests it makes to URLs the labels call
// trackers: there must be none (R1, R12). The same pages as the sender
// wrote them show the harness sees trackers when they are there.
func TestBrowserRefusedCopiesRequestNoTracker(t *testing.T) {
	if _, ok := corpusLabelsIn(t, corpusDirs[0]); !ok {
		t.Skip("shared corpora not available: run with ../shared/corpus and ../shared/corpus-wide beside the clone")
	}
	rw := newTestRewriter(t)
	pages := browserPages(t, rw, true)
	originals := browserPages(t, rw, false)
	// The originals of the development corpus are enough to show the
	// harness counts tracker requests.
	var control []renderedPage
	for _, p := range originals {
		if strings.HasPrefix(p.name, filepath.Base(corpusDirs[0])+"/") {
			control = append(control, p)
		}
	}
	hits, remote := renderCount(t, control, 2)
	if len(hits) == 0 || remote == 0 {
		t.Fatalf("the original messages made %d remote requests, %d to trackers: the harness sees nothing", remote, len(hits))
	}
	t.Logf("originals (development corpus, %d pages): %d remote requests, %d to labelled trackers", len(control), remote, len(hits))

	hits, remote = renderCount(t, pages, 4)
	t.Logf("refused copies (%d pages): %d remote requests, %d to labelled trackers", len(pages), remote, len(hits))
	if remote == 0 {
		t.Fatal("the refused copies made no remote request at all: content images should have been requested")
	}
	for i, h := range hits {
		if i == 20 {
			t.Errorf("... %d more", len(hits)-i)
			break
		}
		t.Errorf("tracker requested: %s", h)
	}
}
