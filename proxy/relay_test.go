package proxy

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/redisstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/consent/throttle"
	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/mailrewrite"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
	"github.com/pixelgate/pixelgate/proxy/upstream"
)

const publicURL = "https://track.pixelgate.test"

// harness is a relay wired to real parts: the embedded store, the keyring,
// the rewrite engine, and a recording go-smtp server as upstream.
type harness struct {
	t         testing.TB
	relay     *Relay
	cfg       Config
	addr      string // plain SMTP with STARTTLS
	tlsAddr   string // implicit TLS
	sink      *smtpsink.Sink
	store     consent.Store
	kr        *consent.Keyring
	clientTLS *tls.Config
	metrics   *RelayMetrics
	served    sync.WaitGroup
}

type harnessOption func(*Config, *smtpsink.Options)

// storeMaker opens the store of a harness.
type storeMaker func(t testing.TB, kr *consent.Keyring) consent.Store

// boltStore is the embedded store in a temporary directory.
var boltStore storeMaker = testsupport.BoltStore

func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	return newHarnessWith(t, boltStore, opts...)
}

func newHarnessWith(t testing.TB, makeStore storeMaker, opts ...harnessOption) *harness {
	t.Helper()
	dir := t.TempDir()
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: filepath.Join(dir, "keys")})
	if err != nil {
		t.Fatal(err)
	}
	st := makeStore(t, kr)
	t.Cleanup(func() { st.Close() })
	rw, err := mailrewrite.New(mailrewrite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cert, clientTLS := testsupport.TLS(t)
	upCert, upClientTLS := testsupport.TLS(t)
	sinkOpts := smtpsink.Options{TLS: upCert.TLSConfig()}
	// As serve's default --upstream-pool: as many idle upstream
	// connections as copies sent at once.
	upstreamIdle := 8
	metrics := NewRelayMetrics(prometheus.NewRegistry())
	cfg := Config{
		Hostname:     "relay.test",
		Cert:         cert,
		Credentials:  testCredentials(t, st.SharedKV(), kr, throttle.Config{}),
		Store:        st,
		RecipientKey: kr.RecipientKey,
		Rewrite:      MailRewrite(rw),
		URLs:         URLFactoryFor(kr, publicURL),
		ESP:          "sendgrid",
		Metrics:      metrics,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
	}
	for _, o := range opts {
		o(&cfg, &sinkOpts)
	}
	sink := testsupport.StartSink(t, sinkOpts)
	if cfg.Delivery == nil {
		up, err := upstream.ParseUpstream(upstream.UpstreamConfig{URL: "smtp://" + sink.Addr, TLS: upClientTLS, MaxIdle: upstreamIdle,
			Timeout: 2 * time.Second, DataTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Delivery = up
	}
	relay, err := NewRelay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, relay: relay, cfg: cfg, sink: sink, store: st, kr: kr, clientTLS: clientTLS, metrics: metrics}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr, h.tlsAddr = l.Addr().String(), tl.Addr().String()
	h.served.Add(2)
	go func() { defer h.served.Done(); relay.Serve(l) }()
	go func() { defer h.served.Done(); relay.ServeTLS(tl) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		relay.Shutdown(ctx)
		h.served.Wait()
		cfg.Delivery.Close()
	})
	return h
}

func (h *harness) grant(addr string) {
	h.t.Helper()
	k, err := h.kr.RecipientKey(addr)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.store.Grant(context.Background(), k, consent.Evidence{Source: consent.SourceAdmin, Actor: "test"}); err != nil {
		h.t.Fatal(err)
	}
}

// dial opens a net/smtp client, after STARTTLS when startTLS.
func (h *harness) dial(startTLS bool) *smtp.Client {
	h.t.Helper()
	c, err := smtp.Dial(h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	if startTLS {
		if err := c.StartTLS(h.clientTLS); err != nil {
			h.t.Fatal(err)
		}
	}
	return c
}

// send runs one transaction and returns the final error.
func send(c *smtp.Client, from, to, msg string) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}

func wantCode(t *testing.T, err error, code int, enhanced string) {
	t.Helper()
	var te *textproto.Error
	if !errors.As(err, &te) {
		t.Fatalf("got %v, want SMTP %d %s", err, code, enhanced)
	}
	if te.Code != code || !strings.HasPrefix(te.Msg, enhanced) {
		t.Fatalf("got %d %q, want %d %s", te.Code, te.Msg, code, enhanced)
	}
}

// marketingMsg is a realistic small campaign email: an ESP open pixel, a
// tracked link, a content image and a text part.
func marketingMsg(campaign string) string {
	return "From: Shop <news@shop.example>\r\n" +
		"To: <alice@example.net>\r\n" +
		"Subject: Spring sale\r\n" +
		"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n" +
		"Message-ID: <1@shop.example>\r\n" +
		"X-Pixelgate-Campaign: " + campaign + "\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"b1\"\r\n" +
		"\r\n" +
		"--b1\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Spring sale: https://shop.example/sale\r\n" +
		"--b1\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n" +
		"\r\n" +
		"<html><body><p>Spring sale</p>\r\n" +
		"<img src=\"https://shop.example/img/banner.jpg\" width=\"600\" height=\"200\" alt=\"sale\">\r\n" +
		"<a href=\"https://shop.example/sale\">Shop now</a>\r\n" +
		"<img src=\"https://u1234.ct.sendgrid.net/wf/open?upn=abcdef0123456789\" width=\"1\" height=\"1\" alt=\"\">\r\n" +
		"</body></html>\r\n" +
		"--b1--\r\n"
}

const espPixel = "ct.sendgrid.net/wf/open"

func TestRelayRewritesPerConsent(t *testing.T) {
	h := newHarness(t)
	h.grant("granted@example.net")
	c := h.dial(false)
	if err := send(c, "news@shop.example", "granted@example.net", marketingMsg("spring")); err != nil {
		t.Fatalf("granted: %v", err)
	}
	if err := send(c, "news@shop.example", "refused@example.net", marketingMsg("spring")); err != nil {
		t.Fatalf("refused: %v", err)
	}
	got := h.sink.Messages()
	if len(got) != 2 {
		t.Fatalf("upstream got %d messages", len(got))
	}
	granted, refused := string(got[0].Data), string(got[1].Data)
	if got[0].To[0] != "granted@example.net" || got[1].To[0] != "refused@example.net" {
		t.Fatalf("envelopes %v %v", got[0].To, got[1].To)
	}
	if !got[0].TLS {
		t.Error("upstream connection not encrypted")
	}
	for name, m := range map[string]string{"granted": granted, "refused": refused} {
		if strings.Contains(m, espPixel) {
			t.Errorf("%s: ESP pixel still in the message", name)
		}
		if strings.Contains(m, "X-Pixelgate-Campaign") {
			t.Errorf("%s: internal header forwarded", name)
		}
		if !strings.HasPrefix(m, "Received: from ") || !strings.Contains(m, "by relay.test (pixelgate)") {
			t.Errorf("%s: no Received field on top:\n%.200s", name, m)
		}
		if !strings.Contains(m, "X-SMTPAPI:") || !strings.Contains(m, `"opentrack"`) {
			t.Errorf("%s: SendGrid tracking not turned off", name)
		}
		if !strings.Contains(m, publicURL+"/c/") {
			t.Errorf("%s: no consent link", name)
		}
		if !strings.Contains(m, "https://shop.example/img/banner.jpg") {
			t.Errorf("%s: content image lost", name)
		}
		if strings.Contains(m, "alice") && strings.Contains(m, publicURL) && strings.Contains(m[strings.Index(m, publicURL):], "example.net") {
			t.Errorf("%s: address inside a pixelgate URL", name)
		}
	}
	if !strings.Contains(granted, publicURL+"/o/") {
		t.Error("granted: no pixelgate pixel")
	}
	if strings.Contains(refused, publicURL+"/o/") {
		t.Error("refused: carries a pixel")
	}
	// The pixel token opens as an open token for the granted recipient's
	// key and the campaign, carrying the ESP pixel for forwarding.
	i := strings.Index(granted, publicURL+"/o/") + len(publicURL+"/o/")
	j := strings.Index(granted[i:], ".gif")
	tok, err := h.kr.Open(granted[i:i+j], consent.PurposeOpen)
	if err != nil {
		t.Fatalf("pixel token: %v", err)
	}
	k, _ := h.kr.RecipientKey("granted@example.net")
	if tok.Key != k || tok.Campaign != "spring" || !strings.Contains(tok.URL, espPixel) {
		t.Errorf("pixel token %+v", tok)
	}
	// Sends are recorded in the background after the 250.
	var stats consent.CampaignStats
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if stats, err = h.store.Campaign(context.Background(), "spring"); err == nil && stats.SendsGranted+stats.SendsNotGranted == 2 {
			break
		}
	}
	if stats.SendsGranted != 1 || stats.SendsNotGranted != 1 {
		t.Errorf("campaign sends %+v (%v)", stats, err)
	}
	if v := metricValue(h.metrics.Recipients.WithLabelValues("granted")); v != 1 {
		t.Errorf("granted recipients metric %v", v)
	}
	// Operators see which vendors' trackers were stripped or swapped
	// (operator guide §10): the SendGrid pixel, once per recipient.
	if v := findings(h.metrics, map[string]string{"vendor": "SendGrid"}); v < 2 {
		t.Errorf("findings of vendor SendGrid counted %v, want at least 2 (one per recipient)", v)
	}
}

func TestRelayOneRecipientPerTransaction(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *smtpsink.Options) { c.MaxRecipients = 1 })
	c := h.dial(false)
	if err := c.Mail("news@shop.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("a@example.net"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Rcpt("b@example.net"), 452, "4.5.3 Too many recipients")
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, marketingMsg("x"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := h.sink.Messages()
	if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "a@example.net" {
		t.Fatalf("upstream got %+v", got)
	}
}

func TestRelayNeverOpen(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *smtpsink.Options) { c.RelayNetworks = []netip.Prefix{} })
	ctx := context.Background()
	if err := h.cfg.Credentials.Set(ctx, "marketing", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	// Without TLS, AUTH is neither offered nor accepted, and MAIL needs it.
	c := h.dial(false)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before TLS")
	}
	wantCode(t, c.Mail("news@shop.example"), 530, "5.7.0")

	c = h.dial(true)
	if ok, mechs := c.Extension("AUTH"); !ok || !strings.Contains(mechs, "PLAIN") || !strings.Contains(mechs, "LOGIN") {
		t.Fatalf("AUTH after TLS: %v %q", ok, mechs)
	}
	if err := c.Auth(smtp.PlainAuth("", "marketing", "wrong password!", "127.0.0.1")); err == nil {
		t.Fatal("wrong password accepted")
	}
	c = h.dial(true)
	if err := c.Auth(smtp.PlainAuth("", "marketing", "correct horse battery", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "news@shop.example", "a@example.net", marketingMsg("x")); err != nil {
		t.Fatal(err)
	}
	if n := len(h.sink.Messages()); n != 1 {
		t.Fatalf("upstream got %d", n)
	}
	if !strings.Contains(string(h.sink.Messages()[0].Data), "with ESMTPSA") {
		t.Error("Received does not say ESMTPSA")
	}
}

func TestRelayAuthLoginOverImplicitTLS(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *smtpsink.Options) { c.RelayNetworks = []netip.Prefix{} })
	if err := h.cfg.Credentials.Set(context.Background(), "crm", "another long password"); err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", h.tlsAddr, h.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	tc := textproto.NewConn(conn)
	defer tc.Close()
	step := func(cmd string, code int) string {
		t.Helper()
		if cmd != "" {
			if err := tc.PrintfLine("%s", cmd); err != nil {
				t.Fatal(err)
			}
		}
		_, msg, err := tc.ReadResponse(code)
		if err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
		return msg
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	step("", 220)
	step("EHLO client.test", 250)
	step("AUTH LOGIN", 334)
	step(b64("crm"), 334)
	step(b64("another long password"), 235)
	step("MAIL FROM:<news@shop.example>", 250)
	step("RCPT TO:<a@example.net>", 250)
	step("DATA", 354)
	tc.PrintfLine("%s", strings.TrimSuffix(marketingMsg("x"), "\r\n"))
	step(".", 250)
	if n := len(h.sink.Messages()); n != 1 {
		t.Fatalf("upstream got %d", n)
	}
}

func TestRelayThrottlesFailedAuth(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *smtpsink.Options) { c.RelayNetworks = []netip.Prefix{} })
	// Three free failures, one more let through, then the address waits
	// (an hour here, so the test cannot outlast it).
	h.cfg.Credentials.Throttle = testThrottle(t, h.store.SharedKV(), h.kr, throttle.Config{AddressFreeAttempts: 3, AccountFreeAttempts: 100, BaseDelay: time.Hour})
	if err := h.cfg.Credentials.Set(context.Background(), "crm", "another long password"); err != nil {
		t.Fatal(err)
	}
	var last error
	for i := 0; i < 5; i++ {
		c := h.dial(true)
		last = c.Auth(smtp.PlainAuth("", "crm", fmt.Sprintf("guess %d", i), "127.0.0.1"))
	}
	wantCode(t, last, 454, "4.7.0")
	// Even the right password is refused while throttled.
	c := h.dial(true)
	wantCode(t, c.Auth(smtp.PlainAuth("", "crm", "another long password", "127.0.0.1")), 454, "4.7.0")
}

func TestRelayUpstreamFailures(t *testing.T) {
	var mu sync.Mutex
	var next smtpsink.Action
	h := newHarness(t, func(_ *Config, o *smtpsink.Options) {
		o.Behaviour = func(*smtpsink.Message) smtpsink.Action { mu.Lock(); defer mu.Unlock(); return next }
	})
	set := func(a smtpsink.Action) { mu.Lock(); next = a; mu.Unlock() }
	c := h.dial(false)
	set(smtpsink.Action{Reply: &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}})
	wantCode(t, send(c, "n@shop.example", "a@example.net", marketingMsg("x")), 451, "4.4.")
	set(smtpsink.Action{Reply: &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "spam detected"}})
	err := send(c, "n@shop.example", "a@example.net", marketingMsg("x"))
	wantCode(t, err, 554, "5.7.1")
	if !strings.Contains(err.Error(), "spam detected") {
		t.Errorf("5xx without upstream text: %v", err)
	}
	set(smtpsink.Action{Delay: 3 * time.Second})
	wantCode(t, send(c, "n@shop.example", "a@example.net", marketingMsg("x")), 451, "4.4.1")
	set(smtpsink.Action{Drop: true})
	wantCode(t, send(c, "n@shop.example", "a@example.net", marketingMsg("x")), 451, "4.4.1")
	// Nothing was accepted upstream, and the client was never told 250.
	if n := h.sink.Count(); n != 0 {
		t.Fatalf("upstream accepted %d", n)
	}
	// After the failures, delivery works again on the same session.
	set(smtpsink.Action{})
	if err := send(c, "n@shop.example", "a@example.net", marketingMsg("x")); err != nil {
		t.Fatal(err)
	}
	h.sink.Close()
	wantCode(t, send(c, "n@shop.example", "a@example.net", marketingMsg("x")), 451, "4.4.1")
	if v := metricValue(h.metrics.Messages.WithLabelValues("delivered")); v != 1 {
		t.Errorf("delivered metric %v", v)
	}
}

func TestRelayStoreDownFailsClosed(t *testing.T) {
	h := newHarness(t)
	h.grant("granted@example.net")
	h.store.Close()
	c := h.dial(false)
	if err := send(c, "news@shop.example", "granted@example.net", marketingMsg("spring")); err != nil {
		t.Fatalf("store down must still deliver: %v", err)
	}
	got := h.sink.Messages()
	if len(got) != 1 {
		t.Fatalf("upstream got %d", len(got))
	}
	m := string(got[0].Data)
	if strings.Contains(m, publicURL+"/o/") || strings.Contains(m, espPixel) {
		t.Error("fail closed message carries a pixel")
	}
	if v := metricValue(h.metrics.FailClosed); v != 1 {
		t.Errorf("fail-closed metric %v", v)
	}
}

func TestRelayRefusesUnparseable(t *testing.T) {
	h := newHarness(t)
	c := h.dial(false)
	bad := "From: a@shop.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n"
	err := send(c, "a@shop.example", "b@example.net", bad)
	wantCode(t, err, 554, "5.6.0")
	if !strings.Contains(err.Error(), "boundary") {
		t.Errorf("554 without the reason: %v", err)
	}
	if n := h.sink.Count(); n != 0 {
		t.Fatal("unparseable message forwarded")
	}
}

// rawSMTP speaks SMTP byte by byte so smuggling payloads reach the relay
// exactly as written.
func rawSMTP(t *testing.T, addr string, script string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, script); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(conn)
	return string(b)
}

// In strict mode (--smtp-bare-lf reject) any bare CR or LF refuses the
// message, as RFC 5321 §2.3.8 allows; normalize mode is covered by
// TestRelaySmugglingNeverTwoMessages.
func TestRelayRefusesSmuggling(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *smtpsink.Options) { c.BareLF = BareLFReject })
	for name, payload := range map[string]string{
		"LF.LF":   "Subject: a\r\n\r\nfirst\n.\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n",
		"CR.CR":   "Subject: a\r\n\r\nfirst\r.\rMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n",
		"LF.CRLF": "Subject: a\r\n\r\nfirst\n.\r\nMAIL FROM:<evil@attacker.example>\r\n",
	} {
		script := "EHLO c.test\r\nMAIL FROM:<news@shop.example>\r\nRCPT TO:<a@example.net>\r\nDATA\r\n" + payload + ".\r\nQUIT\r\n"
		out := rawSMTP(t, h.addr, script)
		if !strings.Contains(out, "554 5.6.0 Bare CR or LF") {
			t.Errorf("%s: not refused:\n%s", name, out)
		}
		// Exactly one MAIL, one RCPT, one DATA were answered: the smuggled
		// commands were never executed.
		if n := strings.Count(out, "250 2.0.0 Roger") + strings.Count(out, "\r\n250 2.0.0 I'll make sure"); n > 2 {
			t.Errorf("%s: smuggled commands answered:\n%s", name, out)
		}
	}
	if n := h.sink.Count(); n != 0 {
		t.Fatalf("smuggled message forwarded (%d)", n)
	}
}

func TestRelayLongLinesAndSize(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *smtpsink.Options) { c.MaxMessageBytes = 64 << 10 })
	c := h.dial(false)
	// A tenth of the upstream's limit is kept for rewrite growth.
	if ok, size := c.Extension("SIZE"); !ok || size != "58983" {
		t.Errorf("SIZE %v %q", ok, size)
	}
	line := strings.Repeat("a", 998)
	msg := "From: a@shop.example\r\nContent-Type: text/html\r\n\r\n<p>" + line[3:] + "\r\n"
	if err := send(c, "a@shop.example", "b@example.net", msg); err != nil {
		t.Fatalf("998-character line refused: %v", err)
	}
	wantCode(t, send(c, "a@shop.example", "b@example.net", "From: a@shop.example\r\n\r\n"+line+"a\r\n"), 554, "5.6.0")
	wantCode(t, send(c, "a@shop.example", "b@example.net", "From: a@shop.example\r\n\r\n"+strings.Repeat("x\r\n", 40<<10)), 552, "5.3.4")
}

// TestRelayRefusesOverlongLinePermanently: a line past the server's read
// limit (4096) is refused with the same permanent 554 5.6.0 as one past
// 998 characters, and nothing goes upstream; a 451 made senders retry it
// forever.
func TestRelayRefusesOverlongLinePermanently(t *testing.T) {
	h := newHarness(t)
	c := h.dial(false)
	msg := "From: a@shop.example\r\n\r\n" + strings.Repeat("y", 5000) + "\r\n"
	wantCode(t, send(c, "a@shop.example", "b@example.net", msg), 554, "5.6.0")
	if n := h.sink.Count(); n != 0 {
		t.Fatalf("upstream got %d", n)
	}
}

func TestRelayConnectionLimit(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *smtpsink.Options) { c.MaxConnections = 1 })
	c := h.dial(false)
	if err := c.Hello("one.test"); err != nil {
		t.Fatal(err)
	}
	out := rawSMTP(t, h.addr, "")
	if !strings.HasPrefix(out, "421 4.7.0") {
		t.Errorf("second connection got %q", out)
	}
	if v := metricValue(h.metrics.ConnectionsRefused); v != 1 {
		t.Errorf("refused metric %v", v)
	}
}

func TestRelayGracefulShutdownMidTransaction(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, func(_ *Config, o *smtpsink.Options) {
		o.Behaviour = func(*smtpsink.Message) smtpsink.Action { <-release; return smtpsink.Action{} }
	})
	c := h.dial(false)
	done := make(chan error, 1)
	go func() { done <- send(c, "n@shop.example", "a@example.net", marketingMsg("x")) }()
	// Wait until the transaction is in progress upstream.
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(h.metrics.Transactions) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- h.relay.Shutdown(ctx)
	}()
	// New connections are refused while draining.
	time.Sleep(50 * time.Millisecond)
	if conn, err := net.DialTimeout("tcp", h.addr, time.Second); err == nil {
		conn.Close()
		t.Error("new connection accepted during shutdown")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("in-flight transaction failed: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if n := h.sink.Count(); n != 1 {
		t.Fatalf("upstream got %d", n)
	}
}

// outboxHarness is a relay that delivers into an outbox directory, dir,
// instead of an upstream.
func outboxHarness(t *testing.T) (*harness, string) {
	t.Helper()
	dir := t.TempDir()
	ob, err := upstream.NewOutbox(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return newHarness(t, func(c *Config, _ *smtpsink.Options) { c.Delivery = ob }), dir
}

func TestRelayOutboxWithoutUpstream(t *testing.T) {
	h, dir := outboxHarness(t)
	c := h.dial(false)
	if err := send(c, "n@shop.example", "a@example.net", marketingMsg("x")); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("outbox files %v", files)
	}
}

// metricValue reads one counter or gauge.
func metricValue(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var d dto.Metric
	if err := (<-ch).Write(&d); err != nil {
		return -1
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func TestRelayReSignsDKIM(t *testing.T) {
	sender := newDKIMFixture(t, "shop.example")
	keys, err := LoadDKIMKeys(sender.dir, "pixelgate", false)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config, _ *smtpsink.Options) { c.DKIM = keys })
	signed := signAs(t, []byte(marketingMsg("spring")), "shop.example", "s1", sender, []string{"From", "Subject", "To", "Date"})
	c := h.dial(false)
	if err := send(c, "news@shop.example", "a@example.net", string(signed)); err != nil {
		t.Fatal(err)
	}
	out := h.sink.Messages()[0].Data
	vs := verifyDKIM(t, out, map[string]string{"pixelgate._domainkey.shop.example": sender.txt, "s1._domainkey.shop.example": sender.txt})
	if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "shop.example" {
		t.Fatalf("forwarded signatures: %d, first error %v", len(vs), vs[0].Err)
	}
	if v := metricValue(h.metrics.DKIM.WithLabelValues("resigned")); v != 1 {
		t.Errorf("resigned metric %v", v)
	}
}

func TestRelayRemovesBrokenDKIMWithoutKey(t *testing.T) {
	sender := newDKIMFixture(t, "shop.example")
	h := newHarness(t)
	signed := signAs(t, []byte(marketingMsg("spring")), "shop.example", "s1", sender, nil)
	c := h.dial(false)
	if err := send(c, "news@shop.example", "a@example.net", string(signed)); err != nil {
		t.Fatal(err)
	}
	out := h.sink.Messages()[0].Data
	if strings.Contains(string(out), "DKIM-Signature") {
		t.Fatal("a signature known to fail was forwarded")
	}
	if v := metricValue(h.metrics.DKIM.WithLabelValues("removed")); v != 1 {
		t.Errorf("removed metric %v", v)
	}
}

func TestRelayAsksConsentOnceThenQuiet(t *testing.T) {
	h := newHarness(t)
	msg := strings.Replace(marketingMsg("spring"), "<p>Spring sale</p>", "<p>Spring sale</p>{{pixelgate_consent_request}}", 1)
	k, _ := h.kr.RecipientKey("new@example.net")
	ctx := context.Background()
	if ok, err := h.store.EligibleToAsk(ctx, k); err != nil || !ok {
		t.Fatalf("fresh recipient not eligible: %v %v", ok, err)
	}
	c := h.dial(false)
	if err := send(c, "news@shop.example", "new@example.net", msg); err != nil {
		t.Fatal(err)
	}
	first := string(h.sink.Messages()[0].Data)
	if strings.Contains(first, "{{pixelgate_consent_request}}") {
		t.Fatal("placeholder left in the message")
	}
	// MarkAsked runs after the 250; then the R5 quiet period applies.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := h.store.EligibleToAsk(ctx, k)
		if err == nil && !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("recipient still eligible after a consent request was sent (R5)")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := send(c, "news@shop.example", "new@example.net", msg); err != nil {
		t.Fatal(err)
	}
	second := string(h.sink.Messages()[1].Data)
	if len(second) >= len(first) {
		t.Errorf("second message (%d bytes) still carries the request block (first %d bytes)", len(second), len(first))
	}
}

// redisStore is a redisstore on a real redis-server started for the test;
// the server is returned so a test can stop it.
func redisStore(srv **redistest.Server) storeMaker {
	return func(t testing.TB, kr *consent.Keyring) consent.Store {
		*srv = redistest.Start(t)
		st, err := redisstore.Open(context.Background(), (*srv).URL(), redisstore.Options{
			StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}, Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
}

func TestRelayOnRedis(t *testing.T) {
	var srv *redistest.Server
	h := newHarnessWith(t, redisStore(&srv))
	h.grant("granted@example.net")
	c := h.dial(false)
	for _, rcpt := range []string{"granted@example.net", "refused@example.net"} {
		if err := send(c, "news@shop.example", rcpt, marketingMsg("spring")); err != nil {
			t.Fatalf("%s: %v", rcpt, err)
		}
	}
	got := h.sink.Messages()
	if !strings.Contains(string(got[0].Data), publicURL+"/o/") || strings.Contains(string(got[1].Data), publicURL+"/o/") {
		t.Fatal("pixel not decided by the consent held in Redis")
	}
	// Redis goes away: the relay still delivers, without pixels, and
	// counts the fail-closed decision.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "news@shop.example", "granted@example.net", marketingMsg("spring")); err != nil {
		t.Fatalf("Redis down must still deliver: %v", err)
	}
	if m := string(h.sink.Messages()[2].Data); strings.Contains(m, publicURL+"/o/") || strings.Contains(m, espPixel) {
		t.Error("fail-closed message carries a pixel")
	}
	if v := metricValue(h.metrics.FailClosed); v != 1 {
		t.Errorf("fail-closed metric %v", v)
	}
}

// findings sums pixelgate_relay_findings_total over the series whose labels
// include every pair in want (e.g. reason=learned, vendor=SendGrid).
func findings(m *RelayMetrics, want map[string]string) float64 {
	ch := make(chan prometheus.Metric, 256)
	m.Findings.Collect(ch)
	close(ch)
	var sum float64
	for pm := range ch {
		var d dto.Metric
		if err := pm.Write(&d); err != nil {
			continue
		}
		match := 0
		for _, l := range d.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				match++
			}
		}
		if match == len(want) {
			sum += d.GetCounter().GetValue()
		}
	}
	return sum
}
