// Package e2e runs the real pixelgate binary as an operator would: several
// `pixelgate serve` processes sharing one real redis-server, a real SMTP
// peer as the ESP, and plain HTTP and SMTP clients as the recipients and
// the sender (operator guide §6).
package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/redisstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

const (
	publicURL = "https://mail-links.shop.example"
	// browserUA is a mail client's user agent: not an image proxy, so an
	// open through it is a person's open.
	browserUA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Thunderbird/140.0"
	// espPixel is the ESP's own per-recipient open pixel the sender's
	// message carries; pixelgate must never let it through.
	espPixel = "https://u1.ct.sendgrid.net/wf/open?upn=alice-8f3a"
)

func campaignMessage(to string) string {
	return "From: Shop <news@shop.example>\r\nTo: <" + to + ">\r\nSubject: Spring sale\r\n" +
		"X-Pixelgate-Campaign: spring-2026\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<html><body><p>Our spring sale starts today.</p>" +
		"<img src=\"" + espPixel + "\" width=\"1\" height=\"1\" alt=\"\"></body></html>\r\n"
}

// relay hands one message to a pixelgate SMTP listener as a sender on a
// relay network does (no AUTH; pixelgate's certificate is self-signed, so
// no STARTTLS either).
func relay(addr, to, msg string) error {
	return relayMany(addr, []string{to}, msg)
}

// send relays one message through a replica's SMTP side and returns what
// the ESP received, decoded.
func send(t *testing.T, r *replica, sink *smtpsink.Sink, to string) string {
	t.Helper()
	before := len(sink.Messages())
	if err := relay(r.smtpAddr, to, campaignMessage(to)); err != nil {
		t.Fatalf("send through %s: %v\n%s", r.name, err, r.stderr.String())
	}
	msgs := sink.Messages()
	if len(msgs) != before+1 {
		t.Fatalf("ESP received %d messages after a send through %s, want %d", len(msgs), r.name, before+1)
	}
	return bodies(t, msgs[len(msgs)-1].Data)
}

var hiddenInputRe = regexp.MustCompile(`<input type="hidden" name="(version|hash|lang)" value="([^"]*)">`)

// decide loads the consent page through r and presses a button on it, as
// the recipient's browser does.
func decide(t *testing.T, r *replica, link, decision string) string {
	t.Helper()
	pageURL := r.at(t, link)
	resp, err := http.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("consent page through %s: %s\n%s", r.name, resp.Status, page)
	}
	form := url.Values{"decision": {decision}}
	for _, m := range hiddenInputRe.FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], m[2])
	}
	if form.Get("hash") == "" {
		t.Fatalf("consent page through %s has no form with the text hash:\n%s", r.name, page)
	}
	resp, err = http.PostForm(pageURL, form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s through %s: %s\n%s", decision, r.name, resp.Status, body)
	}
	return string(body)
}

// openPixel fetches a pixel through r as a mail client does.
func openPixel(t *testing.T, r *replica, link string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.at(t, link), nil)
	req.Header.Set("User-Agent", browserUA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/gif" {
		t.Fatalf("pixel through %s: %s %s", r.name, resp.Status, resp.Header.Get("Content-Type"))
	}
}

// metric returns the value of one sample line of r's /metrics, 0 if absent.
func metric(t *testing.T, r *replica, sample string) float64 {
	t.Helper()
	_, text := r.get(t, "/metrics")
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}

// sharedCluster is one redis-server, one ESP and two replicas started
// with the same key files and public URL.
type sharedCluster struct {
	// redisURL is the one Redis every replica and CLI call uses.
	redisURL string
	sink     *smtpsink.Sink
	keys     string
	a, b     *replica
	// common are the settings every replica and CLI call shares.
	common []string
}

func startCluster(t *testing.T, extra ...string) *sharedCluster {
	t.Helper()
	return startClusterOn(t, redistest.Start(t).URL(), extra...)
}

// startClusterOn is startCluster on a given Redis URL (one server,
// Sentinel or Cluster form).
func startClusterOn(t *testing.T, redisURL string, extra ...string) *sharedCluster {
	t.Helper()
	c := &sharedCluster{redisURL: redisURL, keys: filepath.Join(t.TempDir(), "keys")}
	sink, err := smtpsink.Start(smtpsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	c.sink = sink
	c.common = []string{"--redis-url", c.redisURL, "--keys-dir", c.keys}
	serveArgs := append([]string{"--public-url", publicURL, "--upstream", "smtp://" + sink.Addr + "?tls=none", "--esp", "sendgrid"}, c.common...)
	serveArgs = append(serveArgs, extra...)
	// A first: it generates the key files B then reads.
	c.a = startReplica(t, "A", append(serveArgs, "--data-dir", t.TempDir())...)
	c.b = startReplica(t, "B", append(serveArgs, "--data-dir", t.TempDir())...)
	return c
}

// store opens the shared Redis as a CLI would, to read what the replicas
// wrote.
func (c *sharedCluster) store(t *testing.T) consent.Store {
	t.Helper()
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: c.keys, NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := redisstore.Open(t.Context(), c.redisURL, redisstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestReplicasShareOneRedis(t *testing.T) {
	testReplicas(t, startCluster(t))
}

// TestReplicasShareRedisCluster: the same through a Redis Cluster client,
// where every script must stay within one hash slot.
func TestReplicasShareRedisCluster(t *testing.T) {
	testReplicas(t, startClusterOn(t, "redis-cluster://"+redistest.StartCluster(t).Addr()))
}

func testReplicas(t *testing.T, c *sharedCluster) {
	a, b := c.a, c.b
	const alice = "alice@example.org"

	// No consent yet: through B, the ESP's pixel is stripped, no pixel is
	// added, and the footer links to the consent page.
	first := send(t, b, c.sink, alice)
	if strings.Contains(first, "sendgrid.net/wf/open") || pixelLinkRe.MatchString(first) {
		t.Fatalf("message to a recipient without consent carries a pixel:\n%s", first)
	}
	consentLink := consentLinkRe.FindString(first)
	if consentLink == "" || !strings.HasPrefix(consentLink, publicURL) {
		t.Fatalf("no consent link on the shared public URL in:\n%s", first)
	}

	// The recipient allows open tracking on the page served by A (the link
	// was made by B: tokens open on every replica).
	if page := decide(t, a, consentLink, "allow"); !strings.Contains(page, `value="withdraw"`) {
		t.Errorf("after allowing, A's page offers no withdrawal:\n%s", page)
	}

	// B's relay honours it at once: pixelgate's pixel replaces the ESP's.
	second := send(t, b, c.sink, alice)
	pixel := pixelLinkRe.FindString(second)
	if pixel == "" || !strings.HasPrefix(pixel, publicURL) || strings.Contains(second, "sendgrid.net/wf/open") {
		t.Fatalf("after consent through A, B's message has pixel %q and the ESP pixel gone? message:\n%s", pixel, second)
	}
	if strings.Contains(pixel, "alice") {
		t.Errorf("pixel URL %q carries the address (R6)", pixel)
	}

	// Opens through B and A both count, in one set of figures.
	openPixel(t, b, pixel)
	openPixel(t, a, pixel)
	openPixel(t, b, pixel)
	st := c.store(t)
	// The relays write send counts about once a second (proxy/sendtally.go).
	camps, err := st.Campaigns(t.Context())
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if camps, err = st.Campaigns(t.Context()); err != nil || len(camps) == 1 && camps[0].SendsGranted+camps[0].SendsNotGranted == 2 {
			break
		}
	}
	if err != nil || len(camps) != 1 {
		t.Fatalf("campaigns: %+v %v, want the one campaign", camps, err)
	}
	got := camps[0]
	if got.Opens != 3 || got.UniqueOpens != 1 || got.SendsGranted != 1 || got.SendsNotGranted != 1 {
		t.Errorf("campaign figures %+v: want 3 opens by 1 person, 1 send granted and 1 not", got)
	}
	if ra, rb := metric(t, a, `pixelgate_pixel_hits_total{outcome="repeat"}`)+metric(t, a, `pixelgate_pixel_hits_total{outcome="recorded"}`),
		metric(t, b, `pixelgate_pixel_hits_total{outcome="repeat"}`)+metric(t, b, `pixelgate_pixel_hits_total{outcome="recorded"}`); ra != 1 || rb != 2 {
		t.Errorf("recorded hits per replica: A %v, B %v; want 1 and 2", ra, rb)
	}

	// Withdrawal through B silences the pixel already sent, on A too (R3),
	// and A's relay stops adding one.
	decide(t, b, consentLink, "withdraw")
	openPixel(t, a, pixel)
	if after, _ := st.Campaigns(t.Context()); after[0].Opens != 3 {
		t.Errorf("an open after withdrawal was recorded: %d opens", after[0].Opens)
	}
	if third := send(t, a, c.sink, alice); pixelLinkRe.MatchString(third) {
		t.Errorf("A adds a pixel after the withdrawal made through B:\n%s", third)
	}

	// Both replicas and a CLI call write to one audit chain, which verifies.
	for _, r := range []*replica{a, b} {
		resp, err := http.PostForm("http://"+r.httpAddr+"/admin/login", url.Values{"name": {"mallory"}, "password": {"not-the-password"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("bad login through %s: %s, want 401", r.name, resp.Status)
		}
	}
	if code, out := runCLI(t, append([]string{"consent", "show"}, append(c.common, alice)...)...); code != 0 || !strings.Contains(out, "withdrawn") {
		t.Errorf("consent show on the shared store: exit %d:\n%s", code, out)
	}
	entries, err := st.ReadAudit(t.Context(), consent.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range entries {
		actions[e.Action]++
	}
	if actions["login.failed"] != 2 || actions["consent.show"] != 1 {
		t.Errorf("audit actions %v: want login.failed from both replicas and the CLI's consent.show", actions)
	}
	if v, err := st.VerifyAudit(t.Context()); err != nil || !v.OK || v.Checked != len(entries) {
		t.Errorf("audit chain after both replicas wrote: %+v %v (%d entries)", v, err, len(entries))
	}
}

// TestReplicaWithOtherSecretsRefused: a replica pointed at other key files
// would split recipients and break the audit chain; it must not start.
func TestReplicaWithOtherSecretsRefused(t *testing.T) {
	c := startCluster(t)
	code, out := runCLI(t, "serve", "--redis-url", c.redisURL, "--keys-dir", filepath.Join(t.TempDir(), "other-keys"),
		"--data-dir", t.TempDir(), "--smtp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(out, "secrets") {
		t.Errorf("replica with other secrets: exit %d, want a refusal naming the secrets:\n%s", code, out)
	}
	// The running replicas are unaffected.
	if status, body := c.a.get(t, "/readyz"); status != http.StatusOK {
		t.Errorf("A after the refused start: %d %s", status, body)
	}
}
