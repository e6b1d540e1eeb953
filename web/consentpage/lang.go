package consentpage

import (
	"net/http"

	"github.com/pixelgate/pixelgate/internal/lang"
)

// pickLang chooses the page language: an explicit ?lang= (the visible
// switch) wins, then the best Accept-Language match (RFC 9110 §12.5.4),
// then the default language.
func pickLang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); isLang(l) {
		return l
	}
	return lang.FromAcceptLanguage(r.Header.Get("Accept-Language"))
}

// isLang: l is the code of a language pixelgate speaks, exactly as the
// page's own links and forms write it.
func isLang(l string) bool {
	_, ok := lang.Get(l)
	return ok
}
