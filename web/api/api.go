// Package api is pixelgate's JSON API under /api/v1 (documented by the
// OpenAPI file it serves at /api/v1/openapi.json): bulk import of consents
// collected elsewhere, one recipient's consent state, campaign and consent
// statistics. Callers authenticate with per-account API tokens and act with
// their account's role; every read of per-campaign or personal data and
// every consent change is audited (R10).
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web/auditlog"
	"github.com/pixelgate/pixelgate/web/auth"
	"github.com/pixelgate/pixelgate/web/campaignid"
	"github.com/pixelgate/pixelgate/web/figures"
	"github.com/pixelgate/pixelgate/web/webdeps"
)

// Prefix is where the router mounts the API.
const Prefix = "/api/v1"

//go:embed openapi.json
var openAPI []byte

type server struct {
	rows  *prometheus.CounterVec
	st    consent.Store
	kr    *consent.Keyring
	users *auth.Service
	audit *auditlog.Recorder
	log   *slog.Logger
	now   func() time.Time
}

// New builds the API handler; it serves paths below Prefix. It works with
// the same parts as the dashboard.
func New(d webdeps.Deps) (http.Handler, error) {
	d, err := d.Complete()
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if !json.Valid(openAPI) {
		return nil, errors.New("api: embedded openapi.json is not valid JSON")
	}
	rows := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pixelgate_api_import_rows_total",
		Help: "Rows of consent imports by outcome: applied, rejected (batch refused), failed (store error)."}, []string{"outcome"})
	if d.Registerer != nil {
		if err := d.Registerer.Register(rows); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	s := &server{rows: rows, st: d.Store, kr: d.Keyring, users: d.Users, audit: d.Audit, log: d.Logger, now: d.Now}
	r := chi.NewRouter()
	// Tokens travel in a header, so a browser cannot be tricked into
	// sending them; the check still stops form posts from other sites.
	r.Use(http.NewCrossOriginProtection().Handler, headers)
	r.Get(Prefix+"/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	r.Group(func(r chi.Router) {
		r.Use(s.authenticate)
		r.With(s.require(auth.SeeStatistics)).Get(Prefix+"/campaigns", s.campaigns)
		r.With(s.require(auth.SeeStatistics)).Get(Prefix+"/campaigns/{id}", s.campaign)
		r.With(s.require(auth.SeeStatistics)).Get(Prefix+"/consent/stats", s.consentStats)
		r.With(s.require(auth.ChangeConsent)).Post(Prefix+"/consent/lookup", s.lookup)
		r.With(s.require(auth.ChangeConsent)).Post(Prefix+"/consent/import", s.importConsents)
	})
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint; see "+Prefix+"/openapi.json")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method not allowed; see "+Prefix+"/openapi.json")
	})
	return r, nil
}

func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Error: msg})
}

type ctxKey struct{}

type caller struct {
	account auth.Account
	token   auth.APIToken
}

// actor is the audit name of an API caller (consent.AuditEntry.Actor).
func (c caller) actor() string { return "api:" + c.account.Name }

func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(ctxKey{}).(caller)
	return c
}

func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pixelgate"`)
			writeError(w, http.StatusUnauthorized, "send an API token as 'Authorization: Bearer <token>' (create one on the dashboard's My account page)")
			return
		}
		t, a, err := s.users.AuthenticateAPIToken(r.Context(), strings.TrimSpace(tok))
		if errors.Is(err, auth.ErrBadToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pixelgate", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		}
		if err != nil {
			s.log.Error("authenticate API token", "err", err)
			writeError(w, http.StatusServiceUnavailable, "store unavailable; retry later")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, caller{account: a, token: t})))
	})
}

func (s *server) require(p auth.Permission) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := callerOf(r)
			if !c.account.Role.Can(p) {
				s.audit.Note(r.Context(), consent.AuditEntry{Actor: c.actor(), Action: "access.denied", Target: r.URL.Path, Result: auditlog.ResultDenied,
					Detail: "role " + string(c.account.Role)})
				writeError(w, http.StatusForbidden, fmt.Sprintf("the token's account has role %s, which may not use this endpoint", c.account.Role))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// mustRecord records a read before the data is sent; no record, no data.
func (s *server) mustRecord(w http.ResponseWriter, r *http.Request, e consent.AuditEntry) bool {
	if _, err := s.audit.Record(r.Context(), e); err != nil {
		writeError(w, http.StatusServiceUnavailable, "the audit log cannot be written, so the data is not sent; retry later")
		return false
	}
	return true
}

func (s *server) storeDown(w http.ResponseWriter, what string, err error) {
	s.log.Error(what, "err", err)
	writeError(w, http.StatusServiceUnavailable, "store unavailable; retry later")
}

type campaignsResponse struct {
	Scope     string             `json:"scope"`
	Campaigns []figures.Campaign `json:"campaigns"`
}

// scope is the statement of what campaign figures cover, as on the dashboard.
const scope = "Opens and clicks count only recipients who had consented to open tracking and still did when they opened; sends count every recipient; machine opens (image proxies) are apart. No figure identifies a recipient."

func (s *server) campaigns(w http.ResponseWriter, r *http.Request) {
	if !s.mustRecord(w, r, consent.AuditEntry{Actor: callerOf(r).actor(), Action: "campaigns.view", Target: "all"}) {
		return
	}
	list, err := s.st.Campaigns(r.Context())
	if err != nil {
		s.storeDown(w, "list campaigns", err)
		return
	}
	out := campaignsResponse{Scope: scope, Campaigns: make([]figures.Campaign, len(list))}
	for i, c := range list {
		out.Campaigns[i] = figures.NewCampaign(c)
	}
	writeJSON(w, http.StatusOK, out)
}

type campaignResponse struct {
	Scope    string           `json:"scope"`
	Campaign figures.Campaign `json:"campaign"`
	Unit     string           `json:"unit"`
	Series   []figures.Bucket `json:"opens_over_time"`
}

func (s *server) campaign(w http.ResponseWriter, r *http.Request) {
	id, ok := campaignid.FromPath(r, Prefix+"/campaigns/")
	if !ok {
		writeError(w, http.StatusNotFound, "no campaign with that id")
		return
	}
	if !s.mustRecord(w, r, consent.AuditEntry{Actor: callerOf(r).actor(), Action: "campaign.view", Target: "campaign:" + id}) {
		return
	}
	c, err := s.st.Campaign(r.Context(), id)
	if errors.Is(err, consent.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no campaign with that id")
		return
	}
	if err != nil {
		s.storeDown(w, "read campaign", err)
		return
	}
	hourly := c.Hourly
	c.Hourly = nil
	out := campaignResponse{Scope: scope, Campaign: figures.NewCampaign(c), Unit: "hour"}
	var byDay bool
	out.Series, byDay = figures.OpensOverTime(hourly, r.URL.Query().Get("by") == "day")
	if byDay {
		out.Unit = "day"
	}
	writeJSON(w, http.StatusOK, out)
}

type consentStatsResponse struct {
	From         string               `json:"from"`
	To           string               `json:"to"`
	Days         []consent.ConsentDay `json:"days"`
	Current      map[string]int64     `json:"current"`
	ConsentShare *float64             `json:"consent_share"`
}

func parseDay(q, name string, def time.Time) (time.Time, error) {
	if q == "" {
		return def, nil
	}
	t, err := time.Parse("2006-01-02", q)
	if err != nil {
		return t, fmt.Errorf("%s: want YYYY-MM-DD, got %q", name, q)
	}
	return t, nil
}

func (s *server) consentStats(w http.ResponseWriter, r *http.Request) {
	today := consent.Day(s.now())
	q := r.URL.Query()
	from, err := parseDay(q.Get("from"), "from", today.AddDate(0, 0, -29))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	to, err := parseDay(q.Get("to"), "to", today)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if to.Before(from) || to.Sub(from) > 366*24*time.Hour {
		writeError(w, http.StatusBadRequest, "to must be on or after from, at most 366 days later")
		return
	}
	st, err := s.st.ConsentStats(r.Context(), from, to.AddDate(0, 0, 1))
	if err != nil {
		s.storeDown(w, "consent stats", err)
		return
	}
	out := consentStatsResponse{From: from.Format("2006-01-02"), To: to.Format("2006-01-02"), Days: st.Days, Current: map[string]int64{}}
	if out.Days == nil {
		out.Days = []consent.ConsentDay{}
	}
	for _, state := range []consent.State{consent.Granted, consent.Refused, consent.Withdrawn} {
		out.Current[state.String()] = st.Current[state]
	}
	if share, _, ok := figures.ConsentShare(st.Current); ok {
		out.ConsentShare = &share
	}
	writeJSON(w, http.StatusOK, out)
}
