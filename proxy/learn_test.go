package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/mailrewrite/learn"
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
func withLearning(t testing.TB, out **learn.Store) harnessOption {
	return func(c *Config, _ *smtpsink.Options) {
		s, err := learn.NewStore(c.Store.Records(), learn.StoreOptions{Secret: []byte("relay test")})
		if err != nil {
			t.Fatal(err)
		}
		c.Learn, *out = s, s
	}
}

// Three recipients of one campaign, none consenting: the first two copies
// get every rule but the unknown tokens; from them the relay learns what
// varies, and the third copy arrives without it (issue 8).
func TestRelayLearnsPerRecipientParts(t *testing.T) {
	kinds := map[string]storeMaker{"bolt": boltStore}
	var srv *redistest.Server
	kinds["redis"] = redisStore(&srv)
	for name, mk := range kinds {
		t.Run(name, func(t *testing.T) {
			var ls *learn.Store
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
func waitLearned(t *testing.T, ls *learn.Store, campaign string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if sh, err := ls.Shapes(context.Background(), campaign); err == nil && sh.Len() > 0 {
			return
		}
	}
	t.Fatal("nothing learned from two copies within 5 s")
}
