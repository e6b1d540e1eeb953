package espapi

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailgun/mailgun-go/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pixelgate/pixelgate/proxy/espapi/espfake"
)

const mgDomain = "mg.shop.example"

// mailgunSDK is the official client pointed at the front: the one line
// of configuration a sender changes.
func mailgunSDK(h *harness) *mailgun.MailgunImpl {
	mg := mailgun.NewMailgun(mgDomain, espfake.DefaultMailgunKey)
	mg.SetAPIBase(h.url + "/mailgun/v3")
	return mg
}

// pixelgatePixel is the pixel the engine puts into a granted copy.
var pixelgatePixel = regexp.MustCompile(`https://track\.pixelgate\.test/o/[^"' ]*\.gif`)

const mgTracker = "open.example.net"

// mgHTML hides the ESP tracker in a recipient variable: pixelgate must
// expand the client's variables before the rewrite to see it.
const mgHTML = `<html><body><p>Hello %recipient.name%</p>%recipient.px%` +
	`<a href="https://shop.example.com/sale">Sale</a></body></html>`

func mgPixel(uid string) string {
	return `<img src="https://open.example.net/track/open?u=` + uid + `" width="1" height="1">`
}

// mgFields reads one upstream request's form fields (values only).
func mgFields(t *testing.T, r espfake.Request) map[string][]string {
	t.Helper()
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("upstream content type: %v", err)
	}
	out := map[string][]string{}
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("upstream body: %v", err)
		}
		b, _ := io.ReadAll(p)
		out[p.FormName()] = append(out[p.FormName()], string(b))
	}
}

func TestMailgunSDKEachRecipientOwnCopy(t *testing.T) {
	fake := espfake.New(t, espfake.Options{MailgunDomain: mgDomain})
	h := newHarness(t, fake.URL())
	h.grant("granted@example.org")

	m := mailgun.NewMessage("Shop <news@shop.example>", "Hi %recipient.name%", "Hello %recipient.name%")
	m.SetHTML(mgHTML)
	for _, r := range []struct{ addr, name, uid string }{
		{"Granted <granted@example.org>", "Ann", "u1"}, {"b@example.org", "Bob", "u2"},
	} {
		if err := m.AddRecipientAndVariables(r.addr, map[string]any{"name": r.name, "px": mgPixel(r.uid)}); err != nil {
			t.Fatal(err)
		}
	}
	m.Specific.(*mailgun.PlainMessage).AddCC("c@example.org")
	m.SetTracking(true)
	m.SetTrackingOpens(true)
	m.SetTrackingClicks(true)
	m.AddHeader("X-Pixelgate-Campaign", "spring")
	msg, id, err := mailgunSDK(h).Send(t.Context(), m)
	if err != nil || msg != "Queued. Thank you." || !strings.HasSuffix(id, "@"+mgDomain+">") {
		t.Fatalf("send: %q %q %v", msg, id, err)
	}

	ds := fake.Deliveries()
	if len(ds) != 3 {
		t.Fatalf("%d deliveries, want one per recipient: %+v", len(ds), ds)
	}
	got := map[string]espfake.Delivery{}
	for _, d := range ds {
		if _, dup := got[d.Recipient]; dup {
			t.Fatalf("%s got two copies", d.Recipient)
		}
		got[d.Recipient] = d
		if strings.Contains(d.HTML, mgTracker) || strings.Contains(d.Text, mgTracker) {
			t.Errorf("%s: the ESP tracker is left: %s", d.Recipient, d.HTML)
		}
		if d.Field != "to" || d.Credential != espfake.DefaultMailgunKey {
			t.Errorf("%s: field %q credential %q", d.Recipient, d.Field, d.Credential)
		}
		if d.Tracking != (espfake.Tracking{All: "no", Opens: "no", Clicks: "no"}) {
			t.Errorf("%s: tracking %+v", d.Recipient, d.Tracking)
		}
		for k := range d.Headers {
			if strings.HasPrefix(strings.ToLower(k), "x-pixelgate-") {
				t.Errorf("%s: header %s went upstream", d.Recipient, k)
			}
		}
	}
	if n := len(pixelgatePixel.FindAllString(got["granted@example.org"].HTML, -1)); n != 1 {
		t.Errorf("granted copy has %d pixelgate pixels, want 1: %s", n, got["granted@example.org"].HTML)
	}
	for _, a := range []string{"b@example.org", "c@example.org"} {
		d, ok := got[a]
		if !ok {
			t.Fatalf("no copy for %s", a)
		}
		if pixelgatePixel.MatchString(d.HTML) {
			t.Errorf("%s has a pixel without consent: %s", a, d.HTML)
		}
	}
	if d := got["b@example.org"]; d.Subject != "Hi Bob" || !strings.Contains(d.HTML, "Hello Bob") {
		t.Errorf("bob's variables: subject %q html %s", d.Subject, d.HTML)
	}
	// One client call, one upstream call: every recipient in "to", each
	// sent their own message by Mailgun's batch sending
	// (recipient-variables), nobody in cc or bcc.
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d upstream calls, want the client's one call to stay one", len(reqs))
	}
	f := mgFields(t, reqs[0])
	if len(f["to"]) != 3 || f["cc"] != nil || f["bcc"] != nil || len(f["recipient-variables"]) != 1 {
		t.Errorf("upstream call addressed to %v cc %v bcc %v, recipient-variables %d", f["to"], f["cc"], f["bcc"], len(f["recipient-variables"]))
	}
	if reqs[0].Header.Get("Authorization") == "" || reqs[0].Credential != espfake.DefaultMailgunKey {
		t.Errorf("credential not forwarded unchanged: %q", reqs[0].Credential)
	}
	for _, s := range []string{"o:tracking", "o:tracking-opens", "o:tracking-clicks"} {
		if v := testutil.ToFloat64(h.metrics.TrackingForced.WithLabelValues("mailgun", s)); v != 1 {
			t.Errorf("tracking overridden %s: %v", s, v)
		}
	}
}

func TestMailgunURLEncodedCommaList(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	h := newHarness(t, fake.URL())
	form := url.Values{
		"from": {"news@shop.example"}, "subject": {"Sale"},
		"to":       {`"Ann, A." <ann@example.org>, bob@example.org`},
		"html":     {`<p>Hi</p><img src="https://open.example.net/track/open?u=1" width="1" height="1">`},
		"v:my-var": {"kept"}, "o:tracking-opens": {"no"},
	}
	status, body := mgPost(t, h, "/mailgun/v3/"+mgDomain+"/messages", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if status != http.StatusOK || !strings.Contains(body, "Queued. Thank you.") {
		t.Fatalf("status %d %s", status, body)
	}
	ds := fake.Deliveries()
	if len(ds) != 2 || ds[0].Args["my-var"] != "kept" {
		t.Fatalf("deliveries: %+v", ds)
	}
	for _, d := range ds {
		if strings.Contains(d.HTML, mgTracker) {
			t.Errorf("tracker left for %s", d.Recipient)
		}
	}
	if v := testutil.ToFloat64(h.metrics.TrackingForced.WithLabelValues("mailgun", "o:tracking-opens")); v != 0 {
		t.Errorf("a client's no counted as overridden: %v", v)
	}
}

func mgPost(t *testing.T, h *harness, path, ct string, body []byte) (int, string) {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth("api", espfake.DefaultMailgunKey)
	r.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMailgunAttachmentsByteIdentical(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	h := newHarness(t, fake.URL())
	att := make([]byte, 70000)
	if _, err := rand.Read(att); err != nil {
		t.Fatal(err)
	}
	att = append(att, "\r\n--not-a-boundary\xff\x00"...)
	img := []byte("\x89PNG\r\n\x1a\n\x00\x00 inline image bytes \xfe")
	m := mailgun.NewMessage("news@shop.example", "Invoice", "See attached", "ann@example.org")
	m.SetHTML(`<p>Invoice</p><img src="cid:logo.png">`)
	m.AddBufferAttachment("invoice.bin", att)
	m.AddReaderInline("logo.png", io.NopCloser(bytes.NewReader(img)))
	if _, _, err := mailgunSDK(h).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	rs := fake.Requests()
	if len(rs) != 1 {
		t.Fatalf("%d upstream calls, want 1", len(rs))
	}
	_, params, _ := mime.ParseMediaType(rs[0].Header.Get("Content-Type"))
	mr := multipart.NewReader(bytes.NewReader(rs[0].Body), params["boundary"])
	files := map[string][]byte{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.FileName() != "" {
			files[p.FormName()+"/"+p.FileName()], _ = io.ReadAll(p)
		}
	}
	if !bytes.Equal(files["attachment/invoice.bin"], att) || !bytes.Equal(files["inline/logo.png"], img) {
		t.Errorf("files upstream differ: %d files, attachment %d bytes (want %d)", len(files), len(files["attachment/invoice.bin"]), len(att))
	}
	if ds := fake.Deliveries(); len(ds) != 1 || ds[0].Attachments != 2 {
		t.Errorf("deliveries: %+v", ds)
	}
}

func TestMailgunUpstreamFailures(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusInternalServerError, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			fake := espfake.New(t, espfake.Options{})
			h := newHarness(t, fake.URL())
			fake.FailNext(1, status)
			_, _, err := mailgunSDK(h).Send(t.Context(), mailgun.NewMessage("news@shop.example", "s", "x", "ann@example.org"))
			var ue *mailgun.UnexpectedResponseError
			if !errors.As(err, &ue) || ue.Actual != status {
				t.Fatalf("err %v, want the ESP's %d", err, status)
			}
			want, _ := json.Marshal(map[string]string{"message": http.StatusText(status)})
			if strings.TrimSpace(string(ue.Data)) != string(want) {
				t.Errorf("body %s, want the ESP's %s unchanged", ue.Data, want)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		fake := espfake.New(t, espfake.Options{})
		h := newHarness(t, fake.URL(), func(c *Config) { c.UpstreamTimeout = 200 * time.Millisecond })
		fake.Delay(5 * time.Second)
		_, _, err := mailgunSDK(h).Send(t.Context(), mailgun.NewMessage("news@shop.example", "s", "x", "ann@example.org"))
		mgWantError(t, err, http.StatusGatewayTimeout, "did not answer in time")
	})
	t.Run("unreachable", func(t *testing.T) {
		h := newHarness(t, deadUpstream(t))
		_, _, err := mailgunSDK(h).Send(t.Context(), mailgun.NewMessage("news@shop.example", "s", "x", "ann@example.org"))
		mgWantError(t, err, http.StatusBadGateway, "could not be reached")
	})
}

// mgWantError checks an SDK error is pixelgate's refusal in Mailgun's
// {"message"} format.
func mgWantError(t *testing.T, err error, status int, text string) {
	t.Helper()
	var ue *mailgun.UnexpectedResponseError
	if !errors.As(err, &ue) || ue.Actual != status {
		t.Fatalf("err %v, want %d", err, status)
	}
	var body map[string]string
	if json.Unmarshal(ue.Data, &body) != nil || len(body) != 1 || !strings.Contains(body["message"], text) {
		t.Errorf("body %s, want Mailgun's {\"message\"} with %q", ue.Data, text)
	}
}

func TestMailgunSplitRetryNeverSendsACopyTwice(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	h := newHarness(t, fake.URL(), func(c *Config) { c.CopyConcurrency = 1 })
	rcpts := []string{"a@example.org", "b@example.org", "c@example.org"}
	newMessage := func() *mailgun.Message {
		m := mailgun.NewMessage("news@shop.example", "s", "x")
		m.SetHTML("<p>Hello</p><p>%recipient.statement%</p>")
		for i, a := range rcpts {
			// Each recipient's own 25 KB statement: more than pixelgate
			// puts in one recipient's variables, so the copies cannot
			// travel as one template and the call is split.
			if err := m.AddRecipientAndVariables(a, map[string]any{"statement": strings.Repeat(string(rune('a'+i)), 25000)}); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	send := func() error {
		// A new message each time, as a client's retry builds it: the SDK
		// draws a new multipart boundary for every call.
		_, _, err := mailgunSDK(h).Send(t.Context(), newMessage())
		return err
	}
	fake.FailNext(1, http.StatusServiceUnavailable)
	err := send()
	var ue *mailgun.UnexpectedResponseError
	if !errors.As(err, &ue) || ue.Actual != http.StatusServiceUnavailable {
		t.Fatalf("first attempt: %v, want the ESP's 503", err)
	}
	if n, d := len(fake.Requests()), len(fake.Deliveries()); n != 3 || d != 2 {
		t.Fatalf("first attempt: %d calls, %d delivered; want 3 and 2", n, d)
	}
	if err := send(); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := len(fake.Requests()); n != 4 {
		t.Fatalf("retry made %d calls, want only the missing copy's", n-3)
	}
	seen := map[string]int{}
	for _, d := range fake.Deliveries() {
		seen[d.Recipient]++
	}
	for _, a := range rcpts {
		if seen[a] != 1 {
			t.Errorf("%s received %d copies", a, seen[a])
		}
	}
	// A third attempt finds everything delivered: Mailgun's answer, no call.
	msg, id, err := mailgunSDK(h).Send(t.Context(), newMessage())
	if err != nil || msg != "Queued. Thank you." || id != "" || len(fake.Requests()) != 4 {
		t.Errorf("third attempt: %q %q %v, %d calls", msg, id, err, len(fake.Requests()))
	}
}

func TestMailgunBadInputRefused(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	h := newHarness(t, fake.URL(), func(c *Config) { c.MaxBodyBytes = 200000 })
	const path = "/mailgun/v3/" + mgDomain + "/messages"
	form := func(kv ...string) ([]byte, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for i := 0; i < len(kv); i += 2 {
			_ = mw.WriteField(kv[i], kv[i+1])
		}
		_ = mw.Close()
		return b.Bytes(), mw.FormDataContentType()
	}
	ok := []string{"from", "news@shop.example", "to", "ann@example.org", "subject", "s"}
	var many []string
	for i := range 1001 {
		many = append(many, "r"+strconv.Itoa(i)+"@example.org")
	}
	cases := []struct {
		name, status, text string
		body               []byte
		ct                 string
	}{
		{name: "malformed multipart", text: "multipart", body: []byte("--b\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\nann@example.org\r\n--b"), ct: "multipart/form-data; boundary=b"},
		{name: "no boundary", text: "boundary", body: []byte("x"), ct: "multipart/form-data"},
		{name: "json body", text: "multipart/form-data or application/x-www-form-urlencoded", body: []byte(`{}`), ct: "application/json"},
		{name: "bad urlencoded", text: "malformed", body: []byte("to=%zz"), ct: "application/x-www-form-urlencoded"},
		{name: "oversize", status: "413", text: "larger than 200000 bytes", body: bytes.Repeat([]byte("a"), 300000), ct: "application/x-www-form-urlencoded"},
	}
	add := func(name, text string, kv ...string) {
		b, ct := form(append(append([]string{}, ok...), kv...)...)
		cases = append(cases, struct {
			name, status, text string
			body               []byte
			ct                 string
		}{name: name, text: text, body: b, ct: ct})
	}
	add("not utf-8", "html is not valid UTF-8", "html", "<p>caf\xe9</p>")
	add("stored template", "template: content stored at Mailgun", "template", "spring-sale")
	add("template version", "t:version: content stored at Mailgun", "text", "x", "t:version", "v2")
	add("amp", "amp-html: AMP content cannot be checked", "html", "<p>x</p>", "amp-html", "<html amp4email></html>")
	add("no content", "Need at least one of 'text' or 'html'")
	add("twice html", "html is given more than once", "html", "<p>a</p>", "html", "<p>b</p>")
	add("bad variables", "recipient-variables must be a JSON object", "text", "x", "recipient-variables", "[1]")
	add("bad address", "to parameter is not a valid address", "text", "x", "to", "not an address")
	add("too many", "Too many recipients", "text", "x", "to", strings.Join(many, ", "))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := mgPost(t, h, path, c.ct, c.body)
			want := "400"
			if c.status != "" {
				want = c.status
			}
			var e map[string]string
			if strconv.Itoa(status) != want || json.Unmarshal([]byte(body), &e) != nil || len(e) != 1 || !strings.Contains(e["message"], c.text) {
				t.Errorf("got %d %s, want %s {\"message\": ...%q...}", status, body, want, c.text)
			}
		})
	}
	// Through the SDK, too: its stored-template call is refused in
	// Mailgun's format.
	m := mailgun.NewMessage("news@shop.example", "s", "", "ann@example.org")
	m.Specific.(*mailgun.PlainMessage).SetTemplate("spring-sale")
	_, _, err := mailgunSDK(h).Send(t.Context(), m)
	mgWantError(t, err, http.StatusBadRequest, "content stored at Mailgun")
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d calls reached the ESP; refused calls send nothing", n)
	}
}

func TestMailgunMIMEEachRecipientOwnCall(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	h := newHarness(t, fake.URL())
	h.grant("ann@example.org")
	raw := "From: Shop <news@shop.example>\nTo: customers@shop.example\nSubject: Sale\n" +
		"X-Pixelgate-Campaign: spring\nX-Mailgun-Track: yes\n" +
		"MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=b\n\n" +
		"--b\nContent-Type: text/plain; charset=utf-8\n\nHello\n" +
		"--b\nContent-Type: text/html; charset=utf-8\n\n<p>Hello</p>" +
		`<img src="https://open.example.net/track/open?u=42" width="1" height="1">` + "\n--b--\n"
	m := mailgun.NewMIMEMessage(io.NopCloser(strings.NewReader(raw)), "ann@example.org", "bob@example.org")
	m.SetTrackingOpens(true)
	msg, _, err := mailgunSDK(h).Send(t.Context(), m)
	if err != nil || msg != "Queued. Thank you." {
		t.Fatalf("send: %q %v", msg, err)
	}
	rs := fake.Requests()
	if len(rs) != 2 {
		t.Fatalf("%d upstream calls, want one per recipient", len(rs))
	}
	for _, r := range rs {
		if f := mgFields(t, r); len(f["to"]) != 1 || f["o:tracking-opens"][0] != "no" {
			t.Errorf("upstream fields %v", f)
		}
	}
	ds := fake.Deliveries()
	if len(ds) != 2 {
		t.Fatalf("deliveries %+v", ds)
	}
	for _, d := range ds {
		if strings.Contains(d.HTML, mgTracker) {
			t.Errorf("%s: tracker left", d.Recipient)
		}
		if d.Headers["X-Pixelgate-Campaign"] != "" || d.Headers["X-Mailgun-Track"] != "no" {
			t.Errorf("%s: headers %v", d.Recipient, d.Headers)
		}
		pixels := len(pixelgatePixel.FindAllString(d.HTML, -1))
		if want := map[string]int{"ann@example.org": 1, "bob@example.org": 0}[d.Recipient]; pixels != want {
			t.Errorf("%s: %d pixelgate pixels, want %d", d.Recipient, pixels, want)
		}
	}
}

// The override metric's labels are a fixed set, whatever spelling of a
// tracking header field the client sends (R8: no client text in labels).
func TestMailgunTrackHeaderOverrideLabels(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	h := newHarness(t, fake.URL())
	for _, name := range []string{"h:x-mailgun-track-opens", "h:X-MAILGUN-TRACK-OPENS", "h:X-Mailgun-Track-Opens-Extra"} {
		form := url.Values{"from": {"news@shop.example"}, "to": {"ann@example.org"}, "text": {"x"}, name: {"yes"}}
		if status, body := mgPost(t, h, "/mailgun/v3/"+mgDomain+"/messages", "application/x-www-form-urlencoded", []byte(form.Encode())); status != http.StatusOK {
			t.Fatalf("%s: %d %s", name, status, body)
		}
	}
	if n := testutil.CollectAndCount(h.metrics.TrackingForced); n != 1 {
		t.Errorf("%d label sets, want 1", n)
	}
	if v := testutil.ToFloat64(h.metrics.TrackingForced.WithLabelValues("mailgun", "h:X-Mailgun-Track-Opens")); v != 2 {
		t.Errorf("h:X-Mailgun-Track-Opens overridden %v times, want 2", v)
	}
	for _, d := range fake.Deliveries() {
		for k, v := range d.Headers {
			if strings.EqualFold(k, "X-Mailgun-Track-Opens") && v != "no" {
				t.Errorf("%s: %s", k, v)
			}
		}
	}
}
