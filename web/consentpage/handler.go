// Package consentpage serves the recipient's consent page, /c/{token}: what
// open tracking is, the current choice, and two equally prominent buttons
// (R2, R3). GET only shows; a decision needs a POST from the page, or the
// RFC 8058-style one-click withdrawal a mail client can send. A decision
// from the page answers 303 See Other to the page itself (POST-redirect-GET),
// so reloading the result never submits the choice a second time.
package consentpage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/internal/urlpath"
	"github.com/pixelgate/pixelgate/web/static"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the consent pages.
type Config struct {
	// Texts are the information texts and controller details; nil means
	// DefaultTexts (whose controller details are placeholders).
	Texts *Texts
	// StoreTimeout bounds each store call. Default 3s.
	StoreTimeout time.Duration
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
}

type handler struct {
	texts      *Texts
	store      consent.Store
	keyring    *consent.Keyring
	timeout    time.Duration
	log        *slog.Logger
	stylesheet string
	views      *prometheus.CounterVec
	decisions  *prometheus.CounterVec
}

// maxFormBytes bounds a POST body; the forms hold four short fields.
const maxFormBytes = 8 << 10

// New builds the handler of /c/{token} and /c/{token}/withdraw. Mount it on
// /c/*: it expects the full request path.
//
// Routes:
//
//	GET  /c/{token}           the page; never changes anything, because mail
//	                          scanners and prefetchers open links (R2)
//	POST /c/{token}           a decision from the page's buttons; answers 303
//	                          to GET /c/{token}?done={state}
//	POST /c/{token}/withdraw  one-click withdrawal (RFC 8058 style): body
//	                          List-Unsubscribe=One-Click or decision=withdraw;
//	                          no cookie, no login, 200, no redirect
//	GET  /c/{token}/withdraw  the page, as GET /c/{token}
//
// Every POST except the one-click route goes through net/http's
// CrossOriginProtection; the one-click route is exempt because mail
// clients post it from outside any page, and its token authenticates it.
func New(cfg Config, st consent.Store, kr *consent.Keyring) (http.Handler, error) {
	if st == nil || kr == nil {
		return nil, errors.New("consent page: store and keyring are required")
	}
	h, err := newHandler(cfg)
	if err != nil {
		return nil, err
	}
	h.store, h.keyring = st, kr
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{h.views, h.decisions} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register consent page metrics: %w", err)
			}
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET "+urlpath.ConsentPattern, h.view)
	mux.HandleFunc("GET "+urlpath.WithdrawPattern, h.view)
	mux.HandleFunc("POST "+urlpath.ConsentPattern, h.decide)
	mux.HandleFunc("POST "+urlpath.WithdrawPattern, h.oneClick)
	mux.HandleFunc("/", h.notFound)

	cop := http.NewCrossOriginProtection()
	cop.AddInsecureBypassPattern("POST " + urlpath.WithdrawPattern)
	cop.SetDenyHandler(http.HandlerFunc(h.forbidden))
	protected := cop.Handler(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		// ServeMux would answer an unclean path ("/c//withdraw") with a
		// redirect; a consent URL that is not exactly ours is simply not
		// found.
		if path.Clean(r.URL.Path) != r.URL.Path {
			h.notFound(w, r)
			return
		}
		protected.ServeHTTP(w, r)
	}), nil
}

// newHandler fills in the defaults of cfg and builds the page renderer
// shared by the consent pages and the home page (unregistered metrics).
func newHandler(cfg Config) (*handler, error) {
	if cfg.Texts == nil {
		t, err := DefaultTexts()
		if err != nil {
			return nil, fmt.Errorf("consent page: embedded texts: %w", err)
		}
		cfg.Texts = t
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &handler{
		texts: cfg.Texts, timeout: cfg.StoreTimeout, log: cfg.Logger,
		stylesheet: static.URL("base.css"),
		views: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_consent_page_requests_total",
			Help: "Consent page requests by route and result.",
		}, []string{"route", "result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelgate_consent_decisions_total",
			Help: "Consent decisions recorded from the consent page, by decision and source.",
		}, []string{"decision", "source"}),
	}, nil
}

func (h *handler) storeCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.timeout)
}

// openToken opens the page token of the request; ok false means the
// invalid-link page was written.
func (h *handler) openToken(w http.ResponseWriter, r *http.Request, route, lang string) (consent.Token, bool) {
	tok, err := h.keyring.Open(r.PathValue("token"), consent.PurposeConsentPage)
	if err != nil {
		result := "bad-token"
		if errors.Is(err, consent.ErrTokenExpired) || errors.Is(err, consent.ErrTokenRetired) {
			result = "expired-token"
		}
		h.views.WithLabelValues(route, result).Inc()
		u := uiText[lang]
		h.render(w, r, http.StatusNotFound, messagePage(lang, u.InvalidTitle, u.InvalidBody))
		return consent.Token{}, false
	}
	return tok, true
}

// action is the form target, relative so the pages work under any prefix:
// from /c/T it is "T", from /c/T/withdraw it is "../T".
func action(r *http.Request) string {
	tok := r.PathValue("token")
	if urlpath.IsConsentPage(r.URL.Path, tok) {
		return tok
	}
	return "../" + tok
}

func (h *handler) view(w http.ResponseWriter, r *http.Request) {
	lang := pickLang(r)
	tok, ok := h.openToken(w, r, "view", lang)
	if !ok {
		return
	}
	ctx, cancel := h.storeCtx(r)
	defer cancel()
	sts, err := h.store.Lookup(ctx, []consent.Key{tok.Key})
	if err != nil || len(sts) != 1 {
		h.unavailable(w, r, "view", lang, err)
		return
	}
	h.views.WithLabelValues("view", "ok").Inc()
	d := h.choicePage(lang, action(r), tok.MaskedAddress(), sts[0])
	// ?done= only selects which confirmation to show, and only when it
	// names the state the store holds now: a stale or hand-made flag
	// cannot make the page claim a choice that is not in force.
	if done, err := consent.ParseState(r.URL.Query().Get("done")); err == nil && done != consent.None && done == sts[0].State {
		d.Notice = uiText[lang].Confirmed[done]
	}
	h.render(w, r, http.StatusOK, d)
}

func (h *handler) decide(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	formErr := r.ParseForm()
	lang := r.PostForm.Get("lang")
	if !isLang(lang) {
		lang = pickLang(r)
	}
	tok, ok := h.openToken(w, r, "decide", lang)
	if !ok {
		return
	}
	masked := tok.MaskedAddress()
	version, hash := r.PostForm.Get("version"), r.PostForm.Get("hash")
	want, known := h.texts.Hash(version, lang)
	decision := r.PostForm.Get("decision")
	if formErr != nil || !known || hash != want || !isDecision(decision) {
		// The evidence must name the text the person saw (R2): an
		// unknown version, a hash that is not that version's, or a
		// damaged form records nothing and shows the current text.
		h.views.WithLabelValues("decide", "stale-form").Inc()
		h.showChoice(w, r, http.StatusBadRequest, lang, masked, tok, uiText[lang].StaleBody)
		return
	}
	ev := consent.Evidence{Source: consent.SourceConsentPage, PolicyVersion: version, TextHash: hash}
	event, err := h.record(r, decision, tok.Key, ev)
	if err != nil {
		h.unavailable(w, r, "decide", lang, err)
		return
	}
	h.views.WithLabelValues("decide", "ok").Inc()
	h.decisions.WithLabelValues(decision, string(ev.Source)).Inc()
	// POST-redirect-GET: the browser lands on the page of the same token,
	// which reads the new state from the store, so a reload or Back never
	// posts the decision again. The URL carries the new state and the
	// language, nothing personal: the token is already in the path, and
	// a cookie is avoided because the consent pages set none (R8).
	http.Redirect(w, r, doneURL(r, event.State, lang), http.StatusSeeOther)
}

// doneURL is the page to show after a decision: relative (the last path
// element is the token), so the pages work under any public URL prefix.
func doneURL(r *http.Request, st consent.State, lang string) string {
	q := url.Values{"done": {st.String()}, "lang": {lang}}
	return url.PathEscape(r.PathValue("token")) + "?" + q.Encode()
}

func isDecision(d string) bool { return d == "allow" || d == "refuse" || d == "withdraw" }

func (h *handler) record(r *http.Request, decision string, k consent.Key, ev consent.Evidence) (consent.Event, error) {
	ctx, cancel := h.storeCtx(r)
	defer cancel()
	switch decision {
	case "allow":
		return h.store.Grant(ctx, k, ev)
	case "refuse":
		return h.store.Refuse(ctx, k, ev)
	default:
		return h.store.Withdraw(ctx, k, ev)
	}
}

// showChoice re-reads the state and shows the page with a notice.
func (h *handler) showChoice(w http.ResponseWriter, r *http.Request, status int, lang, masked string, tok consent.Token, notice string) {
	ctx, cancel := h.storeCtx(r)
	defer cancel()
	sts, err := h.store.Lookup(ctx, []consent.Key{tok.Key})
	if err != nil || len(sts) != 1 {
		h.unavailable(w, r, "decide", lang, err)
		return
	}
	d := h.choicePage(lang, action(r), masked, sts[0])
	d.Notice = notice
	h.render(w, r, status, d)
}

// oneClick is the RFC 8058-style withdrawal: a POST whose body says
// List-Unsubscribe=One-Click (RFC 8058 §3.2), or decision=withdraw from a
// plain form. It answers 200 with a short page and never redirects.
func (h *handler) oneClick(w http.ResponseWriter, r *http.Request) {
	lang := pickLang(r)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	// RFC 8058 allows multipart/form-data as well as urlencoded bodies.
	err := r.ParseMultipartForm(maxFormBytes)
	if err != nil && !errors.Is(err, http.ErrNotMultipart) {
		h.views.WithLabelValues("one-click", "bad-form").Inc()
		h.render(w, r, http.StatusBadRequest, messagePage(lang, uiText[lang].StaleTitle, uiText[lang].OneClickBad))
		return
	}
	tok, ok := h.openToken(w, r, "one-click", lang)
	if !ok {
		return
	}
	if r.PostForm.Get("List-Unsubscribe") != "One-Click" && r.PostForm.Get("decision") != "withdraw" {
		h.views.WithLabelValues("one-click", "bad-form").Inc()
		h.render(w, r, http.StatusBadRequest, messagePage(lang, uiText[lang].StaleTitle, uiText[lang].OneClickBad))
		return
	}
	ctx, cancel := h.storeCtx(r)
	defer cancel()
	if _, err := h.store.Withdraw(ctx, tok.Key, consent.Evidence{Source: consent.SourceOneClick}); err != nil {
		h.unavailable(w, r, "one-click", lang, err)
		return
	}
	h.views.WithLabelValues("one-click", "ok").Inc()
	h.decisions.WithLabelValues("withdraw", string(consent.SourceOneClick)).Inc()
	u := uiText[lang]
	h.render(w, r, http.StatusOK, messagePage(lang, u.States[consent.Withdrawn], u.OneClickDone))
}

func (h *handler) unavailable(w http.ResponseWriter, r *http.Request, route, lang string, err error) {
	if err == nil {
		err = errors.New("store returned no status")
	}
	// The error says what failed; nothing of the request (token, address,
	// user agent) is logged (R8).
	h.log.Warn("consent page: store call failed", "route", route, "err", err)
	h.views.WithLabelValues(route, "store-error").Inc()
	u := uiText[lang]
	w.Header().Set("Retry-After", "60")
	h.render(w, r, http.StatusServiceUnavailable, messagePage(lang, u.Unavailable, u.UnavailBody))
}

func (h *handler) forbidden(w http.ResponseWriter, r *http.Request) {
	h.views.WithLabelValues("decide", "cross-origin").Inc()
	lang := pickLang(r)
	h.render(w, r, http.StatusForbidden, messagePage(lang, uiText[lang].StaleTitle, uiText[lang].ForbiddenBody))
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	lang := pickLang(r)
	h.views.WithLabelValues("other", "not-found").Inc()
	u := uiText[lang]
	h.render(w, r, http.StatusNotFound, messagePage(lang, u.InvalidTitle, u.InvalidBody))
}
