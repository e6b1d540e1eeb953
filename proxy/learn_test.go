package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent/learnstore"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/consent/storetest"
	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// learningCopy is one recipient's copy of a campaign whose per-recipient
// values no tracker rule knows: an id on a content image of the sender's
// own domain, a subscriber id on a link, a token in the path of an
// unsized open image. Only comparing copies reveals them.
func learningCopy(rcpt, id, sid string) string {
	return "From: Shop <news@shop.example>\r\n" +
		"To: <" + rcpt + ">\r\n" +
		"Subject: Spring sale\r\n" +
		"X-Pixelgate-Campaign: spring-learn\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n" +
		"\r\n" +
		"<html><body><p>Spring sale</p>\r\n" +
		"<img src=\"https://img.shop.example/hero/spring.jpg?u=" + id + "\" width=\"600\" alt=\"sale\">\r\n" +
		"<a href=\"https://www.shop.example/sale?utm_source=nl&amp;sid=" + sid + "\">Shop now</a>\r\n" +
		"<img src=\"https://t.shop.example/o/" + id + "K9.gif\" alt=\"\">\r\n" +
		"</body></html>\r\n"
}

// withLearning gives the relay a learner over its consent store.
func withLearning(t testing.TB, out **learnstore.Store) harnessOption {
	return func(c *Config, _ *smtpsink.Options) {
		s, err := learnstore.NewStore(c.Store.SharedKV(), learnstore.StoreOptions{Secret: []byte("relay test")})
		if err != nil {
			t.Fatal(err)
		}
		c.Learn, *out = s, s
	}
}

// Three recipients of one campaign, none consenting: the first two copies
// get every rule but the unknown tokens; from them the relay learns what
// varies, and the third copy arrives without it (R12).
func TestRelayLearnsPerRecipientParts(t *testing.T) {
	kinds := map[string]storeMaker{"bolt": boltStore}
	var srv *redistest.Server
	kinds["redis"] = redisStore(&srv)
	for name, mk := range kinds {
		t.Run(name, func(t *testing.T) {
			var ls *learnstore.Store
			h := newHarnessWith(t, mk, withLearning(t, &ls))
			c := h.dial(false)
			copies := []struct{ rcpt, id, sid string }{
				{"bob@example.net", "a1b2c3d4e5", "4711001"},
				{"carol@example.net", "f6e5d4c3b2", "4711002"},
				{"dave@example.net", "9z8y7x6w5v", "4711003"},
			}
			for i, cp := range copies {
				if err := send(c, "news@shop.example", cp.rcpt, learningCopy(cp.rcpt, cp.id, cp.sid)); err != nil {
					t.Fatalf("%s: %v", cp.rcpt, err)
				}
				if i == 1 {
					// Learning runs after the 250, with the bookkeeping.
					waitLearned(t, ls, "spring-learn")
				}
			}
			got := h.sink.Messages()
			if len(got) != 3 {
				t.Fatalf("upstream got %d messages", len(got))
			}
			second, third := string(got[1].Data), string(got[2].Data)
			if !strings.Contains(second, "spring.jpg?u=f6e5d4c3b2") {
				t.Fatal("the second copy lost its token: the rules know it, so the test does not show learning")
			}
			if strings.Contains(third, "9z8y7x6w5v") || strings.Contains(third, "4711003") {
				t.Errorf("the third copy still identifies its recipient:\n%s", third)
			}
			for _, want := range []string{
				`src="https://img.shop.example/hero/spring.jpg"`,
				`href="https://www.shop.example/sale?utm_source=nl"`,
			} {
				if !strings.Contains(third, want) {
					t.Errorf("the third copy lacks %s:\n%s", want, third)
				}
			}
			if n := findings(h.metrics, map[string]string{"reason": "learned"}); n < 2 {
				t.Errorf("findings by learned parts counted %v, want at least 2", n)
			}
		})
	}
}

// waitLearned waits, boundedly, for the background learning of a copy.
func waitLearned(t *testing.T, ls *learnstore.Store, campaign string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if sh, err := ls.Shapes(context.Background(), campaign); err == nil && sh.Len() > 0 {
			return
		}
	}
	t.Fatal("nothing learned from two copies within 5 s")
}

// ridCopy is one recipient's copy of a campaign whose links and hero image
// carry a per-recipient "rid" that no rule knows.
func ridCopy(campaign, rcpt, rid string) string {
	return "From: Shop <news@shop.example>\r\n" +
		"To: <" + rcpt + ">\r\n" +
		"Subject: Sale\r\n" +
		"X-Pixelgate-Campaign: " + campaign + "\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n" +
		"\r\n" +
		"<html><body><p>Sale</p>\r\n" +
		"<img src=\"https://img.shop.example/hero/sale.jpg?rid=" + rid + "\" width=\"600\" alt=\"sale\">\r\n" +
		"<a href=\"https://www.shop.example/sale?utm_medium=email&amp;rid=" + rid + "\">Shop now</a>\r\n" +
		"</body></html>\r\n"
}

// A relay learns a campaign's ?rid=, then its store becomes unreachable and
// its cached read of the campaign expires: the copies of the outage still
// lose the rid (the last known shapes), and a campaign first seen during
// the outage gets the strict rules (R12, fail closed). Before, a store
// error meant no learnt shapes at all: 5 of 5 copies carried the rid.
func TestRelayLearnedShapesSurviveStoreOutage(t *testing.T) {
	var srv *redistest.Server
	kinds := []struct {
		name string
		mk   storeMaker
		down func(h *harness) error
	}{
		{"bolt", boltStore, func(h *harness) error { return h.store.Close() }},
		{"redis", redisStore(&srv), func(*harness) error { return srv.Stop() }},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			clk := storetest.NewClock(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))
			reg := prometheus.NewRegistry()
			var ls *learnstore.Store
			h := newHarnessWith(t, k.mk, func(c *Config, _ *smtpsink.Options) {
				s, err := learnstore.NewStore(c.Store.SharedKV(), learnstore.StoreOptions{Secret: []byte("relay test"),
					Now: clk.Now, Registerer: reg})
				if err != nil {
					t.Fatal(err)
				}
				c.Learn, ls = s, s
			})
			c := h.dial(false)
			before := []struct{ rcpt, rid string }{{"bob@example.net", "r7Kq2m9XwPz4"}, {"carol@example.net", "b3Hn8v1LsQe6"}}
			for _, cp := range before {
				if err := send(c, "news@shop.example", cp.rcpt, ridCopy("sale-rid", cp.rcpt, cp.rid)); err != nil {
					t.Fatalf("%s: %v", cp.rcpt, err)
				}
			}
			waitLearned(t, ls, "sale-rid")
			if second := string(h.sink.Messages()[1].Data); !strings.Contains(second, "rid=b3Hn8v1LsQe6") {
				t.Fatal("the second copy lost its rid: the rules know it, so the test does not show learning")
			}

			if err := k.down(h); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Hour) // far past the learn store's cache
			during := []struct{ campaign, rcpt, rid string }{
				{"sale-rid", "dave@example.net", "x5Tg7w2NcVb9"},
				{"sale-rid", "erin@example.net", "m4Jd6s8RkYa1"},
				{"new-during-outage", "frank@example.net", "p9Lc3f5HuZo2"},
			}
			for _, cp := range during {
				if err := send(c, "news@shop.example", cp.rcpt, ridCopy(cp.campaign, cp.rcpt, cp.rid)); err != nil {
					t.Fatalf("store down must still deliver (%s): %v", cp.rcpt, err)
				}
			}
			got := h.sink.Messages()
			if len(got) != len(before)+len(during) {
				t.Fatalf("upstream got %d messages", len(got))
			}
			for i, cp := range during {
				m := string(got[len(before)+i].Data)
				if strings.Contains(m, cp.rid) {
					t.Errorf("%s's copy of %s carries its rid during the store outage:\n%s", cp.rcpt, cp.campaign, m)
				}
				for _, want := range []string{
					`src="https://img.shop.example/hero/sale.jpg"`,
					// Strict keeps what cannot hold a value.
					`href="https://www.shop.example/sale?utm_medium=email"`,
				} {
					if !strings.Contains(m, want) {
						t.Errorf("%s's copy of %s lacks %s:\n%s", cp.rcpt, cp.campaign, want, m)
					}
				}
			}
			for rules, want := range map[string]float64{"last-known": 2, "strict": 1} {
				if v := testsupport.Gathered(t, reg, "pixelgate_learn_store_unreadable_copies_total", "rules", rules); v != want {
					t.Errorf("copies under %s rules counted %v, want %v", rules, v, want)
				}
			}
		})
	}
}
