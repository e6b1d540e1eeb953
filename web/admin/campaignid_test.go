package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/campaignid"
	"github.com/pixelgate/pixelgate/web/dashtest"
)

// hostileIDs are campaign ids a sender can put in X-Pixelgate-Campaign
// (after the relay's cleaning: printable, trimmed, no "@").
var hostileIDs = []string{
	"spring/2026", "what?by=day", "#launch", "..", ".", "../../admin", "50% off", "100%25", "%2e%2e",
	"a b", "été ☀ 夏", "x/opens.csv", "!..", "!", "~user", "a;b,c", "=cmd()", "javascript:alert(1)", `"><b>`,
}

func recordHostileCampaigns(t *testing.T, e *dashtest.Env) map[string]string {
	t.Helper()
	names := map[string]string{}
	for i, id := range hostileIDs {
		name := fmt.Sprintf("Campaign %02d", i)
		names[name] = id
		if err := e.Store.RecordSend(context.Background(), consent.Send{Campaign: id, CampaignName: name, Granted: true,
			At: e.Clock.Now().Add(-time.Duration(i) * time.Minute)}); err != nil {
			t.Fatalf("record send of %q: %v", id, err)
		}
	}
	return names
}

// TestHostileCampaignIDsReachableInBrowser: in headless Chromium, every
// campaign of the list opens its own page, whatever its id holds, and the
// page's CSV link and per-day link stay on that campaign.
func TestHostileCampaignIDsReachableInBrowser(t *testing.T) {
	bctx, _ := dashtest.Browser(t, 3*time.Minute)
	p := dashtest.Page{T: t, Ctx: bctx}
	e := dashtest.New(t, dashtest.Bolt, web.Handlers{})
	adm := e.FirstAdmin(t)
	names := recordHostileCampaigns(t, e)

	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	p.Do("log in", chromedp.Navigate(e.URL+"/admin/login"), chromedp.WaitVisible(css("#name")),
		chromedp.SetValue(css("#name"), "root-admin"), chromedp.SetValue(css("#password"), dashtest.AdminPassword),
		chromedp.Click(css("form.login button")), chromedp.WaitVisible(css("header.top nav")))
	const csvLink = `a[href$="/opens.csv"]`
	for i := range hostileIDs {
		// A link to the wrong place never shows what is waited for: fail
		// that campaign after a while instead of waiting out the browser.
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		p := dashtest.Page{T: t, Ctx: ctx}
		link := fmt.Sprintf("table tbody tr:nth-child(%d) a", i+1)
		p.Do("campaign list", chromedp.Navigate(e.URL+"/admin/campaigns"), chromedp.WaitVisible(css(link)))
		name := p.Text(link)
		id, ok := names[name]
		if !ok {
			t.Fatalf("row %d links %q, not a campaign recorded", i+1, name)
		}
		p.Do("open "+name, chromedp.Click(css(link)), chromedp.WaitVisible(css(csvLink)))
		if got := p.Text("main p.muted code"); got != id {
			t.Errorf("the link of %q (id %q) opened the page of id %q at %s", name, id, got, p.Location())
			continue
		}
		if h1 := p.Text("h1"); h1 != name {
			t.Errorf("campaign %q: page title %q", id, h1)
		}
		// The CSV link, as the browser resolved it, serves this campaign.
		href, err := chromedp.Run(p.Ctx, chromedp.Evaluate[string](`document.querySelector('`+csvLink+`').href`))
		if err != nil {
			t.Fatal(err)
		}
		path := strings.TrimPrefix(href, e.URL)
		if r := adm.Get(path); r.Status != http.StatusOK || !strings.HasPrefix(r.Body, "hour_start,") {
			t.Errorf("campaign %q: CSV link %s: %d %.80q", id, href, r.Status, r.Body)
		}
		p.Do("per day of "+name, chromedp.Click(css(`a[href="?by=day"]`)), chromedp.WaitVisible(css(`a[href="?by=hour"]`)))
		if got := p.Text("main p.muted code"); got != id {
			t.Errorf("per-day view of %q shows id %q", id, got)
		}
	}
}

// TestHostileCampaignIDsInAPI: the JSON API finds each campaign at the
// escaped path the dashboard uses, on both stores.
func TestHostileCampaignIDsInAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *dashtest.Env) {
		adm := e.FirstAdmin(t)
		recordHostileCampaigns(t, e)
		r := adm.Post("/admin/account/tokens", map[string][]string{"label": {"bi"}})
		tok := regexp.MustCompile(`pgt_[A-Z2-7]+`).FindString(r.Body)
		if tok == "" {
			t.Fatalf("create token: %d", r.Status)
		}
		for _, id := range hostileIDs {
			req, err := http.NewRequest(http.MethodGet, e.URL+"/api/v1/campaigns/"+campaignid.Segment(id), nil)
			if err != nil {
				t.Fatalf("%q: %v", id, err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			res := adm.Do(req)
			var out struct {
				Campaign struct{ ID string } `json:"campaign"`
			}
			if err := json.Unmarshal([]byte(res.Body), &out); res.Status != http.StatusOK || err != nil || out.Campaign.ID != id {
				t.Errorf("API campaign %q at %s: %d %.200s", id, req.URL.EscapedPath(), res.Status, res.Body)
			}
		}
	})
}

// TestCampaignSegmentRoundTrip: what campaignid.Segment writes, a server reads
// back as the same id, and it stays one segment that no client drops.
func TestCampaignSegmentRoundTrip(t *testing.T) {
	for _, id := range append(hostileIDs, "", "plain-id", "h-0123456789abcdef") {
		checkSegment(t, id)
	}
}

func FuzzCampaignSegment(f *testing.F) {
	for _, id := range hostileIDs {
		f.Add(id)
	}
	f.Fuzz(checkSegment)
}

func checkSegment(t *testing.T, id string) {
	seg := campaignid.Segment(id)
	// Clients drop "." and ".." segments, also written with %2e (RFC 3986
	// §5.2.4, WHATWG URL "single-dot" and "double-dot" segments).
	dots := strings.ReplaceAll(strings.ToLower(seg), "%2e", ".")
	if strings.ContainsAny(seg, "/?#") || seg == "" || dots == "." || dots == ".." {
		t.Fatalf("id %q: segment %q is not one segment that survives a client", id, seg)
	}
	for _, tail := range []string{"", "/opens.csv"} {
		req := httptest.NewRequest(http.MethodGet, "http://x.example/admin/campaigns/"+seg+tail+"?by=day", nil)
		got, ok := campaignid.FromPath(req, "/admin/campaigns/")
		if !ok || got != id {
			t.Fatalf("id %q: segment %q read back as %q (%v)", id, seg, got, ok)
		}
	}
}
