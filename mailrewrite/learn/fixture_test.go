package learn

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"testing"
)

// recipient is one person a test campaign is sent to: the per-recipient
// values an ESP would put into their copy.
type recipient struct {
	token string // long opaque token (Brevo-like ?e=, open pixel path)
	sid   string // short numeric subscriber id on links
	hexID string // 10-hex id (Mailchimp-like e=)
}

func newRecipient(n int) recipient {
	h := sha256.Sum256([]byte(fmt.Sprint("recipient", n)))
	return recipient{
		token: base64.RawURLEncoding.EncodeToString(h[:24]),
		sid:   fmt.Sprint(400000 + n*7919),
		hexID: hex.EncodeToString(h[24:29]),
	}
}

// newsletter is the copy one recipient receives of a campaign from
// "shop.example": the same template, their values filled in. Campaign-level
// values (the campaign id, utm_*, image content hashes) are the same in
// every copy.
func newsletter(campaign string, r recipient) []Resource {
	return []Resource{
		{"https://cdn.shop.example/assets/logo.png", "img"},
		{"https://img.shop.example/im/2827948/98153d34c949b456c8017467a00ce946.png?e=" + r.token, "img"},
		{"https://img.shop.example/im/2827948/d3bdcde8e0db6b4a45c6cb048abb22ab.jpg?e=" + r.token, "img"},
		{"https://www.shop.example/sale?utm_source=newsletter&utm_campaign=" + campaign + "&sid=" + r.sid, "a"},
		{"https://www.shop.example/product/blue-shirt?utm_source=newsletter&utm_campaign=" + campaign, "a"},
		{"https://list.esp.example/track/click?u=5e78d7ef2297cc80842b7591e&id=c3569d2df3&e=" + r.hexID, "a"},
		{"https://list.esp.example/track/click?u=5e78d7ef2297cc80842b7591e&id=f74d35f6b6&e=" + r.hexID, "a"},
		{"https://t.shop.example/tr/op/" + r.token, "img"},
		{"https://www.shop.example/help#faq", "a"},
	}
}

func testLearner(t testing.TB, lim Limits) *Learner {
	t.Helper()
	l, err := NewLearner([]byte("test secret"), lim)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testState(t testing.TB, seed byte) *State {
	t.Helper()
	st, err := NewState(bytes.NewReader(bytes.Repeat([]byte{seed}, 16)))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// cleaned returns what a copy's URLs become once the learned parts are
// removed, and how many changed.
func cleaned(t testing.TB, sh *Shapes, c []Resource) ([]string, int) {
	t.Helper()
	out := make([]string, len(c))
	n := 0
	for i, r := range c {
		out[i] = r.URL
		if parts, ok := sh.PerRecipient(mustURL(t, r.URL)); ok {
			out[i] = RemoveParts(r.URL, parts)
			n++
		}
	}
	return out, n
}
