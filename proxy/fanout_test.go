package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
	"github.com/pixelgate/pixelgate/proxy/upstream"
)

// sendMany runs one transaction to many recipients and returns each RCPT's
// error and the final reply's.
func sendMany(c *smtp.Client, from string, to []string, msg string) ([]error, error) {
	if err := c.Mail(from); err != nil {
		return nil, err
	}
	rcptErrs := make([]error, len(to))
	ok := 0
	for i, a := range to {
		rcptErrs[i] = c.Rcpt(a)
		if rcptErrs[i] == nil {
			ok++
		}
	}
	if ok == 0 {
		return rcptErrs, c.Reset()
	}
	w, err := c.Data()
	if err != nil {
		return rcptErrs, err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return rcptErrs, err
	}
	return rcptErrs, w.Close()
}

func recipients(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("reader%d@example.net", i)
	}
	return out
}

// byRecipient counts the sink's copies per envelope recipient and checks
// that each copy has exactly one.
func byRecipient(t *testing.T, msgs []smtpsink.Message) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, m := range msgs {
		if len(m.To) != 1 {
			t.Fatalf("upstream transaction with recipients %v: want one per copy", m.To)
		}
		got[m.To[0]]++
	}
	return got
}

// checkOnce fails unless every address in want got exactly one copy and no
// other address got any.
func checkOnce(t *testing.T, got map[string]int, want []string) {
	t.Helper()
	for _, a := range want {
		if got[a] != 1 {
			t.Errorf("%s received %d copies, want 1", a, got[a])
		}
	}
	if len(got) != len(want) {
		t.Errorf("copies went to %d recipients, want %d: %v", len(got), len(want), got)
	}
}

func TestRelayManyRecipientsEachOwnRewrite(t *testing.T) {
	h := newHarness(t)
	to := recipients(12)
	h.grant(to[3])
	h.grant(to[7])
	rcptErrs, err := sendMany(h.dial(false), "news@shop.example", to, marketingMsg("spring"))
	for i, e := range rcptErrs {
		if e != nil {
			t.Fatalf("RCPT %d: %v", i, e)
		}
	}
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	msgs := h.sink.Messages()
	checkOnce(t, byRecipient(t, msgs), to)
	for _, m := range msgs {
		body := string(m.Data)
		pixels := strings.Count(body, publicURL+"/o/")
		granted := m.To[0] == to[3] || m.To[0] == to[7]
		if granted && pixels != 1 || !granted && pixels != 0 {
			t.Errorf("%s (granted %v): %d pixelgate pixels", m.To[0], granted, pixels)
		}
		if strings.Contains(body, espPixel) {
			t.Errorf("%s: the ESP's pixel is still there", m.To[0])
		}
	}
}

func TestRelayMaxRecipients(t *testing.T) {
	h := newHarness(t)
	c := h.dial(false)
	to := recipients(101)
	rcptErrs, err := sendMany(c, "news@shop.example", to, marketingMsg("x"))
	for i, e := range rcptErrs[:100] {
		if e != nil {
			t.Fatalf("RCPT %d: %v", i, e)
		}
	}
	wantCode(t, rcptErrs[100], 452, "4.5.3")
	if err != nil {
		t.Fatal(err)
	}
	checkOnce(t, byRecipient(t, h.sink.Messages()), to[:100])
}

// flaky answers 451 to the first attempt of each recipient in fail, then
// accepts.
type flaky struct {
	mu    sync.Mutex
	fail  map[string]*gosmtp.SMTPError
	tried map[string]int
	drop  bool
}

func (f *flaky) behaviour(m *smtpsink.Message) smtpsink.Action {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := m.To[0]
	f.tried[a]++
	if r, ok := f.fail[a]; ok && (f.tried[a] == 1 || r.Code/100 == 5) {
		if f.drop {
			return smtpsink.Action{Drop: true}
		}
		return smtpsink.Action{Reply: r}
	}
	return smtpsink.Action{}
}

func newFlaky(reply *gosmtp.SMTPError, addrs ...string) *flaky {
	f := &flaky{fail: map[string]*gosmtp.SMTPError{}, tried: map[string]int{}}
	for _, a := range addrs {
		f.fail[a] = reply
	}
	return f
}

var busyReply = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: "rate limited, try later"}

// replica starts a second relay on h's store, keyring and sink: another
// pixelgate replica on the same Redis.
func (h *harness) replica() string {
	h.t.Helper()
	cfg := h.cfg
	cfg.Metrics = NewRelayMetrics(prometheus.NewRegistry())
	up, err := upstream.ParseUpstream(upstream.UpstreamConfig{URL: "smtp://" + h.sink.Addr + "?tls=none", MaxIdle: 2, Timeout: 2 * time.Second})
	if err != nil {
		h.t.Fatal(err)
	}
	cfg.Delivery = up
	r, err := NewRelay(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); r.Serve(l) }()
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
		<-done
		up.Close()
	})
	return l.Addr().String()
}

func TestRelayRetrySendsOnlyMissingCopies(t *testing.T) {
	to := recipients(6)
	for _, tc := range []struct {
		name    string
		store   func(**redistest.Server) storeMaker
		replica bool
		drop    bool
	}{
		{name: "embedded", store: nil},
		{name: "embedded, upstream drops the connection mid-copy", drop: true},
		{name: "redis, retry through another replica", store: redisStore, replica: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlaky(busyReply, to[1], to[4])
			f.drop = tc.drop
			opt := func(c *Config, o *smtpsink.Options) { o.Behaviour = f.behaviour }
			var h *harness
			if tc.store != nil {
				var srv *redistest.Server
				h = newHarnessWith(t, tc.store(&srv), opt)
			} else {
				h = newHarness(t, opt)
			}
			_, err := sendMany(h.dial(false), "news@shop.example", to, marketingMsg("spring"))
			wantCode(t, err, 451, "4.")
			if got := byRecipient(t, h.sink.Messages()); len(got) != 4 {
				t.Fatalf("first attempt delivered %v, want the 4 accepted copies", got)
			}
			addr := h.addr
			if tc.replica {
				addr = h.replica()
			}
			c, err := smtp.Dial(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := sendMany(c, "news@shop.example", to, marketingMsg("spring")); err != nil {
				t.Fatalf("retry: %v", err)
			}
			checkOnce(t, byRecipient(t, h.sink.Messages()), to)
			// A third, needless retry sends nothing at all.
			if _, err := sendMany(c, "news@shop.example", to, marketingMsg("spring")); err != nil {
				t.Fatalf("third attempt: %v", err)
			}
			checkOnce(t, byRecipient(t, h.sink.Messages()), to)
			// Another message to the same recipients is not a retry.
			if _, err := sendMany(c, "news@shop.example", to[:2], strings.Replace(marketingMsg("spring"), "<1@shop.example>", "<2@shop.example>", 1)); err != nil {
				t.Fatal(err)
			}
			if n := len(h.sink.Messages()); n != len(to)+2 {
				t.Errorf("a new message to 2 recipients: sink holds %d copies, want %d", n, len(to)+2)
			}
		})
	}
}

func TestRelayClientDropsMidDataNothingSent(t *testing.T) {
	h := newHarness(t)
	to := recipients(4)
	c := h.dial(false)
	if err := c.Mail("news@shop.example"); err != nil {
		t.Fatal(err)
	}
	for _, a := range to {
		if err := c.Rcpt(a); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	msg := marketingMsg("spring")
	io.WriteString(w, msg[:len(msg)/2])
	c.Close() // the client goes away before the end of the data
	time.Sleep(200 * time.Millisecond)
	if n := len(h.sink.Messages()); n != 0 {
		t.Fatalf("a message cut off mid-DATA sent %d copies", n)
	}
	if _, err := sendMany(h.dial(false), "news@shop.example", to, msg); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, byRecipient(t, h.sink.Messages()), to)
}

func TestRelayPartialPermanentRefusalNotifiesSender(t *testing.T) {
	refused := &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	to := recipients(5)
	f := newFlaky(refused, to[2])
	h := newHarness(t, func(c *Config, o *smtpsink.Options) { o.Behaviour = f.behaviour })
	if _, err := sendMany(h.dial(false), "news@shop.example", to, marketingMsg("spring")); err != nil {
		t.Fatalf("the others were delivered: want 250 and a report, got %v", err)
	}
	var dsn *smtpsink.Message
	copies := map[string]int{}
	for _, m := range h.sink.Messages() {
		if m.From == "" {
			dsn = &m
			continue
		}
		copies[m.To[0]]++
	}
	checkOnce(t, copies, slices.Delete(slices.Clone(to), 2, 3))
	if dsn == nil {
		t.Fatal("no delivery status notification reached the sender")
	}
	body := string(dsn.Data)
	for _, want := range []string{"report-type=delivery-status", "Final-Recipient: rfc822; " + to[2],
		"Status: 5.1.1", "Diagnostic-Code: smtp; 550 no such user here", "Auto-Submitted: auto-replied", "Message-ID: <1@shop.example>"} {
		if !strings.Contains(body, want) {
			t.Errorf("report lacks %q:\n%s", want, body)
		}
	}
	if !slices.Equal(dsn.To, []string{"news@shop.example"}) {
		t.Errorf("report sent to %v", dsn.To)
	}
	// A mail program reads it as a three-part multipart/report (RFC 6522).
	ent, err := message.Read(bytes.NewReader(dsn.Data))
	if err != nil {
		t.Fatalf("report does not parse: %v", err)
	}
	var parts []string
	if mr := ent.MultipartReader(); mr != nil {
		for p, err := mr.NextPart(); err == nil; p, err = mr.NextPart() {
			ct, _, _ := p.Header.ContentType()
			parts = append(parts, ct)
		}
	}
	if want := []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}; !slices.Equal(parts, want) {
		t.Errorf("report parts %v, want %v", parts, want)
	}
	for _, a := range to {
		if a != to[2] && strings.Contains(body, a) {
			t.Errorf("report names %s, which was delivered", a)
		}
	}

	// Every copy refused: the client gets the upstream's own reply.
	all := newFlaky(refused, to...)
	h2 := newHarness(t, func(c *Config, o *smtpsink.Options) { o.Behaviour = all.behaviour })
	_, err = sendMany(h2.dial(false), "news@shop.example", to, marketingMsg("spring"))
	wantCode(t, err, 550, "5.1.1")
	if n := len(h2.sink.Messages()); n != 0 {
		t.Errorf("sink holds %d messages after every copy was refused", n)
	}
}

func TestOutboxOneFilePerRecipient(t *testing.T) {
	h, dir := outboxHarness(t)
	to := recipients(3)
	if _, err := sendMany(h.dial(false), "news@shop.example", to, marketingMsg("spring")); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != len(to) {
		t.Fatalf("%d outbox files, want %d", len(files), len(to))
	}
	var keys []string
	for _, a := range to {
		k, _ := h.kr.RecipientKey(a)
		keys = append(keys, k.String())
	}
	var seen []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		line, _, _ := strings.Cut(string(b), "\r\n")
		k, ok := strings.CutPrefix(line, upstream.OutboxRcptKey+": ")
		if !ok {
			t.Fatalf("%s starts with %q, want the recipient key header", f, line)
		}
		seen = append(seen, k)
		for _, a := range to {
			if strings.Contains(filepath.Base(f), a) {
				t.Errorf("file name %s holds an address", f)
			}
		}
	}
	slices.Sort(keys)
	slices.Sort(seen)
	if !slices.Equal(keys, seen) {
		t.Errorf("outbox keys %v, want %v", seen, keys)
	}
}

// TestRelayLedgerProperty: for random per-copy outcomes (accept, 4xx, 5xx,
// connection dropped) and a client that retries on 4xx, every recipient
// ends with exactly one copy, or the client was told it failed (its 5xx,
// or a report naming it), and never both nor two copies.
func TestRelayLedgerProperty(t *testing.T) {
	var mu sync.Mutex
	var rng *rand.Rand
	outcome := func(m *smtpsink.Message) smtpsink.Action {
		if m.From == "" {
			return smtpsink.Action{}
		}
		mu.Lock()
		defer mu.Unlock()
		switch rng.IntN(10) {
		case 0, 1:
			return smtpsink.Action{Reply: busyReply}
		case 2:
			return smtpsink.Action{Drop: true}
		case 3:
			return smtpsink.Action{Reply: &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "refused"}}
		}
		return smtpsink.Action{}
	}
	h := newHarness(t, func(c *Config, o *smtpsink.Options) { o.Behaviour = outcome; c.CopyConcurrency = 3 })
	c := h.dial(false)
	for round := range 25 {
		mu.Lock()
		rng = rand.New(rand.NewPCG(uint64(round), 3))
		n := 1 + rng.IntN(7)
		mu.Unlock()
		to := make([]string, n)
		for i := range to {
			to[i] = fmt.Sprintf("r%d-%d@example.net", round, i)
		}
		msg := strings.Replace(marketingMsg("p"), "<1@shop.example>", fmt.Sprintf("<p%d@shop.example>", round), 1)
		before := len(h.sink.Messages())
		var final error
		for attempt := 0; ; attempt++ {
			if attempt == 30 {
				t.Fatalf("round %d: still deferred after 30 attempts", round)
			}
			_, err := sendMany(c, "news@shop.example", to, msg)
			if err != nil && !strings.HasPrefix(err.Error(), "4") {
				final = err
				break
			}
			if err == nil {
				break
			}
			if c.Reset() != nil {
				c = h.dial(false)
			}
		}
		copies, told := map[string]int{}, map[string]bool{}
		for _, m := range h.sink.Messages()[before:] {
			if m.From == "" {
				for _, a := range to {
					if strings.Contains(string(m.Data), "Final-Recipient: rfc822; "+a+"\r\n") {
						told[a] = true
					}
				}
				continue
			}
			copies[m.To[0]]++
		}
		for _, a := range to {
			failed := told[a] || final != nil
			switch {
			case copies[a] > 1:
				t.Errorf("round %d: %s received %d copies", round, a, copies[a])
			case copies[a] == 1 && told[a]:
				t.Errorf("round %d: %s received its copy and was reported failed", round, a)
			case copies[a] == 0 && !failed:
				t.Errorf("round %d: %s received nothing and the client was told 250", round, a)
			}
		}
		if final != nil && len(copies) > 0 {
			t.Errorf("round %d: client told %v but %d copies were delivered", round, final, len(copies))
		}
	}
}
