package consentpage

import (
	"bytes"
	"html/template"
	"net/http"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/internal/lang"
)

// pageData is everything the page template shows.
type pageData struct {
	Lang       string
	UI         ui
	Langs      []langLink
	Stylesheet string
	Controller Controller
	Title      string

	// Kind selects the body: "choice", "message" (invalid link, store
	// unavailable, forbidden, one-click done).
	Kind    string
	Notice  string // confirmation or problem shown above the choice
	Message string // body of a message page
	// Home page only: the line for the controller's staff.
	HomeStaff string

	// Choice page only.
	Head, Info template.HTML
	Version    string
	Hash       string
	Action     string
	Masked     string
	State      consent.State
	StateText  string
	Since      string
	Granted    bool
	Legend     string
	Offers     []offer
}

// offer is one button of the choice form.
type offer struct{ Decision, Label string }

// offers are the buttons for a recipient in state st: only choices that
// change something. Before any decision, Allow and Refuse side by side,
// equally prominent (R2); once allowed, Withdraw (R3); once refused or
// withdrawn, Allow. Offering the choice already in force would suggest it
// is not.
func offers(u ui, st consent.State) []offer {
	switch st {
	case consent.Granted:
		return []offer{{"withdraw", u.Withdraw}}
	case consent.Refused, consent.Withdrawn:
		return []offer{{"allow", u.Allow}}
	default:
		return []offer{{"allow", u.Allow}, {"refuse", u.Refuse}}
	}
}

type langLink struct {
	Code, Name string
	Current    bool
}

func langLinks(current string) []langLink {
	codes := lang.Codes()
	out := make([]langLink, len(codes))
	for i, l := range codes {
		out[i] = langLink{Code: l, Name: uiText[l].LangName, Current: l == current}
	}
	return out
}

// pageTemplate: landmarks (banner, main, contentinfo), a skip link, the
// page language, a labelled language switch and a fieldset with a legend
// around the two buttons. No script anywhere: the CSP forbids it.
var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} · {{.Controller.Name}}</title>
<link rel="stylesheet" href="{{.Stylesheet}}">
</head>
<body>
<a class="skip" href="#main">{{.UI.Skip}}</a>
<header class="site">
<span class="controller">{{.Controller.Name}}</span>
<nav class="lang" aria-label="{{.UI.OtherLangs}}"><ul>
{{range .Langs}}<li><a href="?lang={{.Code}}" hreflang="{{.Code}}" lang="{{.Code}}"{{if .Current}} aria-current="true"{{end}}>{{.Name}}</a></li>
{{end}}</ul></nav>
</header>
<main id="main">
{{if eq .Kind "choice"}}{{.Head}}
{{if .Notice}}<p class="status confirm" role="status">{{.Notice}}</p>
{{end}}<p class="status{{if .Granted}} granted{{end}}" id="current-state">{{if .Masked}}{{.UI.StatusFor}} <strong class="masked">{{.Masked}}</strong>{{else}}{{.UI.StatusForAny}}{{end}}{{.UI.Colon}} <strong data-state="{{.State}}">{{.StateText}}</strong>{{if .Since}} ({{.UI.Since}} <time>{{.Since}}</time>){{end}}</p>
<form class="choice" method="post" action="{{.Action}}">
<input type="hidden" name="version" value="{{.Version}}">
<input type="hidden" name="hash" value="{{.Hash}}">
<input type="hidden" name="lang" value="{{.Lang}}">
<fieldset>
<legend>{{.Legend}}</legend>
<div class="buttons">
{{range .Offers}}<button type="submit" name="decision" value="{{.Decision}}">{{.Label}}</button>
{{end}}</div>
</fieldset>
</form>
<div class="info">
{{.Info}}</div>
{{else if eq .Kind "home"}}<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
<p>{{.UI.HomeRecipients}}</p>
<ul class="home-links">
<li>{{.HomeStaff}} <a href="/admin/login">{{.UI.HomeDashboard}}</a></li>
{{if .Controller.PrivacyURL}}<li><a href="{{.Controller.PrivacyURL}}" rel="noreferrer">{{.UI.HomePrivacy}}</a></li>
{{end}}</ul>
{{template "contact" .}}
{{else}}<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{template "contact" .}}
{{end}}</main>
<footer class="site">
<p>{{.Controller.Name}}{{if .Version}} · {{.UI.VersionLabel}} {{.Version}}{{end}}</p>
</footer>
</body>
</html>
{{define "contact"}}<p>{{.UI.ContactUs}}{{.UI.Colon}} {{.Controller.Name}}, <a href="mailto:{{.Controller.ContactEmail}}">{{.Controller.ContactEmail}}</a>{{if .Controller.DPOEmail}} · <a href="mailto:{{.Controller.DPOEmail}}">{{.Controller.DPOEmail}}</a>{{end}}</p>{{end}}`))

// securityHeaders go on every response of the consent pages: no script, no
// third-party anything, no framing, and no Referer carrying the token to a
// site the page links to (R6).
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store, private")
}

// render writes a page; a template error (a bug, not input) becomes a
// plain 500 rather than half a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	d.UI = uiText[d.Lang]
	d.Langs = langLinks(d.Lang)
	d.Stylesheet = h.stylesheet
	d.Controller = h.texts.Controller()
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, d); err != nil {
		h.log.Error("consent page: render failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b.Bytes())
	}
}

// choicePage fills the data of the page with the information text and
// the buttons for a recipient in state st.
func (h *handler) choicePage(lang, action, masked string, st consent.Status) pageData {
	version := h.texts.Current()
	rt, _ := h.texts.text(version, lang)
	d := pageData{
		Lang: lang, Kind: "choice", Title: rt.title,
		Head: rt.head, Info: rt.info, Version: version, Hash: rt.hash,
		Action: action, Masked: masked, State: st.State,
		StateText: uiText[lang].States[st.State],
		Granted:   st.State == consent.Granted,
		Legend:    uiText[lang].Legend,
		Offers:    offers(uiText[lang], st.State),
	}
	if st.State != consent.None {
		d.Legend = uiText[lang].ChangeLegend
	}
	if !st.Since.IsZero() && st.State != consent.None {
		d.Since = st.Since.UTC().Format(time.DateOnly)
	}
	return d
}

func messagePage(lang, title, msg string) pageData {
	return pageData{Lang: lang, Kind: "message", Title: title, Message: msg}
}
