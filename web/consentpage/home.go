package consentpage

import (
	"fmt"
	"net/http"
)

// Home builds the page at "/": what this server is (pixelgate, the open
// tracking consent proxy of the controller named in the texts), where
// recipients manage their choice, and links to the dashboard login and the
// privacy notice when one is configured. Someone who trims a consent or
// pixel URL down to its host lands here. It reads nothing of the request
// but the language and shows nothing personal.
func Home(cfg Config) (http.Handler, error) {
	h, err := newHandler(cfg)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		lang := pickLang(r)
		u := uiText[lang]
		c := h.texts.Controller()
		h.render(w, r, http.StatusOK, pageData{Lang: lang, Kind: "home", Title: u.HomeTitle,
			Message: fmt.Sprintf(u.HomeBody, c.Name), HomeStaff: fmt.Sprintf(u.HomeStaff, c.Name)})
	}), nil
}
