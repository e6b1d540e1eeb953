package espapi

import (
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	sgmail "github.com/sendgrid/sendgrid-go/helpers/mail"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/redisstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/proxy/espapi/espfake"
)

// The ESP's own refusals and failures reach the client as the ESP gave
// them; pixelgate's timeouts and unreachable ESPs come in the ESP's format.
func TestSendGridFailuresMapToTheClient(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	body := sgmail.GetRequestBody(campaignMail())

	t.Run("esp 4xx passed back", func(t *testing.T) {
		h := newHarness(t, fake.URL())
		res := sendGridVia(t, h, "SG.wrong-key", body)
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Body, "errors") {
			t.Fatalf("answer %d %s, want SendGrid's own 401", res.StatusCode, res.Body)
		}
	})
	t.Run("esp 5xx passed back", func(t *testing.T) {
		h := newHarness(t, fake.URL())
		fake.FailNext(1, http.StatusServiceUnavailable)
		res := sendGridVia(t, h, espfake.DefaultSendGridKey, body)
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("answer %d %s, want the ESP's 503", res.StatusCode, res.Body)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		h := newHarness(t, fake.URL(), func(c *Config) { c.UpstreamTimeout = 200 * time.Millisecond })
		fake.Delay(2 * time.Second)
		defer fake.Delay(0)
		res := sendGridVia(t, h, espfake.DefaultSendGridKey, body)
		if res.StatusCode != http.StatusGatewayTimeout || !strings.Contains(res.Body, `"errors"`) || !strings.Contains(res.Body, "may or may not") {
			t.Fatalf("answer %d %s, want 504 in SendGrid's format", res.StatusCode, res.Body)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		h := newHarness(t, deadUpstream(t))
		res := sendGridVia(t, h, espfake.DefaultSendGridKey, body)
		if res.StatusCode != http.StatusBadGateway || !strings.Contains(res.Body, "nothing was sent") {
			t.Fatalf("answer %d %s, want 502", res.StatusCode, res.Body)
		}
	})
}

// bulkyMail's recipients each have a large substitution of their own, so
// their copies cannot travel as one call's substitutions: the call is
// split, one upstream call per recipient.
func bulkyMail(n int) []byte {
	m := sgmail.NewV3Mail()
	m.SetFrom(sgmail.NewEmail("", "news@shop.example.com"))
	m.Subject = "Your statement"
	m.AddContent(sgmail.NewContent("text/html", "<p>-statement-</p>"))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		p := sgmail.NewPersonalization()
		p.AddTos(sgmail.NewEmail("", fmt.Sprintf("r%d@example.org", i)))
		b := make([]byte, 6000)
		for j := range b {
			b[j] = "abcdefghij "[rng.IntN(11)]
		}
		p.SetSubstitution("-statement-", string(b))
		m.AddPersonalizations(p)
	}
	return sgmail.GetRequestBody(m)
}

// wantOneCopyEach checks that each of bulkyMail(n)'s recipients received
// exactly one copy.
func wantOneCopyEach(t *testing.T, fake *espfake.Fake, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, d := range fake.Deliveries() {
		seen[d.Recipient]++
	}
	for i := range n {
		if got := seen[fmt.Sprintf("r%d@example.org", i)]; got != 1 {
			t.Errorf("r%d received %d copies, want exactly 1", i, got)
		}
	}
}

// A split call that fails half-way is retried by the client: the retry
// sends only the copies SendGrid did not accept, never one twice.
func TestSendGridSplitCallRetrySendsOnlyMissingCopies(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	h := newHarness(t, fake.URL(), func(c *Config) { c.CopyConcurrency = 1 })
	body := bulkyMail(4)

	// The first attempt: two copies accepted, then SendGrid fails.
	fake.FailAfter(2, 2, http.StatusInternalServerError)
	res := sendGridVia(t, h, espfake.DefaultSendGridKey, body)
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("first attempt: %d %s, want SendGrid's 500 passed back", res.StatusCode, res.Body)
	}
	first := len(fake.Deliveries())
	if first == 0 || first == 4 {
		t.Fatalf("first attempt delivered %d copies, want a partial delivery", first)
	}
	res = sendGridVia(t, h, espfake.DefaultSendGridKey, body)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("retry: %d %s", res.StatusCode, res.Body)
	}
	wantOneCopyEach(t, fake, 4)
	// A third attempt finds everything delivered: SendGrid's success,
	// nothing sent.
	calls := len(fake.Requests())
	res = sendGridVia(t, h, espfake.DefaultSendGridKey, body)
	if res.StatusCode != http.StatusAccepted || len(fake.Requests()) != calls {
		t.Fatalf("third attempt: %d, %d new upstream calls", res.StatusCode, len(fake.Requests())-calls)
	}
}

// Outside the relay networks the front wants HTTPS and an smtp-user
// account in Proxy-Authorization; the ESP's own Authorization passes on.
func TestAccessOutsideRelayNetworks(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	h := newHarness(t, fake.URL(), func(c *Config) { c.RelayNetworks = nil })
	cert, clientTLS := testsupport.TLS(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.srv.Handler()}
	go srv.Serve(Listen(l, cert.TLSConfig()))
	t.Cleanup(func() { srv.Close() })
	if err := h.srv.cfg.Credentials.Set(t.Context(), "crm", "a long relay password"); err != nil {
		t.Fatal(err)
	}
	body := string(sgmail.GetRequestBody(campaignMail()))
	post := func(scheme, proxyAuth string) (int, string) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
		req, _ := http.NewRequest("POST", scheme+"://"+l.Addr().String()+"/sendgrid/v3/mail/send", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+espfake.DefaultSendGridKey)
		if proxyAuth != "" {
			req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(proxyAuth)))
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, b := post("http", "crm:a long relay password"); st != http.StatusForbidden || !strings.Contains(b, "HTTPS only") {
		t.Errorf("plain HTTP from outside: %d %s", st, b)
	}
	if st, b := post("https", ""); st != http.StatusProxyAuthRequired {
		t.Errorf("no credentials: %d %s", st, b)
	}
	if st, b := post("https", "crm:wrong"); st != http.StatusProxyAuthRequired || !strings.Contains(b, "wrong smtp-user") {
		t.Errorf("wrong password: %d %s", st, b)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Fatalf("%d refused calls reached the ESP", n)
	}
	if st, b := post("https", "crm:a long relay password"); st != http.StatusAccepted {
		t.Fatalf("right credentials over TLS: %d %s", st, b)
	}
	reqs := fake.Requests()
	if len(reqs) == 0 || reqs[0].Header.Get("Proxy-Authorization") != "" {
		t.Errorf("pixelgate's credentials went on to the ESP: %v", reqs)
	}
}

// Beyond --esp-api-max-calls a call is answered 429 with Retry-After in
// the ESP's format, before its body is read; nothing reaches the ESP.
func TestCallsBeyondTheLimitGet429(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	h := newHarness(t, fake.URL(), func(c *Config) { c.MaxCalls = 1 })
	body := sgmail.GetRequestBody(campaignMail())
	fake.Delay(time.Second)
	first := make(chan int, 1)
	go func() { first <- sendGridVia(t, h, espfake.DefaultSendGridKey, body).StatusCode }()
	for len(fake.Requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	res := sendGridVia(t, h, espfake.DefaultSendGridKey, body)
	if res.StatusCode != http.StatusTooManyRequests || res.Headers["Retry-After"][0] != "5" || !strings.Contains(res.Body, `"errors"`) {
		t.Fatalf("second call: %d %v %s, want 429 in SendGrid's format with Retry-After", res.StatusCode, res.Headers, res.Body)
	}
	if st := <-first; st != http.StatusAccepted {
		t.Fatalf("first call: %d", st)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Fatalf("%d calls reached SendGrid, want the first only", n)
	}
	fake.Delay(0)
	if res := sendGridVia(t, h, espfake.DefaultSendGridKey, body); res.StatusCode != http.StatusAccepted {
		t.Fatalf("a call after the first ended: %d", res.StatusCode)
	}
}

// Two replicas of the front on one Redis: a split call that failed
// half-way through one is retried through the other, which sends only the
// copies SendGrid did not accept (the delivery ledger is in the shared
// store).
func TestSplitRetryThroughAnotherReplica(t *testing.T) {
	srv := redistest.Start(t)
	onRedis := func(t testing.TB, kr *consent.Keyring) consent.Store {
		st, err := redisstore.Open(t.Context(), srv.URL(), redisstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	fake := espfake.New(t, espfake.Options{})
	keys := t.TempDir()
	one := func(c *Config) { c.CopyConcurrency = 1 }
	a := newReplica(t, fake.URL(), keys, onRedis, one)
	b := newReplica(t, fake.URL(), keys, onRedis, one)
	body := bulkyMail(4)

	fake.FailAfter(2, 2, http.StatusInternalServerError)
	if res := sendGridVia(t, a, espfake.DefaultSendGridKey, body); res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("through replica a: %d %s", res.StatusCode, res.Body)
	}
	if n := len(fake.Deliveries()); n != 2 {
		t.Fatalf("replica a delivered %d copies, want 2 before the failure", n)
	}
	if res := sendGridVia(t, b, espfake.DefaultSendGridKey, body); res.StatusCode != http.StatusAccepted {
		t.Fatalf("retry through replica b: %d %s", res.StatusCode, res.Body)
	}
	wantOneCopyEach(t, fake, 4)
}
