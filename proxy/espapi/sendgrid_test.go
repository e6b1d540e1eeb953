package espapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sendgrid/rest"
	sgmail "github.com/sendgrid/sendgrid-go/helpers/mail"

	"github.com/pixelgate/pixelgate/proxy/espapi/espfake"
)

const (
	trackerHost = "open.tracker.example"
	ownPixel    = testPublicURL + "/o/"
)

// campaignHTML has a per-recipient open pixel (its id a SendGrid
// substitution), a plain link and a tracked click link.
const campaignHTML = `<html><body><p>Hello -name-</p>` +
	`<img src="https://` + trackerHost + `/o/-uid-.gif" width="1" height="1" alt="">` +
	`<p><a href="https://shop.example.com/sale">Sale</a></p></body></html>`

// sendGridVia posts m through the front with the official SDK: the SDK's
// host is the front's /sendgrid prefix, nothing else changes.
func sendGridVia(t *testing.T, h *harness, key string, body []byte) *rest.Response {
	t.Helper()
	return espfake.SendGridCall(t, t.Context(), h.url+"/sendgrid", key, body, nil)
}

func campaignMail() *sgmail.SGMailV3 {
	m := sgmail.NewV3Mail()
	m.SetFrom(sgmail.NewEmail("Shop", "news@shop.example.com"))
	m.Subject = "Spring sale, -name-"
	m.AddContent(sgmail.NewContent("text/plain", "Hello -name-, the sale is on."), sgmail.NewContent("text/html", campaignHTML))
	p1 := sgmail.NewPersonalization()
	p1.AddTos(sgmail.NewEmail("Ann", "ann@example.org"))
	p1.AddCCs(sgmail.NewEmail("", "boss@example.org"))
	p1.SetSubstitution("-name-", "Ann")
	p1.SetSubstitution("-uid-", "u-ann")
	p2 := sgmail.NewPersonalization()
	p2.AddTos(sgmail.NewEmail("", "bob@example.org"))
	p2.SetSubstitution("-name-", "Bob")
	p2.SetSubstitution("-uid-", "u-bob")
	m.AddPersonalizations(p1, p2)
	m.AddCategories("spring-sale")
	ts := sgmail.NewTrackingSettings()
	ts.SetOpenTracking(sgmail.NewOpenTrackingSetting().SetEnable(true))
	m.SetTrackingSettings(ts)
	return m
}

// A SendGrid SDK call to three recipients, one of whom agreed: one call
// upstream, each recipient's copy rewritten for their own consent.
func TestSendGridSDKEachRecipientGetsOwnRewriteInOneCall(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	h := newHarness(t, fake.URL())
	h.grant("ann@example.org")

	res := sendGridVia(t, h, espfake.DefaultSendGridKey, sgmail.GetRequestBody(campaignMail()))
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("answer %d %s", res.StatusCode, res.Body)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d upstream calls, want the client's one call to stay one", len(reqs))
	}
	if got := res.Headers["X-Message-Id"]; len(got) != 1 || got[0] != reqs[0].Header.Get("X-Message-Id") && got[0] == "" {
		t.Errorf("X-Message-Id %v not passed back", got)
	}
	if reqs[0].Credential != espfake.DefaultSendGridKey || reqs[0].Header.Get("Authorization") != "Bearer "+espfake.DefaultSendGridKey {
		t.Errorf("credential changed on the way: %q", reqs[0].Header.Get("Authorization"))
	}
	ds := fake.Deliveries()
	if len(ds) != 3 {
		t.Fatalf("%d deliveries, want ann, boss, bob", len(ds))
	}
	for _, d := range ds {
		if strings.Contains(d.HTML, trackerHost) || strings.Contains(d.Text, trackerHost) {
			t.Errorf("%s: the sender's tracker reached the recipient", d.Recipient)
		}
		pixels := strings.Count(d.HTML, ownPixel)
		want := 0
		if d.Recipient == "ann@example.org" {
			want = 1
		}
		if pixels != want {
			t.Errorf("%s: %d pixelgate pixels, want %d", d.Recipient, pixels, want)
		}
		if !strings.Contains(d.HTML, testPublicURL+"/c/") || !strings.Contains(d.Text, testPublicURL+"/c/") {
			t.Errorf("%s: no manage-tracking link", d.Recipient)
		}
		if d.Tracking.Opens != "false" || d.Tracking.Clicks != "false" {
			t.Errorf("%s: ESP tracking %+v, want off", d.Recipient, d.Tracking)
		}
		if d.Recipient == "bob@example.org" && !strings.Contains(d.HTML, "Hello Bob") {
			t.Errorf("bob's own substitution lost: %s", d.HTML)
		}
	}
	// Each recipient's consent link is their own.
	if link(ds[0].HTML) == link(ds[1].HTML) || link(ds[1].HTML) == link(ds[2].HTML) {
		t.Error("two recipients share a consent link")
	}
	if n := testutil.ToFloat64(h.metrics.TrackingForced.WithLabelValues("sendgrid", "open_tracking")); n != 1 {
		t.Errorf("open tracking override counted %v times, want 1", n)
	}
}

func link(html string) string {
	i := strings.Index(html, testPublicURL+"/c/")
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(html[i:], '"')
	return html[i : i+j]
}

// What pixelgate refuses comes back in SendGrid's error format, and
// nothing reaches SendGrid.
func TestSendGridRefusalsInSendGridFormat(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	h := newHarness(t, fake.URL(), func(c *Config) { c.MaxBodyBytes = 64 << 10 })
	good := string(sgmail.GetRequestBody(campaignMail()))
	cases := []struct {
		name, body string
		status     int
		field, msg string
	}{
		{"not json", `{"personalizations":`, 400, "", "not a JSON object"},
		{"stored template", strings.Replace(good, `"from"`, `"template_id":"d-123","from"`, 1), 400, "template_id", "cannot be checked"},
		{"amp content", strings.Replace(good, `"type":"text/plain"`, `"type":"text/x-amp-html"`, 1), 400, "content.0.type", "cannot be checked"},
		{"bad address", strings.Replace(good, "bob@example.org", "bob at example", 1), 400, "personalizations.1.to.0.email", "valid address"},
		{"not utf-8", strings.Replace(good, "Hello -name-,", "Hello \xff,", 1), 400, "", "UTF-8"},
		{"too large", strings.Replace(good, "the sale is on.", strings.Repeat("x", 70<<10), 1), 413, "", "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := sendGridVia(t, h, espfake.DefaultSendGridKey, []byte(tc.body))
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, res.Body)
			}
			var e struct {
				Errors []struct {
					Message string  `json:"message"`
					Field   *string `json:"field"`
				} `json:"errors"`
			}
			if err := json.Unmarshal([]byte(res.Body), &e); err != nil || len(e.Errors) != 1 {
				t.Fatalf("not SendGrid's error format: %s", res.Body)
			}
			if !strings.Contains(e.Errors[0].Message, tc.msg) || (tc.field != "" && (e.Errors[0].Field == nil || *e.Errors[0].Field != tc.field)) {
				t.Errorf("error %+v, want field %q and %q", e.Errors[0], tc.field, tc.msg)
			}
		})
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d refused calls reached SendGrid", n)
	}
}

// Attachments and inline images reach SendGrid byte for byte, and fields
// pixelgate does not know pass through untouched.
func TestSendGridAttachmentsAndUnknownFieldsUntouched(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	h := newHarness(t, fake.URL())
	m := campaignMail()
	pdf := sgmail.NewAttachment()
	pdf.SetContent("JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K")
	pdf.SetType("application/pdf")
	pdf.SetFilename("terms.pdf")
	logo := sgmail.NewAttachment()
	logo.SetContent("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
	logo.SetType("image/png")
	logo.SetFilename("logo.png")
	logo.SetDisposition("inline")
	logo.SetContentID("logo")
	m.AddAttachment(pdf, logo)
	m.SetASM(sgmail.NewASM().SetGroupID(42))
	body := sgmail.GetRequestBody(m)
	if res := sendGridVia(t, h, espfake.DefaultSendGridKey, body); res.StatusCode != http.StatusAccepted {
		t.Fatalf("answer %d %s", res.StatusCode, res.Body)
	}
	var sent, got map[string]json.RawMessage
	if err := json.Unmarshal(body, &sent); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(fake.Requests()[0].Body, &got); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"attachments", "asm", "from", "categories", "subject"} {
		if !jsonEqual(t, sent[field], got[field]) {
			t.Errorf("%s changed on the way:\n sent %s\n  got %s", field, sent[field], got[field])
		}
	}
}

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
