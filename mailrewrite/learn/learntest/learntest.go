// Package learntest is the campaign the learner's tests and the learning
// store's tests send: one template, each recipient's values filled in. It
// imports nothing of pixelgate, so the learn package's own tests can use it
// too; its functions are generic over learn.Resource and learn.Part.
package learntest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"testing"
)

// Recipient is one person a test campaign is sent to: the per-recipient
// values an ESP would put into their copy.
type Recipient struct {
	Token string // long opaque token (Brevo-like ?e=, open pixel path)
	SID   string // short numeric subscriber id on links
	HexID string // 10-hex id (Mailchimp-like e=)
}

// NewRecipient returns the n-th recipient, the same in every run.
func NewRecipient(n int) Recipient {
	h := sha256.Sum256([]byte(fmt.Sprint("recipient", n)))
	return Recipient{
		Token: base64.RawURLEncoding.EncodeToString(h[:24]),
		SID:   fmt.Sprint(400000 + n*7919),
		HexID: hex.EncodeToString(h[24:29]),
	}
}

// Resource is learn.Resource's shape.
type Resource interface {
	~struct {
		URL     string
		Carrier string
	}
}

// Newsletter is the copy one recipient receives of a campaign from
// "shop.example": the same template, their values filled in. Campaign-level
// values (the campaign id, utm_*, image content hashes) are the same in
// every copy.
func Newsletter[R Resource](campaign string, r Recipient) []R {
	return []R{
		{"https://cdn.shop.example/assets/logo.png", "img"},
		{"https://img.shop.example/im/2827948/98153d34c949b456c8017467a00ce946.png?e=" + r.Token, "img"},
		{"https://img.shop.example/im/2827948/d3bdcde8e0db6b4a45c6cb048abb22ab.jpg?e=" + r.Token, "img"},
		{"https://www.shop.example/sale?utm_source=newsletter&utm_campaign=" + campaign + "&sid=" + r.SID, "a"},
		{"https://www.shop.example/product/blue-shirt?utm_source=newsletter&utm_campaign=" + campaign, "a"},
		{"https://list.esp.example/track/click?u=5e78d7ef2297cc80842b7591e&id=c3569d2df3&e=" + r.HexID, "a"},
		{"https://list.esp.example/track/click?u=5e78d7ef2297cc80842b7591e&id=f74d35f6b6&e=" + r.HexID, "a"},
		{"https://t.shop.example/tr/op/" + r.Token, "img"},
		{"https://www.shop.example/help#faq", "a"},
	}
}

// MustURL parses s or fails the test.
func MustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Cleaned returns what a copy's URLs become once the learned parts are
// removed (perRecipient is a Shapes' method, remove is learn.RemoveParts),
// and how many changed.
func Cleaned[P any, R Resource](t testing.TB, perRecipient func(*url.URL) (P, bool), remove func(string, P) string, c []R) ([]string, int) {
	t.Helper()
	out := make([]string, len(c))
	n := 0
	for i, r := range c {
		// Go has no field access on a type parameter; R converts to its
		// core type.
		raw := struct{ URL, Carrier string }(r).URL
		out[i] = raw
		if parts, ok := perRecipient(MustURL(t, raw)); ok {
			out[i] = remove(raw, parts)
			n++
		}
	}
	return out, n
}
