package e2e

import (
	"regexp"
	"strings"
	"testing"

	sgmail "github.com/sendgrid/sendgrid-go/helpers/mail"

	"github.com/pixelgate/pixelgate/proxy/espapi/espfake"
)

var espAPIRe = regexp.MustCompile(`ESP API front on (\S+)`)

// The real binary with --esp-api-addr, the official SendGrid SDK as the
// sender, a fake SendGrid API as the ESP: a recipient who then agrees on
// the consent page gets pixelgate's pixel in the next call, the others
// never a tracker, and SendGrid's tracking is off for all.
func TestSendGridSDKThroughServe(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	pg := startReplica(t, "esp-api", "--data-dir", t.TempDir(), "--public-url", publicURL,
		"--esp-api-addr", "127.0.0.1:0", "--esp-api-upstream", "sendgrid="+fake.URL())
	addr := espAPIRe.FindStringSubmatch(pg.waitStdout(t, espAPIRe))[1]

	call := func() []espfake.Delivery {
		t.Helper()
		fake.Reset()
		m := sgmail.NewV3Mail()
		m.SetFrom(sgmail.NewEmail("Shop", "news@shop.example"))
		m.Subject = "Spring sale"
		m.AddContent(sgmail.NewContent("text/html", `<p>Hello -name-</p><img src="https://u1.ct.sendgrid.net/wf/open?upn=-uid-" width="1" height="1">`))
		for _, r := range []struct{ to, name string }{{"ann@example.org", "Ann"}, {"bob@example.org", "Bob"}, {"cyd@example.org", "Cyd"}} {
			p := sgmail.NewPersonalization()
			p.AddTos(sgmail.NewEmail("", r.to))
			p.SetSubstitution("-name-", r.name)
			p.SetSubstitution("-uid-", "id-"+r.name)
			m.AddPersonalizations(p)
		}
		ts := sgmail.NewTrackingSettings()
		ts.SetOpenTracking(sgmail.NewOpenTrackingSetting().SetEnable(true))
		m.SetTrackingSettings(ts)
		res := espfake.SendGridCall(t, t.Context(), "http://"+addr+"/sendgrid", espfake.DefaultSendGridKey, sgmail.GetRequestBody(m), nil)
		if res.StatusCode != 202 {
			t.Fatalf("send through pixelgate: %+v", res)
		}
		if n := len(fake.Requests()); n != 1 {
			t.Fatalf("%d upstream calls, want 1", n)
		}
		ds := fake.Deliveries()
		if len(ds) != 3 {
			t.Fatalf("%d deliveries, want 3", len(ds))
		}
		return ds
	}
	check := func(ds []espfake.Delivery, granted string) {
		t.Helper()
		for _, d := range ds {
			if strings.Contains(d.HTML, "sendgrid.net/wf/open") || d.Tracking.Opens != "false" {
				t.Errorf("%s: ESP tracking reached the recipient: %+v", d.Recipient, d)
			}
			want := 0
			if d.Recipient == granted {
				want = 1
			}
			if n := strings.Count(d.HTML, publicURL+"/o/"); n != want {
				t.Errorf("%s: %d pixelgate pixels, want %d", d.Recipient, n, want)
			}
		}
	}
	first := call()
	check(first, "")
	var annLink string
	for _, d := range first {
		if d.Recipient == "ann@example.org" {
			annLink = consentLinkRe.FindString(d.HTML)
		}
	}
	if annLink == "" {
		t.Fatal("ann's copy has no consent link")
	}
	decide(t, pg, annLink, "allow")
	check(call(), "ann@example.org")
}
