package espfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mailgun/mailgun-go/v4"
	"github.com/mrz1836/postmark"
	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"
	sgmail "github.com/sendgrid/sendgrid-go/helpers/mail"

	"github.com/pixelgate/pixelgate/proxy/espapi/espfake"
)

const proxyAuth = "Basic cGl4ZWxnYXRlOnNlY3JldA=="

// sendGrid posts body with the official SDK's request shape: GetRequest
// with the fake as host, plus a Proxy-Authorization header.
func sendGrid(t *testing.T, f *espfake.Fake, key string, body []byte) *rest.Response {
	t.Helper()
	return espfake.SendGridCall(t, t.Context(), f.URL(), key, body, map[string]string{"Proxy-Authorization": proxyAuth})
}

type sgErrors struct {
	Errors []struct {
		Message string  `json:"message"`
		Field   *string `json:"field"`
		Help    any     `json:"help"`
	} `json:"errors"`
}

func decodeSG(t *testing.T, body string) sgErrors {
	t.Helper()
	var e sgErrors
	if err := json.Unmarshal([]byte(body), &e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("not a SendGrid error body (%v): %q", err, body)
	}
	return e
}

func TestSendGridSDKSendIsExpandedPerPersonalization(t *testing.T) {
	f := espfake.New(t, espfake.Options{})
	m := sgmail.NewV3Mail()
	m.SetFrom(sgmail.NewEmail("Shop", "news@shop.example"))
	m.Subject = "Hello -name-"
	m.AddContent(sgmail.NewContent("text/plain", "Hi -name-, code -code-"),
		sgmail.NewContent("text/html", "<p>Hi -name-</p><img src=\"https://t.example/o.gif\">"))
	p1 := sgmail.NewPersonalization()
	p1.AddTos(sgmail.NewEmail("Ann", "ann@example.org"))
	p1.AddCCs(sgmail.NewEmail("", "boss@example.org"))
	p1.SetSubstitution("-name-", "Ann")
	p1.SetSubstitution("-code-", "A1")
	p2 := sgmail.NewPersonalization()
	p2.AddTos(sgmail.NewEmail("", "bob@example.org"))
	p2.SetSubstitution("-name-", "Bob")
	p2.Subject = "Own subject -name-"
	m.AddPersonalizations(p1, p2)
	m.AddCategories("spring", "sale")
	m.SetHeader("X-Campaign", "c42")
	ts := sgmail.NewTrackingSettings()
	ts.SetOpenTracking(sgmail.NewOpenTrackingSetting().SetEnable(false))
	ts.SetClickTracking(sgmail.NewClickTrackingSetting().SetEnable(false).SetEnableText(false))
	m.SetTrackingSettings(ts)

	res := sendGrid(t, f, espfake.DefaultSendGridKey, sgmail.GetRequestBody(m))
	if res.StatusCode != http.StatusAccepted || res.Body != "" || len(res.Headers["X-Message-Id"]) != 1 {
		t.Fatalf("answer %d %q %v, want 202, empty body, X-Message-Id", res.StatusCode, res.Body, res.Headers)
	}
	ds := f.Deliveries()
	if len(ds) != 3 {
		t.Fatalf("%d deliveries, want 3 (ann, boss, bob): %+v", len(ds), ds)
	}
	byRcpt := map[string]espfake.Delivery{}
	for _, d := range ds {
		byRcpt[d.Recipient] = d
	}
	ann, boss, bob := byRcpt["ann@example.org"], byRcpt["boss@example.org"], byRcpt["bob@example.org"]
	if ann.Subject != "Hello Ann" || ann.Text != "Hi Ann, code A1" || !strings.Contains(ann.HTML, "<p>Hi Ann</p>") {
		t.Errorf("ann got %q / %q / %q", ann.Subject, ann.Text, ann.HTML)
	}
	if boss.Field != "cc" || boss.Text != ann.Text {
		t.Errorf("the cc of a personalization gets its email: %+v", boss)
	}
	if bob.Subject != "Own subject Bob" || bob.Text != "Hi Bob, code -code-" {
		t.Errorf("bob got %q / %q", bob.Subject, bob.Text)
	}
	if ann.From != "news@shop.example" || ann.Headers["X-Campaign"] != "c42" ||
		ann.Tracking != (espfake.Tracking{Opens: "false", Clicks: "false", ClicksText: "false"}) ||
		strings.Join(ann.Tags, ",") != "spring,sale" {
		t.Errorf("ann: %+v", ann)
	}
	if ann.Credential != espfake.DefaultSendGridKey || ann.MessageID != res.Headers["X-Message-Id"][0] {
		t.Errorf("credential %q, id %q", ann.Credential, ann.MessageID)
	}
	reqs := f.Requests()
	if len(reqs) != 1 || reqs[0].Header.Get("Proxy-Authorization") != proxyAuth || reqs[0].Status != 202 ||
		reqs[0].Header.Get("Authorization") != "Bearer "+espfake.DefaultSendGridKey {
		t.Errorf("request record: %+v", reqs)
	}
}

func TestSendGridRefusesWhatSendGridRefuses(t *testing.T) {
	f := espfake.New(t, espfake.Options{})
	valid := func() map[string]any {
		return map[string]any{
			"personalizations": []any{map[string]any{"to": []any{map[string]any{"email": "a@example.org"}}}},
			"from":             map[string]any{"email": "s@shop.example"},
			"subject":          "s",
			"content":          []any{map[string]any{"type": "text/plain", "value": "x"}},
		}
	}
	many := make([]any, 1001)
	for i := range many {
		many[i] = map[string]any{"email": fmt.Sprintf("r%d@example.org", i)}
	}
	cats := make([]string, 11)
	for i := range cats {
		cats[i] = fmt.Sprint("c", i)
	}
	for _, tc := range []struct {
		name  string
		edit  func(m map[string]any)
		raw   string
		field string
	}{
		{"missing from", func(m map[string]any) { delete(m, "from") }, "", "from.email"},
		{"1001 recipients", func(m map[string]any) {
			m["personalizations"] = []any{map[string]any{"to": many}}
		}, "", "personalizations"},
		{"no personalization", func(m map[string]any) { m["personalizations"] = []any{} }, "", "personalizations"},
		{"to missing", func(m map[string]any) {
			m["personalizations"] = []any{map[string]any{"cc": []any{map[string]any{"email": "c@example.org"}}}}
		}, "", "personalizations.0.to"},
		{"bad address", func(m map[string]any) {
			m["personalizations"] = []any{map[string]any{"to": []any{map[string]any{"email": "Ann <a@example.org>"}}}}
		}, "", "personalizations.0.to.0.email"},
		{"11 categories", func(m map[string]any) { m["categories"] = cats }, "", "categories"},
		{"html before plain", func(m map[string]any) {
			m["content"] = []any{map[string]any{"type": "text/html", "value": "<p>x"}, map[string]any{"type": "text/plain", "value": "x"}}
		}, "", "content"},
		{"no content", func(m map[string]any) { delete(m, "content") }, "", "content"},
		{"no subject", func(m map[string]any) { delete(m, "subject") }, "", "subject"},
		{"reserved header", func(m map[string]any) { m["headers"] = map[string]string{"From": "x@y.z"} }, "", "headers"},
		{"unknown field", func(m map[string]any) { m["tracking"] = true }, "", "tracking"},
		{"enable not boolean", func(m map[string]any) {
			m["tracking_settings"] = map[string]any{"open_tracking": map[string]any{"enable": "no"}}
		}, "", "tracking_settings.open_tracking.enable"},
		{"send_at beyond 72 hours", func(m map[string]any) { m["send_at"] = time.Now().Add(100 * time.Hour).Unix() }, "", "send_at"},
		{"not JSON", nil, `{"personalizations":`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.raw)
			if tc.edit != nil {
				m := valid()
				tc.edit(m)
				body, _ = json.Marshal(m)
			}
			res := sendGrid(t, f, espfake.DefaultSendGridKey, body)
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d (%s), want 400", res.StatusCode, res.Body)
			}
			e := decodeSG(t, res.Body)
			var fields []string
			for _, x := range e.Errors {
				if x.Field != nil {
					fields = append(fields, *x.Field)
				}
			}
			if tc.field != "" && !strings.Contains(","+strings.Join(fields, ",")+",", ","+tc.field+",") {
				t.Errorf("fields %v, want %s: %s", fields, tc.field, res.Body)
			}
		})
	}
	if n := len(f.Deliveries()); n != 0 {
		t.Errorf("%d deliveries from refused requests", n)
	}
	// The valid body itself passes, so each refusal above is its edit's.
	ok, _ := json.Marshal(valid())
	if res := sendGrid(t, f, espfake.DefaultSendGridKey, ok); res.StatusCode != 202 {
		t.Fatalf("valid body: %d %s", res.StatusCode, res.Body)
	}
}

func TestSendGridAuthAsSendGrid(t *testing.T) {
	f := espfake.New(t, espfake.Options{SendGridKey: "SG.right"})
	body := []byte(`{}`)
	res := sendGrid(t, f, "SG.wrong", body)
	if res.StatusCode != 401 || decodeSG(t, res.Body).Errors[0].Message != "The provided authorization grant is invalid, expired, or revoked" {
		t.Errorf("wrong key: %d %s", res.StatusCode, res.Body)
	}
	req := sendgrid.GetRequest("", "/v3/mail/send", f.URL())
	delete(req.Headers, "Authorization")
	req.Method, req.Body = rest.Post, body
	res, err := sendgrid.MakeRequest(req)
	if err != nil || res.StatusCode != 401 || decodeSG(t, res.Body).Errors[0].Message != "authorization required" {
		t.Errorf("no key: %v %+v", err, res)
	}
	if rs := f.Requests(); len(rs) != 2 || rs[0].Credential != "SG.wrong" || rs[0].Status != 401 {
		t.Errorf("requests: %+v", rs)
	}
}

// newMailgun is the official client pointed at the fake, with an extra
// header the way mailgun-go adds one.
func newMailgun(f *espfake.Fake, key string) *mailgun.MailgunImpl {
	mg := mailgun.NewMailgun("mg.shop.example", key)
	mg.SetAPIBase(f.URL() + "/v3")
	mg.AddOverrideHeader("Proxy-Authorization", proxyAuth)
	return mg
}

func TestMailgunSDKBatchSendSubstitutesRecipientVariables(t *testing.T) {
	f := espfake.New(t, espfake.Options{MailgunDomain: "mg.shop.example"})
	mg := newMailgun(f, espfake.DefaultMailgunKey)
	m := mailgun.NewMessage("Shop <news@shop.example>", "Hi %recipient.name%", "Code %recipient.code%")
	m.SetHTML("<p>Hi %recipient.name%</p>")
	if err := m.AddRecipientAndVariables("ann@example.org", map[string]any{"name": "Ann", "code": 7}); err != nil {
		t.Fatal(err)
	}
	if err := m.AddRecipientAndVariables("bob@example.org", map[string]any{"name": "Bob", "code": "B"}); err != nil {
		t.Fatal(err)
	}
	if err := m.AddTag("spring", "sale"); err != nil {
		t.Fatal(err)
	}
	m.SetTrackingOpens(false)
	m.SetTrackingClicks(false)
	m.AddHeader("X-Campaign", "c42")
	if err := m.AddVariable("campaign", "c42"); err != nil {
		t.Fatal(err)
	}
	msg, id, err := mg.Send(t.Context(), m)
	if err != nil || msg != "Queued. Thank you." || !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@mg.shop.example>") {
		t.Fatalf("send: %q %q %v", msg, id, err)
	}
	ds := f.Deliveries()
	if len(ds) != 2 {
		t.Fatalf("%d deliveries, want one message per to: %+v", len(ds), ds)
	}
	ann, bob := ds[0], ds[1]
	if ann.Recipient != "ann@example.org" || ann.Subject != "Hi Ann" || ann.Text != "Code 7" || ann.HTML != "<p>Hi Ann</p>" {
		t.Errorf("ann: %+v", ann)
	}
	if bob.Recipient != "bob@example.org" || bob.Subject != "Hi Bob" || bob.Text != "Code B" {
		t.Errorf("bob: %+v", bob)
	}
	if ann.From != "news@shop.example" || ann.Tracking != (espfake.Tracking{Opens: "no", Clicks: "no"}) ||
		strings.Join(ann.Tags, ",") != "spring,sale" || ann.Headers["X-Campaign"] != "c42" ||
		ann.Args["campaign"] != "c42" || ann.Credential != espfake.DefaultMailgunKey || ann.MessageID != id {
		t.Errorf("ann: %+v", ann)
	}
	r := f.Requests()[0]
	if r.Path != "/v3/mg.shop.example/messages" || r.Header.Get("Proxy-Authorization") != proxyAuth ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		t.Errorf("request: %s %v", r.Path, r.Header)
	}
}

func TestMailgunWithoutRecipientVariablesSendsOneMessageToAll(t *testing.T) {
	f := espfake.New(t, espfake.Options{})
	m := mailgun.NewMessage("news@shop.example", "Hi %recipient.name%", "same for all", "ann@example.org", "bob@example.org")
	m.Specific.AddCC("boss@example.org")
	if _, _, err := newMailgun(f, espfake.DefaultMailgunKey).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	ds := f.Deliveries()
	if len(ds) != 3 || ds[0].Subject != "Hi %recipient.name%" || ds[2].Recipient != "boss@example.org" || ds[2].Field != "cc" {
		t.Errorf("deliveries: %+v", ds)
	}
}

func TestMailgunSDKMIMEUpload(t *testing.T) {
	f := espfake.New(t, espfake.Options{})
	raw := "From: Shop <news@shop.example>\r\nTo: ann@example.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n" +
		"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello</p>\r\n--b--\r\n"
	m := mailgun.NewMIMEMessage(io.NopCloser(strings.NewReader(raw)), "ann@example.org")
	m.SetTrackingOpens(false)
	if _, _, err := newMailgun(f, espfake.DefaultMailgunKey).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	ds := f.Deliveries()
	if len(ds) != 1 || ds[0].Subject != "Grüße" || ds[0].Text != "Hello" || ds[0].HTML != "<p>Hello</p>" ||
		ds[0].From != "news@shop.example" || ds[0].Tracking.Opens != "no" {
		t.Errorf("deliveries: %+v", ds)
	}
	if p := f.Requests()[0].Path; p != "/v3/mg.shop.example/messages.mime" {
		t.Errorf("path %s", p)
	}
}

// postForm posts a Mailgun request the SDK would not build.
func postForm(t *testing.T, f *espfake.Fake, ctype string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", f.URL()+"/v3/mg.shop.example/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.SetBasicAuth("api", espfake.DefaultMailgunKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestMailgunRefusesWhatMailgunRefuses(t *testing.T) {
	f := espfake.New(t, espfake.Options{})
	valid := func() url.Values {
		return url.Values{"from": {"news@shop.example"}, "to": {"ann@example.org"}, "subject": {"s"}, "text": {"x"}}
	}
	var many []string
	for i := range 1001 {
		many = append(many, fmt.Sprintf("r%d@example.org", i))
	}
	for _, tc := range []struct {
		name string
		edit func(v url.Values)
		want string
	}{
		{"4 o:tag", func(v url.Values) { v["o:tag"] = []string{"a", "b", "c", "d"} }, "Too many tags"},
		{"missing from", func(v url.Values) { v.Del("from") }, "'from' parameter is missing"},
		{"bad from", func(v url.Values) { v.Set("from", "not an address") }, "'from' parameter is not a valid address"},
		{"missing to", func(v url.Values) { v.Del("to") }, "'to' parameter is missing"},
		{"no body", func(v url.Values) { v.Del("text") }, "Need at least one of 'text', 'html' or 'template'"},
		{"1001 recipients", func(v url.Values) { v["to"] = many }, "Too many recipients"},
		{"bad o:tracking-clicks", func(v url.Values) { v.Set("o:tracking-clicks", "sometimes") }, "'o:tracking-clicks' parameter is invalid"},
		{"bad recipient-variables", func(v url.Values) { v.Set("recipient-variables", "{") }, "not a valid JSON"},
		{"unknown parameter", func(v url.Values) { v.Set("tracking", "no") }, "'tracking' parameter is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := valid()
			tc.edit(v)
			// Urlencoded and multipart must be refused alike.
			var mp bytes.Buffer
			mw := multipart.NewWriter(&mp)
			for k, vals := range v {
				for _, val := range vals {
					_ = mw.WriteField(k, val)
				}
			}
			_ = mw.Close()
			for ctype, body := range map[string][]byte{
				"application/x-www-form-urlencoded": []byte(v.Encode()),
				mw.FormDataContentType():            mp.Bytes(),
			} {
				status, body := postForm(t, f, ctype, body)
				var e struct{ Message string }
				if status != 400 || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Message, tc.want) {
					t.Errorf("%s: %d %s, want 400 {\"message\": %q...}", ctype, status, body, tc.want)
				}
			}
		})
	}
	if status, body := postForm(t, f, "application/x-www-form-urlencoded", []byte(valid().Encode())); status != 200 {
		t.Fatalf("valid form: %d %s", status, body)
	}
	if n := len(f.Deliveries()); n != 1 {
		t.Errorf("%d deliveries, want only the valid form's", n)
	}
}

func TestMailgunAuthAndDomainAsMailgun(t *testing.T) {
	f := espfake.New(t, espfake.Options{MailgunDomain: "mg.shop.example"})
	m := mailgun.NewMessage("news@shop.example", "s", "x", "ann@example.org")
	_, _, err := newMailgun(f, "wrong-key").Send(t.Context(), m)
	var ue *mailgun.UnexpectedResponseError
	if !errors.As(err, &ue) || ue.Actual != 401 || string(ue.Data) != "Forbidden" {
		t.Errorf("wrong key: %v", err)
	}
	other := mailgun.NewMailgun("other.example", espfake.DefaultMailgunKey)
	other.SetAPIBase(f.URL() + "/v3")
	_, _, err = other.Send(t.Context(), mailgun.NewMessage("news@shop.example", "s", "x", "ann@example.org"))
	if !errors.As(err, &ue) || ue.Actual != 404 || !strings.Contains(string(ue.Data), "Domain not found: other.example") {
		t.Errorf("unknown domain: %v", err)
	}
	if f.Requests()[0].Credential != "wrong-key" || len(f.Deliveries()) != 0 {
		t.Errorf("requests %+v", f.Requests())
	}
}

// headerTransport adds a header to every request: the way to add one with
// the Postmark client, which has no header option of its own.
type headerTransport struct{ name, value string }

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.name, h.value)
	return http.DefaultTransport.RoundTrip(r)
}

func newPostmark(f *espfake.Fake, token string) *postmark.Client {
	return &postmark.Client{
		HTTPClient:  &http.Client{Transport: headerTransport{"Proxy-Authorization", proxyAuth}},
		ServerToken: token,
		BaseURL:     f.URL(),
	}
}

func TestPostmarkSDKSendAndBatch(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := espfake.New(t, espfake.Options{Now: func() time.Time { return now }, PostmarkSenders: []string{"@shop.example"}})
	pm := newPostmark(f, espfake.DefaultPostmarkToken)
	res, err := pm.SendEmail(t.Context(), postmark.Email{
		From: "Shop <news@shop.example>", To: "ann@example.org, Bob <bob@example.org>", Cc: "boss@example.org",
		Subject: "Hi", HTMLBody: "<p>Hi</p>", TextBody: "Hi", Tag: "spring", TrackOpens: true, TrackLinks: "None",
		Headers: []postmark.Header{{Name: "X-Campaign", Value: "c42"}}, Metadata: map[string]string{"campaign": "c42"},
		MessageStream: "broadcast",
	})
	if err != nil || res.ErrorCode != 0 || res.Message != "OK" || res.MessageID == "" || !res.SubmittedAt.Equal(now) ||
		res.To != "ann@example.org, Bob <bob@example.org>" {
		t.Fatalf("send: %+v %v", res, err)
	}
	ds := f.Deliveries()
	if len(ds) != 3 || ds[1].Recipient != "bob@example.org" || ds[2].Field != "cc" {
		t.Fatalf("deliveries: %+v", ds)
	}
	if d := ds[0]; d.HTML != "<p>Hi</p>" || d.Tracking != (espfake.Tracking{Opens: "true", Clicks: "None"}) ||
		d.Tags[0] != "spring" || d.Headers["X-Campaign"] != "c42" || d.Args["campaign"] != "c42" ||
		d.Credential != espfake.DefaultPostmarkToken || d.MessageID != res.MessageID {
		t.Errorf("delivery: %+v", d)
	}
	if r := f.Requests()[0]; r.Header.Get("Proxy-Authorization") != proxyAuth || r.Path != "/email" {
		t.Errorf("request %s %v", r.Path, r.Header)
	}

	f.Reset()
	f.PostmarkInactive("bounced@example.org")
	batch, err := pm.SendEmailBatch(t.Context(), []postmark.Email{
		{From: "news@shop.example", To: "ann@example.org", Subject: "1", TextBody: "one"},
		{From: "news@shop.example", To: "bounced@example.org", Subject: "2", TextBody: "two"},
		{From: "news@shop.example", To: "bob@example.org", Subject: "3", TextBody: "three", TrackLinks: "Sometimes"},
		{From: "news@other.example", To: "bob@example.org", Subject: "4", TextBody: "four"},
	})
	if err != nil || len(batch) != 4 {
		t.Fatalf("batch: %+v %v", batch, err)
	}
	for i, want := range []int64{0, 406, 300, 400} {
		if batch[i].ErrorCode != want {
			t.Errorf("element %d: %+v, want ErrorCode %d", i, batch[i], want)
		}
	}
	if ds := f.Deliveries(); len(ds) != 1 || ds[0].Recipient != "ann@example.org" || ds[0].Text != "one" {
		t.Errorf("batch deliveries: %+v", ds)
	}
}

func TestPostmarkRefusesWhatPostmarkRefuses(t *testing.T) {
	f := espfake.New(t, espfake.Options{})
	pm := newPostmark(f, espfake.DefaultPostmarkToken)
	var fifty []string
	for i := range 51 {
		fifty = append(fifty, fmt.Sprintf("r%d@example.org", i))
	}
	for _, tc := range []struct {
		name string
		e    postmark.Email
		code int64
	}{
		{"bad TrackLinks", postmark.Email{From: "a@shop.example", To: "b@example.org", TextBody: "x", TrackLinks: "Always"}, 300},
		{"51 recipients", postmark.Email{From: "a@shop.example", To: strings.Join(fifty[:40], ","), Bcc: strings.Join(fifty[40:], ","), TextBody: "x"}, 300},
		{"missing From", postmark.Email{To: "b@example.org", TextBody: "x"}, 300},
		{"no body", postmark.Email{From: "a@shop.example", To: "b@example.org"}, 300},
		{"no recipient", postmark.Email{From: "a@shop.example", TextBody: "x"}, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pm.SendEmail(t.Context(), tc.e)
			var ae postmark.APIError
			if !errors.As(err, &ae) || ae.ErrorCode != tc.code {
				t.Errorf("err %v, want ErrorCode %d", err, tc.code)
			}
			if r := f.Requests(); r[len(r)-1].Status != http.StatusUnprocessableEntity {
				t.Errorf("status %d, want 422", r[len(r)-1].Status)
			}
		})
	}
	big := make([]postmark.Email, 501)
	for i := range big {
		big[i] = postmark.Email{From: "a@shop.example", To: "b@example.org", TextBody: "x"}
	}
	_, err := pm.SendEmailBatch(t.Context(), big)
	var ae postmark.APIError
	if !errors.As(err, &ae) || ae.ErrorCode != 410 {
		t.Errorf("501 messages: %v, want ErrorCode 410", err)
	}
	for token, want := range map[string]string{"wrong": "was invalid", "": "No Account or Server API tokens"} {
		_, err = newPostmark(f, token).SendEmail(t.Context(), postmark.Email{From: "a@shop.example", To: "b@example.org", TextBody: "x"})
		if !errors.As(err, &ae) || ae.ErrorCode != 10 || !strings.Contains(ae.Message, want) {
			t.Errorf("token %q: %v", token, err)
		}
	}
	// Fields Postmark does not name, and broken JSON.
	for body, code := range map[string]int{`{"From":"a@shop.example","To":"b@example.org","TextBody":"x","TrackOpen":true}`: 403, `{"From":`: 402} {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", f.URL()+"/email", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Postmark-Server-Token", espfake.DefaultPostmarkToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e postmark.APIError
		_ = json.NewDecoder(res.Body).Decode(&e)
		res.Body.Close()
		if res.StatusCode != 422 || e.ErrorCode != int64(code) {
			t.Errorf("%s: %d %+v, want 422 ErrorCode %d", body, res.StatusCode, e, code)
		}
	}
	if n := len(f.Deliveries()); n != 0 {
		t.Errorf("%d deliveries from refused requests", n)
	}
}

func TestFailNextAnswersInTheESPFormatThenRecovers(t *testing.T) {
	f := espfake.New(t, espfake.Options{})
	pm := newPostmark(f, espfake.DefaultPostmarkToken)
	email := postmark.Email{From: "a@shop.example", To: "b@example.org", TextBody: "x"}
	f.FailNext(2, http.StatusServiceUnavailable)
	_, err := pm.SendEmail(t.Context(), email)
	var ae postmark.APIError
	if !errors.As(err, &ae) || ae.ErrorCode != 100 {
		t.Errorf("postmark: %v, want ErrorCode 100", err)
	}
	res := sendGrid(t, f, espfake.DefaultSendGridKey, []byte(`{}`))
	if res.StatusCode != 503 || decodeSG(t, res.Body).Errors[0].Message != "Service Unavailable" {
		t.Errorf("sendgrid: %d %s", res.StatusCode, res.Body)
	}
	if _, err := pm.SendEmail(t.Context(), email); err != nil {
		t.Errorf("third request: %v", err)
	}
	if ds := f.Deliveries(); len(ds) != 1 || ds[0].RequestIndex != 2 {
		t.Errorf("deliveries: %+v", ds)
	}
	f.FailNext(1, http.StatusTooManyRequests)
	status, body := postForm(t, f, "application/x-www-form-urlencoded", []byte("from=a%40shop.example&to=b%40example.org&text=x"))
	if status != 429 || body != "{\"message\":\"Too Many Requests\"}\n" {
		t.Errorf("mailgun: %d %q", status, body)
	}
}

func TestDelayOutlastsTheClientTimeout(t *testing.T) {
	f := espfake.New(t, espfake.Options{})
	f.Delay(time.Minute)
	pm := newPostmark(f, espfake.DefaultPostmarkToken)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := pm.SendEmail(ctx, postmark.Email{From: "a@shop.example", To: "b@example.org", TextBody: "x"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the client's deadline", err)
	}
	f.Delay(0)
	if _, err := pm.SendEmail(t.Context(), postmark.Email{From: "a@shop.example", To: "b@example.org", TextBody: "x"}); err != nil {
		t.Errorf("after Delay(0): %v", err)
	}
	if ds := f.Deliveries(); len(ds) != 1 || ds[0].RequestIndex != 1 {
		t.Errorf("deliveries %+v: the abandoned request must deliver nothing", ds)
	}
}
