package pixel

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/redisstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/web"
)

// A user agent and address no store or log may ever hold (R8).
const (
	secretUA   = "Mozilla/5.0 (X11; Linux x86_64) Thunderbird/128.0 UA-CANARY-4f1c"
	clientAddr = "127.0.0.1"
)

// pixelStore is a real store plus a way to read every byte it holds.
type pixelStore struct {
	consent.Store
	// dump returns everything stored, for "nothing written" and "no IP/UA"
	// checks; nil when the store cannot be read while open.
	dump func(t *testing.T) map[string]string
	// raw returns the store's bytes at rest (after the test), for the
	// IP/UA check.
	raw func(t *testing.T) []byte
}

var pixelStoreKinds = []struct {
	name string
	open func(t *testing.T, kr *consent.Keyring) pixelStore
}{
	{"bolt", func(t *testing.T, kr *consent.Keyring) pixelStore {
		path := filepath.Join(t.TempDir(), "pixelgate.db")
		st, err := boltstore.Open(path, boltstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}})
		if err != nil {
			t.Fatalf("open bolt store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return pixelStore{Store: st, raw: func(t *testing.T) []byte {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}}
	}},
	{"redis", func(t *testing.T, kr *consent.Keyring) pixelStore {
		srv := redistest.Start(t)
		st, err := redisstore.Open(t.Context(), srv.URL(), redisstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}})
		if err != nil {
			t.Fatalf("open redis store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { rdb.Close() })
		dump := func(t *testing.T) map[string]string {
			keys, err := rdb.Keys(context.Background(), "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, k := range keys {
				v, err := rdb.Dump(context.Background(), k).Result()
				if err != nil && err != redis.Nil {
					t.Fatal(err)
				}
				out[k] = v
			}
			return out
		}
		return pixelStore{Store: st, dump: dump, raw: func(t *testing.T) []byte {
			var b bytes.Buffer
			d := dump(t)
			keys := make([]string, 0, len(d))
			for k := range d {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				b.WriteString(k + "\x00" + d[k] + "\x00")
			}
			return b.Bytes()
		}}
	}},
}

type pixelEnv struct {
	ph   *PixelHandler
	lh   *LinkHandler
	st   pixelStore
	kr   *consent.Keyring
	srv  *httptest.Server
	logs *testsupport.SyncBuffer
	reg  *prometheus.Registry
}

func newPixelEnv(t *testing.T, open func(*testing.T, *consent.Keyring) pixelStore, fwd *Forwarder) *pixelEnv {
	t.Helper()
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e := &pixelEnv{kr: kr, st: open(t, kr), logs: &testsupport.SyncBuffer{}, reg: prometheus.NewRegistry()}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ph, err := NewPixelHandler(PixelConfig{Store: e.st, Keyring: kr, Forwarder: fwd, Logger: logger, Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	lh, err := NewLinkHandler(LinkConfig{Store: e.st, Keyring: kr, Logger: logger, Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	e.ph, e.lh = ph, lh
	// The production router, as pixelgate serve mounts the handlers.
	e.srv = httptest.NewServer(web.NewRouter(web.Handlers{Pixel: ph, Link: lh}))
	t.Cleanup(func() {
		e.srv.Close()
		closeHandlers(t, ph, lh)
	})
	return e
}

// closeHandlers drains the handlers' record queues, as serve does at exit.
func closeHandlers(t testing.TB, hs ...interface{ Close(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, h := range hs {
		if err := h.Close(ctx); err != nil {
			t.Error(err)
		}
	}
}

// settle waits, boundedly, until the hits answered so far are recorded:
// the store calls come after the answer.
func (e *pixelEnv) settle(t *testing.T) {
	t.Helper()
	e.ph.rec.settle(t)
	e.lh.rec.settle(t)
}

// settle waits, boundedly, until nothing is queued or running.
func (r *recorder) settle(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); r.pending.Load() > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d hits still unrecorded after 5 s", r.pending.Load())
		}
	}
}

func (e *pixelEnv) key(t *testing.T, addr string) consent.Key {
	t.Helper()
	k, err := e.kr.RecipientKey(addr)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (e *pixelEnv) token(t *testing.T, p consent.Purpose, k consent.Key, campaign, u string) string {
	t.Helper()
	tok, err := e.kr.Seal(consent.Token{Purpose: p, Key: k, Campaign: campaign, URL: u})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// hitResult is what a client can observe of a pixel response.
type hitResult struct {
	status int
	header http.Header
	body   []byte
}

func (e *pixelEnv) hit(t *testing.T, method, path, ua string) hitResult {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", ua)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	h := resp.Header.Clone()
	h.Del("Date") // the only header allowed to vary: the server's clock
	e.settle(t)
	return hitResult{resp.StatusCode, h, b}
}

func grant(t *testing.T, st consent.Store, k consent.Key) {
	t.Helper()
	if _, err := st.Grant(t.Context(), k, consent.Evidence{Source: consent.SourceAPI, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
}

func campaignStats(t *testing.T, st consent.Store, id string) consent.CampaignStats {
	t.Helper()
	c, err := st.Campaign(t.Context(), id)
	if err != nil && !strings.Contains(err.Error(), consent.ErrNotFound.Error()) {
		t.Fatal(err)
	}
	return c
}

func exportOf(t *testing.T, st consent.Store, k consent.Key) consent.Export {
	t.Helper()
	x, err := st.Export(t.Context(), k)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestPixel(t *testing.T) {
	for _, sk := range pixelStoreKinds {
		t.Run(sk.name, func(t *testing.T) {
			e := newPixelEnv(t, sk.open, nil)
			granted, refused, withdrawn, unknown := e.key(t, "granted@example.com"), e.key(t, "refused@example.com"),
				e.key(t, "withdrawn@example.com"), e.key(t, "unknown@example.com")
			grant(t, e.st, granted)
			grant(t, e.st, withdrawn)
			if _, err := e.st.Refuse(t.Context(), refused, consent.Evidence{Source: consent.SourceAPI, Actor: "t"}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.st.Withdraw(t.Context(), withdrawn, consent.Evidence{Source: consent.SourceAPI, Actor: "t"}); err != nil {
				t.Fatal(err)
			}
			open := func(k consent.Key, campaign string) string {
				return "/o/" + e.token(t, consent.PurposeOpen, k, campaign, "") + ".gif"
			}

			reference := e.hit(t, "GET", open(granted, "c-granted"), secretUA)
			if reference.status != 200 || len(reference.body) != 43 || reference.header.Get("Cache-Control") != "no-store, private" ||
				reference.header.Get("Content-Type") != "image/gif" || reference.header.Get("Set-Cookie") != "" {
				t.Fatalf("granted hit: status %d, %d bytes, headers %v", reference.status, len(reference.body), reference.header)
			}
			c := campaignStats(t, e.st, "c-granted")
			if c.UniqueOpens != 1 || c.Opens != 1 || c.MachineOpens != 0 {
				t.Fatalf("after one granted open: %+v", c)
			}
			if x := exportOf(t, e.st, granted); len(x.Opens) != 1 || x.Opens[0].Campaign != "c-granted" {
				t.Fatalf("export of the granted key: %+v", x.Opens)
			}

			// Everything below must leave the store exactly as it is now.
			var before map[string]string
			if e.st.dump != nil {
				before = e.st.dump(t)
			}
			tampered := []byte(e.token(t, consent.PurposeOpen, granted, "c-granted", ""))
			tampered[30] ^= 0x01
			if tampered[30] == '-' || tampered[30] == '_' || tampered[30] > 'z' {
				tampered[30] = 'A'
			}
			pageTok := e.token(t, consent.PurposeConsentPage, granted, "c-granted", "")
			expiredTok, err := e.kr.Seal(consent.Token{Purpose: consent.PurposeOpen, Key: granted, Campaign: "c-granted", Issued: time.Now().AddDate(-3, 0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			silent := map[string]string{
				"refused":             open(refused, "c-refused"),
				"withdrawn":           open(withdrawn, "c-withdrawn"),
				"unknown":             open(unknown, "c-unknown"),
				"tampered":            "/o/" + string(tampered) + ".gif",
				"truncated":           open(granted, "c-granted")[:40] + ".gif",
				"consent-page token":  "/o/" + pageTok + ".gif",
				"expired":             "/o/" + expiredTok + ".gif",
				"garbage":             "/o/hello.gif",
				"no .gif":             "/o/" + e.token(t, consent.PurposeOpen, granted, "c-granted", ""),
				"HEAD, granted token": open(granted, "c-granted"),
			}
			for name, path := range silent {
				method := "GET"
				if strings.HasPrefix(name, "HEAD") {
					method = "HEAD"
				}
				got := e.hit(t, method, path, secretUA)
				want := reference
				if method == "HEAD" {
					want.body = nil
				}
				if got.status != want.status || !bytes.Equal(got.body, want.body) || !equalHeaders(got.header, want.header) {
					t.Errorf("%s: response differs from a granted hit (an oracle):\n got %d %v\nwant %d %v", name, got.status, got.header, want.status, want.header)
				}
			}
			if e.st.dump != nil {
				after := e.st.dump(t)
				if !equalDumps(before, after) {
					t.Errorf("refused/withdrawn/unknown/bad hits wrote to Redis:\nbefore %d keys, after %d keys", len(before), len(after))
				}
			}
			for _, k := range []consent.Key{refused, withdrawn, unknown} {
				if x := exportOf(t, e.st, k); len(x.Opens) != 0 || x.LastDeliverable != "" {
					t.Errorf("export of a non-consenting key holds opens: %+v", x)
				}
			}
			for _, id := range []string{"c-refused", "c-withdrawn", "c-unknown"} {
				if c := campaignStats(t, e.st, id); c.Opens+c.UniqueOpens+c.MachineOpens != 0 {
					t.Errorf("campaign %s counted opens: %+v", id, c)
				}
			}
			if c := campaignStats(t, e.st, "c-granted"); c.Opens != 1 {
				t.Errorf("bad tokens or HEAD counted opens: %+v", c)
			}

			// The outcomes differ only in the metrics.
			wantCounts := map[string]float64{"recorded": 1, "not-granted": 3, "bad-token": 5, "expired-token": 1, "head": 1}
			for outcome, want := range wantCounts {
				if got := hitCount(t, e.reg, outcome); got != want {
					t.Errorf("pixelgate_pixel_hits_total{outcome=%q} = %v, want %v", outcome, got, want)
				}
			}

			t.Run("withdrawal silences tokens already sent", func(t *testing.T) {
				k := e.key(t, "later@example.com")
				grant(t, e.st, k)
				sent := open(k, "c-later") // the email is sent while granted
				e.hit(t, "GET", sent, secretUA)
				e.hit(t, "GET", sent, secretUA)
				if c := campaignStats(t, e.st, "c-later"); c.UniqueOpens != 1 || c.Opens != 2 {
					t.Fatalf("before withdrawal: %+v", c)
				}
				if _, err := e.st.Withdraw(t.Context(), k, consent.Evidence{Source: consent.SourceConsentPage}); err != nil {
					t.Fatal(err)
				}
				e.hit(t, "GET", sent, secretUA)
				if c := campaignStats(t, e.st, "c-later"); c.Opens != 2 {
					t.Fatalf("old token still counted after withdrawal: %+v", c)
				}
			})

			t.Run("machine opens are counted apart", func(t *testing.T) {
				k := e.key(t, "mpp@example.com")
				grant(t, e.st, k)
				e.hit(t, "GET", open(k, "c-mpp"), "Mozilla/5.0")
				e.hit(t, "GET", open(k, "c-mpp"), "Mozilla/5.0 (via ggpht.com GoogleImageProxy)")
				if c := campaignStats(t, e.st, "c-mpp"); c.MachineOpens != 2 || c.Opens != 0 || c.UniqueOpens != 0 {
					t.Fatalf("machine opens: %+v", c)
				}
			})

			t.Run("deliverability token records the date only", func(t *testing.T) {
				k := e.key(t, "quiet@example.com") // no consent at all
				tok := e.token(t, consent.PurposeDeliverability, k, "c-deliv", "")
				got := e.hit(t, "GET", "/o/"+tok+".gif", secretUA)
				if !bytes.Equal(got.body, reference.body) || !equalHeaders(got.header, reference.header) {
					t.Fatal("deliverability response differs")
				}
				x := exportOf(t, e.st, k)
				if x.LastDeliverable != time.Now().UTC().Format(time.DateOnly) || len(x.Opens) != 0 {
					t.Fatalf("export after a deliverability hit: date %q, opens %v", x.LastDeliverable, x.Opens)
				}
				if c := campaignStats(t, e.st, "c-deliv"); c.Opens+c.MachineOpens != 0 {
					t.Fatalf("deliverability hit counted as an open: %+v", c)
				}
			})

			// R8: neither the logs nor the store hold the client's address,
			// user agent or a token.
			logs := e.logs.String()
			for _, s := range []string{secretUA, "UA-CANARY", string(tampered), pageTok} {
				if strings.Contains(logs, s) {
					t.Errorf("logs contain %q", s)
				}
			}
			raw := e.st.raw(t)
			for _, s := range []string{"UA-CANARY", "Thunderbird", clientAddr, "GoogleImageProxy"} {
				if bytes.Contains(raw, []byte(s)) {
					t.Errorf("store holds %q", s)
				}
			}
		})
	}
}

// A store that fails answers exactly like every other case.
func TestPixelStoreErrorLooksTheSame(t *testing.T) {
	e := newPixelEnv(t, pixelStoreKinds[0].open, nil)
	k := e.key(t, "a@example.com")
	grant(t, e.st, k)
	path := "/o/" + e.token(t, consent.PurposeOpen, k, "c1", "") + ".gif"
	ok := e.hit(t, "GET", path, secretUA)
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	failed := e.hit(t, "GET", path, secretUA)
	if failed.status != ok.status || !bytes.Equal(failed.body, ok.body) || !equalHeaders(failed.header, ok.header) {
		t.Fatalf("store error is visible: %d %v vs %d %v", failed.status, failed.header, ok.status, ok.header)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "store call failed") {
		t.Error("store error not logged")
	}
	if strings.Contains(logs, secretUA) || strings.Contains(logs, clientAddr) || strings.Contains(logs, strings.TrimSuffix(strings.TrimPrefix(path, "/o/"), ".gif")) {
		t.Errorf("log holds the client's data or the token: %s", logs)
	}
}

func TestPixelMethods(t *testing.T) {
	e := newPixelEnv(t, pixelStoreKinds[0].open, nil)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+"/o/x.gif", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: status %d, want 405", resp.StatusCode)
	}
}

// hitCount reads pixelgate_pixel_hits_total{outcome} from the registry.
func hitCount(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "pixelgate_pixel_hits_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

func equalDumps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
