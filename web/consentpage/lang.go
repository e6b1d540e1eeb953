package consentpage

import (
	"net/http"
	"strconv"
	"strings"
)

// pickLang chooses the page language: an explicit ?lang= (the visible
// switch) wins, then the best Accept-Language match (RFC 9110 §12.5.4),
// then English.
func pickLang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); isLang(l) {
		return l
	}
	return fromAcceptLanguage(r.Header.Get("Accept-Language"))
}

func isLang(l string) bool {
	for _, x := range languages {
		if l == x {
			return true
		}
	}
	return false
}

// fromAcceptLanguage returns the supported language with the highest q in
// an Accept-Language value; ties keep the header's order. Malformed parts
// are skipped, never an error: the header comes from anyone.
func fromAcceptLanguage(h string) string {
	best, bestQ := languages[0], 0.0
	if len(h) > 1024 {
		h = h[:1024]
	}
	for part := range strings.SplitSeq(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if !isLang(primary) {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if q > bestQ {
			best, bestQ = primary, q
		}
	}
	return best
}
