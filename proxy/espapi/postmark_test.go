package espapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mrz1836/postmark"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pixelgate/pixelgate/proxy/espapi/espfake"
)

// The official Postmark SDK (github.com/mrz1836/postmark) is the client,
// the ESP fake the upstream.

const (
	pmTracker  = `https://open.tracker.example/track/open?u=`
	pmHTML     = `<html><body><p>Spring sale</p><img src="` + pmTracker + `42" width="1" height="1"><a href="https://shop.example/sale">Sale</a></body></html>`
	pmPixelTag = testPublicURL + "/o/"
)

func newPostmarkFront(t *testing.T, opts ...harnessOption) (*harness, *espfake.Fake, *postmark.Client) {
	t.Helper()
	fake := espfake.New(t, espfake.Options{})
	h := newHarness(t, fake.URL(), opts...)
	return h, fake, pmClient(h.url)
}

func pmClient(url string) *postmark.Client {
	pm := postmark.NewClient(espfake.DefaultPostmarkToken, "")
	pm.BaseURL = url + "/postmark"
	return pm
}

// pmElements reads the messages of every request the fake received.
func pmElements(t *testing.T, fake *espfake.Fake) (paths []string, elems []map[string]json.RawMessage) {
	t.Helper()
	for _, r := range fake.Requests() {
		paths = append(paths, r.Path)
		if r.Path == "/email/batch" {
			var batch []map[string]json.RawMessage
			if err := json.Unmarshal(r.Body, &batch); err != nil {
				t.Fatalf("batch body: %v", err)
			}
			elems = append(elems, batch...)
			continue
		}
		var one map[string]json.RawMessage
		if err := json.Unmarshal(r.Body, &one); err != nil {
			t.Fatalf("email body: %v", err)
		}
		elems = append(elems, one)
	}
	return paths, elems
}

func pmAPIError(t *testing.T, err error) postmark.APIError {
	t.Helper()
	var ae postmark.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want a Postmark API error, got %v", err)
	}
	return ae
}

func TestPostmarkThreeRecipientsOneBatchCall(t *testing.T) {
	h, fake, pm := newPostmarkFront(t)
	h.grant("ann@example.org")
	file := []byte{0, 1, 2, 0xff, 0xfe, '\r', '\n', 'x'}
	logo := bytes.Repeat([]byte{0x89, 'P', 'N', 'G', 0}, 40)
	atts := []postmark.Attachment{
		{Name: "terms.bin", Content: base64.StdEncoding.EncodeToString(file), ContentType: "application/octet-stream"},
		{Name: "logo.png", Content: base64.StdEncoding.EncodeToString(logo), ContentType: "image/png", ContentID: "cid:logo"},
	}
	to := `"Ann" <ann@example.org>, bob@example.org`
	res, err := pm.SendEmail(t.Context(), postmark.Email{
		From: "news@shop.example", To: to, Cc: "Cy <cy@example.org>", Subject: "Sale",
		HTMLBody: pmHTML, TextBody: "Spring sale " + pmTracker + "42", Tag: "spring",
		TrackOpens: true, TrackLinks: "HtmlAndText", Attachments: atts, MessageStream: "broadcast",
		Headers:  []postmark.Header{{Name: "X-Pixelgate-Campaign", Value: "spring-26"}, {Name: "X-Kept", Value: "yes"}},
		Metadata: map[string]string{"order": "7"},
	})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if res.ErrorCode != 0 || res.Message != "OK" || res.To != to || res.MessageID == "" || res.SubmittedAt.IsZero() {
		t.Fatalf("answer: %+v", res)
	}
	paths, elems := pmElements(t, fake)
	if len(paths) != 1 || paths[0] != "/email/batch" || len(elems) != 3 {
		t.Fatalf("want one /email/batch call of 3 elements, got %v and %d elements", paths, len(elems))
	}
	ds := fake.Deliveries()
	if len(ds) != 3 {
		t.Fatalf("want 3 deliveries, got %d", len(ds))
	}
	got := map[string]espfake.Delivery{}
	for _, d := range ds {
		if d.Field != "to" {
			t.Errorf("%s addressed as %s, want each copy To its recipient alone", d.Recipient, d.Field)
		}
		got[d.Recipient] = d
		if d.Credential != espfake.DefaultPostmarkToken {
			t.Errorf("credential %q", d.Credential)
		}
		if d.Tracking.Opens != "false" || d.Tracking.Clicks != "None" {
			t.Errorf("%s: tracking %+v, want off", d.Recipient, d.Tracking)
		}
		if strings.Contains(d.HTML, "open.tracker.example") {
			t.Errorf("%s: tracker left in the copy", d.Recipient)
		}
		if _, ok := d.Headers["X-Pixelgate-Campaign"]; ok || d.Headers["X-Kept"] != "yes" {
			t.Errorf("%s: headers %v", d.Recipient, d.Headers)
		}
		if d.Attachments != 2 || d.Args["order"] != "7" || d.Tags[0] != "spring" {
			t.Errorf("%s: fields lost: %+v", d.Recipient, d)
		}
	}
	for addr, want := range map[string]int{"ann@example.org": 1, "bob@example.org": 0, "cy@example.org": 0} {
		if n := strings.Count(got[addr].HTML, pmPixelTag); n != want {
			t.Errorf("%s: %d pixelgate pixels, want %d", addr, n, want)
		}
	}
	if !strings.Contains(got["ann@example.org"].HTML, ".gif") {
		t.Error("granted copy: pixel is not a .gif")
	}
	for _, e := range elems {
		var a []postmark.Attachment
		if err := json.Unmarshal(e["Attachments"], &a); err != nil || len(a) != 2 || a[0] != atts[0] || a[1] != atts[1] {
			t.Fatalf("attachments changed: %s", e["Attachments"])
		}
		if _, ok := e["Cc"]; ok {
			t.Error("Cc left in an element")
		}
		if string(e["MessageStream"]) != `"broadcast"` {
			t.Errorf("MessageStream %s", e["MessageStream"])
		}
	}
	for _, s := range []string{"TrackOpens", "TrackLinks"} {
		if n := testutil.ToFloat64(h.metrics.TrackingForced.WithLabelValues("postmark", s)); n != 1 {
			t.Errorf("override of %s counted %v times, want 1", s, n)
		}
	}
}

func TestPostmarkOneRecipientIsOneEmailCall(t *testing.T) {
	_, fake, pm := newPostmarkFront(t)
	res, err := pm.SendEmail(t.Context(), postmark.Email{From: "news@shop.example", To: "Bob <bob@example.org>",
		Subject: "Hi", HTMLBody: pmHTML})
	if err != nil || res.ErrorCode != 0 || res.MessageID == "" || res.To != `"Bob" <bob@example.org>` {
		t.Fatalf("send: %+v %v", res, err)
	}
	paths, elems := pmElements(t, fake)
	if len(paths) != 1 || paths[0] != "/email" {
		t.Fatalf("paths %v", paths)
	}
	if string(elems[0]["TrackOpens"]) != "false" || string(elems[0]["TrackLinks"]) != `"None"` {
		t.Fatalf("tracking not forced off when the client left it out: %s %s", elems[0]["TrackOpens"], elems[0]["TrackLinks"])
	}
	if fake.Deliveries()[0].MessageID != res.MessageID {
		t.Fatal("Postmark's answer was not passed back")
	}
}

func TestPostmarkBatchOneAnswerPerMessage(t *testing.T) {
	h, fake, pm := newPostmarkFront(t)
	h.grant("cy@example.org")
	batch := []postmark.Email{
		{From: "news@shop.example", To: "ann@example.org, bob@example.org", Subject: "A", HTMLBody: pmHTML, Tag: "a"},
		{From: "news@shop.example", To: "cy@example.org", Subject: "B", HTMLBody: pmHTML, TrackOpens: true},
		{From: "news@shop.example", To: "ann@example.org", Bcc: "dee@example.org", Subject: "C", TextBody: "plain"},
	}
	res, err := pm.SendEmailBatch(t.Context(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("want one answer per message, got %d", len(res))
	}
	for i, r := range res {
		if r.ErrorCode != 0 || r.To != batch[i].To || r.MessageID == "" {
			t.Errorf("answer %d: %+v", i, r)
		}
	}
	ds := fake.Deliveries()
	if len(ds) != 5 || len(fake.Requests()) != 1 {
		t.Fatalf("want 5 copies in one call, got %d in %d", len(ds), len(fake.Requests()))
	}
	pixels := 0
	for _, d := range ds {
		pixels += strings.Count(d.HTML, pmPixelTag)
		if d.Subject == "C" && d.HTML != "" {
			t.Errorf("message C had no HTML body, its copy to %s has one", d.Recipient)
		}
	}
	if pixels != 1 {
		t.Fatalf("want the granted recipient's one pixel, got %d", pixels)
	}
}

func TestPostmarkFailures(t *testing.T) {
	t.Run("ESP errors pass back unchanged", func(t *testing.T) {
		h, fake, _ := newPostmarkFront(t)
		for _, status := range []int{http.StatusUnprocessableEntity, http.StatusServiceUnavailable} {
			for _, to := range []string{"ann@example.org", "ann@example.org, bob@example.org"} {
				fake.FailNext(1, status)
				b, _ := json.Marshal(postmark.Email{From: "news@shop.example", To: to, TextBody: "x"})
				r, _ := http.NewRequest("POST", h.url+"/postmark/email", bytes.NewReader(b))
				r.Header.Set("X-Postmark-Server-Token", espfake.DefaultPostmarkToken)
				resp, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := map[int]string{422: `{"ErrorCode":300,"Message":"Unprocessable Entity"}`,
					503: `{"ErrorCode":100,"Message":"Service Unavailable"}`}[status]
				if resp.StatusCode != status || strings.TrimSpace(string(body)) != want {
					t.Fatalf("%d to %q: got %d %s", status, to, resp.StatusCode, body)
				}
			}
		}
		if len(fake.Deliveries()) != 0 {
			t.Fatal("a refused call delivered")
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		h, fake, _ := newPostmarkFront(t)
		pm := postmark.NewClient("wrong", "")
		pm.BaseURL = h.url + "/postmark"
		_, err := pm.SendEmailBatch(t.Context(), []postmark.Email{{From: "news@shop.example", To: "a@example.org, b@example.org", TextBody: "x"}})
		if ae := pmAPIError(t, err); ae.ErrorCode != 10 {
			t.Fatalf("got %+v", ae)
		}
		if len(fake.Deliveries()) != 0 {
			t.Fatal("delivered with a wrong token")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		_, fake, pm := newPostmarkFront(t, func(c *Config) { c.UpstreamTimeout = 100 * time.Millisecond })
		fake.Delay(2 * time.Second)
		_, err := pm.SendEmail(t.Context(), postmark.Email{From: "news@shop.example", To: "ann@example.org", TextBody: "x"})
		if ae := pmAPIError(t, err); ae.ErrorCode != postmarkServerError || !strings.Contains(ae.Message, "did not answer in time") {
			t.Fatalf("got %+v", ae)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		h := newHarness(t, deadUpstream(t))
		b, _ := json.Marshal(postmark.Email{From: "news@shop.example", To: "ann@example.org", TextBody: "x"})
		resp, err := http.Post(h.url+"/postmark/email", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		var ae postmark.APIError
		_ = json.NewDecoder(resp.Body).Decode(&ae)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || ae.ErrorCode != postmarkServerError {
			t.Fatalf("got %d %+v", resp.StatusCode, ae)
		}
	})
}

// A message to several recipients is one /email/batch call: Postmark can
// accept some copies and refuse others. The retry of the same call sends
// only the refused ones.
func TestPostmarkRetrySendsOnlyRefusedCopies(t *testing.T) {
	_, fake, pm := newPostmarkFront(t)
	fake.PostmarkInactive("bob@example.org")
	email := postmark.Email{From: "news@shop.example", To: "ann@example.org, bob@example.org", Cc: "cy@example.org", Subject: "S", HTMLBody: pmHTML}
	_, err := pm.SendEmail(t.Context(), email)
	if ae := pmAPIError(t, err); ae.ErrorCode != 406 {
		t.Fatalf("first attempt: %+v", ae)
	}
	first := fake.Deliveries()
	if len(first) != 2 {
		t.Fatalf("first attempt delivered %d copies, want ann and cy", len(first))
	}
	fake.Reset() // bob is active again
	res, err := pm.SendEmail(t.Context(), email)
	if err != nil || res.ErrorCode != 0 {
		t.Fatalf("retry: %+v %v", res, err)
	}
	second := fake.Deliveries()
	if len(second) != 1 || second[0].Recipient != "bob@example.org" {
		t.Fatalf("retry delivered %v, want bob's copy only", second)
	}
	// A third attempt finds everything delivered: no call, a success.
	fake.Reset()
	res, err = pm.SendEmail(t.Context(), email)
	if err != nil || res.ErrorCode != 0 || res.To != email.To || len(fake.Requests()) != 0 {
		t.Fatalf("third attempt: %+v %v, %d calls", res, err, len(fake.Requests()))
	}
}

// A batch whose expansion exceeds Postmark's 500 elements goes in several
// calls; one failing, the retry sends only its copies. The last message
// goes to the first one's recipients again: each message's copy to an
// address is a copy of its own in the ledger.
func TestPostmarkSplitBatchRetry(t *testing.T) {
	_, fake, pm := newPostmarkFront(t)
	var batch []postmark.Email
	for m := range 11 {
		var to []string
		for r := range 50 {
			to = append(to, fmt.Sprintf("r%d-%d@example.org", m%10, r))
		}
		batch = append(batch, postmark.Email{From: "news@shop.example", To: strings.Join(to, ","), Subject: fmt.Sprint("S", m), TextBody: "hi"})
	}
	fake.FailNext(1, http.StatusServiceUnavailable)
	_, err := pm.SendEmailBatch(t.Context(), batch)
	if ae := pmAPIError(t, err); ae.ErrorCode != 100 {
		t.Fatalf("first attempt: %+v", ae)
	}
	if n := len(fake.Requests()); n != 2 {
		t.Fatalf("550 copies went in %d calls, want 2", n)
	}
	seen := map[string]int{}
	for _, d := range fake.Deliveries() {
		seen[d.Recipient+" "+d.Subject]++
	}
	if firstN := len(seen); firstN != 500 && firstN != 50 {
		t.Fatalf("first attempt delivered %d copies, want one call's worth", firstN)
	}
	fake.Reset()
	res, err := pm.SendEmailBatch(t.Context(), batch)
	if err != nil || len(res) != 11 {
		t.Fatalf("retry: %v, %d answers", err, len(res))
	}
	for i, r := range res {
		if r.ErrorCode != 0 || r.To != batch[i].To {
			t.Fatalf("answer %d: %+v", i, r)
		}
	}
	for _, d := range fake.Deliveries() {
		seen[d.Recipient+" "+d.Subject]++
	}
	if len(seen) != 550 {
		t.Fatalf("%d copies delivered, want 550", len(seen))
	}
	for c, n := range seen {
		if n != 1 {
			t.Fatalf("%s: %d copies", c, n)
		}
	}
}

func TestPostmarkBadInput(t *testing.T) {
	h, fake, pm := newPostmarkFront(t, func(c *Config) { c.MaxBodyBytes = 64 << 10 })
	send := func(path string, body []byte) (int, postmark.APIError) {
		t.Helper()
		r, _ := http.NewRequest("POST", h.url+"/postmark"+path, bytes.NewReader(body))
		r.Header.Set("X-Postmark-Server-Token", espfake.DefaultPostmarkToken)
		r.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ae postmark.APIError
		if err := json.NewDecoder(resp.Body).Decode(&ae); err != nil {
			t.Fatalf("%s: answer is not Postmark's error format: %v", path, err)
		}
		return resp.StatusCode, ae
	}
	var fifty1 []string
	for i := range 51 {
		fifty1 = append(fifty1, fmt.Sprintf("r%d@example.org", i))
	}
	ok := `"From":"news@shop.example","To":"ann@example.org","HtmlBody":"<p>x</p>"`
	for _, tc := range []struct {
		name, path, body string
		status, code     int
		msg              string
	}{
		{"malformed", "/email", `{"From":`, 422, 402, "not a JSON object"},
		{"not utf-8", "/email", "{" + ok + `,"Subject":"caf` + "\xe9" + `"}`, 422, 402, "UTF-8"},
		{"oversize", "/email", `{"HtmlBody":"` + strings.Repeat("a", 70<<10) + `"}`, 413, 300, "larger than"},
		{"stored template", "/email", "{" + ok + `,"TemplateId":42}`, 422, 300, "TemplateId: templates stored at Postmark"},
		{"template model, any case", "/email", "{" + ok + `,"templatemodel":{}}`, 422, 300, "TemplateModel"},
		{"template in a batch element", "/email/batch", "[{" + ok + "},{" + ok + `,"TemplateAlias":"welcome"}]`, 422, 300, "message 1 of the batch: TemplateAlias"},
		{"no body", "/email", `{"From":"news@shop.example","To":"ann@example.org"}`, 422, 300, "TextBody or HtmlBody"},
		{"no recipient", "/email", `{"From":"news@shop.example","HtmlBody":"x"}`, 422, 300, "Zero recipients"},
		{"51 recipients", "/email", `{"From":"news@shop.example","HtmlBody":"x","To":"` + strings.Join(fifty1[:30], ",") + `","Bcc":"` + strings.Join(fifty1[30:], ",") + `"}`, 422, 300, "at most 50"},
		{"bad address", "/email", `{"From":"news@shop.example","HtmlBody":"x","To":"ann@@"}`, 422, 300, "Error parsing 'To'"},
		{"To not a string", "/email", `{"From":"news@shop.example","HtmlBody":"x","To":["ann@example.org"]}`, 422, 300, "To must be a string"},
		{"two spellings", "/email", "{" + ok + `,"htmlbody":"<img src=` + pmTracker + `>"}`, 422, 300, "one field"},
		{"batch not an array", "/email/batch", "{" + ok + "}", 422, 402, "JSON array"},
		{"empty batch", "/email/batch", `[]`, 422, 300, "no message"},
		{"batch of 501", "/email/batch", "[" + strings.TrimSuffix(strings.Repeat("{"+ok+"},", 501), ",") + "]", 422, postmarkTooManyBatch, "at most 500"},
	} {
		status, ae := send(tc.path, []byte(tc.body))
		if status != tc.status || int(ae.ErrorCode) != tc.code || !strings.Contains(ae.Message, tc.msg) {
			t.Errorf("%s: got %d %+v, want %d ErrorCode %d with %q", tc.name, status, ae, tc.status, tc.code, tc.msg)
		}
	}
	_, err := pm.SendTemplatedEmail(t.Context(), postmark.TemplatedEmail{TemplateID: 7, From: "news@shop.example", To: "ann@example.org"})
	if ae := pmAPIError(t, err); ae.ErrorCode != postmarkInvalidEmailRequest || !strings.Contains(ae.Message, "templates stored at Postmark") {
		t.Errorf("withTemplate: %+v", ae)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Fatalf("bad input reached Postmark: %d calls", n)
	}
}

// BenchmarkPostmarkBatch: a batch of 100 one-recipient messages sent
// straight to the fake (the reference) and through the front, in the same
// run; compare the two as a ratio.
func BenchmarkPostmarkBatch(b *testing.B) {
	fake := espfake.New(b, espfake.Options{})
	h := newHarness(b, fake.URL())
	batch := make([]postmark.Email, 100)
	for i := range batch {
		batch[i] = postmark.Email{From: "news@shop.example", To: fmt.Sprintf("r%d@example.org", i), Subject: "Sale", HTMLBody: pmHTML, TextBody: "Spring sale"}
	}
	n := 0
	for _, bc := range []struct{ name, url string }{{"direct", fake.URL()}, {"front", h.url + "/postmark"}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				fake.Reset()
				// A new call each time: the ledger would skip a repeated one.
				n++
				batch[0].Subject = fmt.Sprint("Sale ", n)
				body, _ := json.Marshal(batch)
				r, _ := http.NewRequest("POST", bc.url+"/email/batch", bytes.NewReader(body))
				r.Header.Set("X-Postmark-Server-Token", espfake.DefaultPostmarkToken)
				r.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(r)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: status %d", bc.name, resp.StatusCode)
				}
			}
		})
	}
}
