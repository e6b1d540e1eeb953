package learn

import (
	"net/url"
	"testing"
)

// Strict takes out every query item and fragment that may hold a value and
// keeps what cannot (a short word), the path, and a URL it cannot read.
func TestStrictTakesOutWhatMayHoldAValue(t *testing.T) {
	long := "aGVsbG8td29ybGQtdGhpcy1pcy1hLWNsaWNrLXRva2VuLXRoYXQtZW5jb2Rlcy10aGUtZGVzdGluYXRpb24"
	for _, c := range []struct{ in, want, parts string }{
		{"https://www.shop.example/sale?utm_medium=email&rid=r7Kq2m9XwPz4", "https://www.shop.example/sale?utm_medium=email", "query:rid"},
		{"https://www.shop.example/sale?rid=a&rid=12345", "https://www.shop.example/sale", "query:rid"},
		{"https://www.shop.example/sale?lang=fr&utm_source=newsletter", "https://www.shop.example/sale?lang=fr&utm_source=newsletter", ""},
		{"https://www.shop.example/sale?utm_campaign=spring-sale-2026", "https://www.shop.example/sale", "query:utm_campaign"},
		{"https://x.example/d?o0c3tol00bmx&web#u12345678", "https://x.example/d?web", "query[0],fragment"},
		{"https://x.example/u/12345678/page#top", "https://x.example/u/12345678/page#top", ""},
		{"https://click.example/r?t=" + long, "https://click.example/r", "query:t(payload)"},
		{"mailto:bob@example.net?subject=1234567", "mailto:bob@example.net?subject=1234567", ""},
	} {
		u, err := url.Parse(c.in)
		if err != nil {
			t.Fatal(err)
		}
		parts, ok := Strict{}.PerRecipient(u)
		if got := PartsString(parts); got != c.parts || ok != (c.parts != "") {
			t.Errorf("%s: parts %q (%v), want %q", c.in, got, ok, c.parts)
		}
		if got := RemoveParts(c.in, parts); got != c.want {
			t.Errorf("%s: became %s, want %s", c.in, got, c.want)
		}
	}
}
