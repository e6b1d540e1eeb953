package consentpage

import (
	"net/http/httptest"
	"testing"
)

func TestPickLang(t *testing.T) {
	for _, c := range []struct{ query, header, want string }{
		{"", "", "en"},
		{"", "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "fr"},
		{"", "en-GB,fr;q=0.5", "en"},
		{"", "de-DE,fr;q=0.3", "fr"},
		{"", "de, it", "en"},
		{"", "en;q=0.2, FR;q=0.9", "fr"},
		{"", "fr;q=0, en;q=0.1", "en"},
		{"", "fr;q=2", "en"},
		{"", "fr;q=abc,en", "en"},
		{"lang=fr", "en", "fr"},
		{"lang=en", "fr", "en"},
		{"lang=de", "fr", "fr"},
	} {
		r := httptest.NewRequest("GET", "/c/x?"+c.query, nil)
		r.Header.Set("Accept-Language", c.header)
		if got := pickLang(r); got != c.want {
			t.Errorf("query %q Accept-Language %q: %q, want %q", c.query, c.header, got, c.want)
		}
	}
}

func FuzzAcceptLanguage(f *testing.F) {
	for _, s := range []string{"fr-FR,fr;q=0.9", "en;q=0.1,fr;q=0.2", ";;;,,,q=", "fr;q=NaN", "*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if l := fromAcceptLanguage(h); !isLang(l) {
			t.Fatalf("fromAcceptLanguage(%q) = %q, not a supported language", h, l)
		}
	})
}
