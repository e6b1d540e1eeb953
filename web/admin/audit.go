package admin

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web/auditlog"
)

type auditFilter struct {
	Actor, Action, Target string
	Since, Until          string // YYYY-MM-DD, as typed
	Limit                 int
}

type auditData struct {
	Filter  auditFilter
	Entries []consent.AuditEntry
	Verify  *consent.AuditVerification
}

const maxAuditRows = 500

func parseAuditFilter(q url.Values) (auditFilter, consent.AuditQuery, error) {
	f := auditFilter{
		Actor:  strings.TrimSpace(q.Get("actor")),
		Action: strings.TrimSpace(q.Get("action")),
		Target: strings.TrimSpace(q.Get("target")),
		Since:  strings.TrimSpace(q.Get("since")),
		Until:  strings.TrimSpace(q.Get("until")),
		Limit:  200,
	}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 {
		f.Limit = min(n, maxAuditRows)
	}
	aq := consent.AuditQuery{Actor: f.Actor, Action: f.Action, Target: f.Target, Limit: f.Limit, Newest: true}
	for _, d := range []struct {
		in  string
		out *time.Time
		add int
	}{{f.Since, &aq.Since, 0}, {f.Until, &aq.Until, 1}} {
		if d.in == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", d.in)
		if err != nil {
			return f, aq, fmt.Errorf("dates are YYYY-MM-DD, got %q", d.in)
		}
		*d.out = t.AddDate(0, 0, d.add) // "until" includes that whole day
	}
	return f, aq, nil
}

// filterDetail is the audit detail of a viewer request: what was looked
// for, since searching the log for a person is itself an access (R10).
func (f auditFilter) detail() string {
	var parts []string
	for _, kv := range [][2]string{{"actor", f.Actor}, {"action", f.Action}, {"target", f.Target}, {"since", f.Since}, {"until", f.Until}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, " ")
}

func (s *server) auditView(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	f, q, err := parseAuditFilter(r.URL.Query())
	if err != nil {
		s.render(w, r, http.StatusBadRequest, "audit", view{Title: "Audit log", Error: err.Error(), Data: auditData{Filter: f}})
		return
	}
	if !s.mustRecord(w, r, consent.AuditEntry{Actor: a.Name, Action: "audit.view", Target: "audit", Detail: f.detail()}) {
		return
	}
	entries, err := s.st.ReadAudit(r.Context(), q)
	if err != nil {
		s.log.Error("read audit", "err", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, "The audit log cannot be read; try again shortly.")
		return
	}
	s.render(w, r, 0, "audit", view{Title: "Audit log", Scope: auditScope, ScopeLabel: "About this log:", Data: auditData{Filter: f, Entries: entries}})
}

const auditScope = "Every login, failed login, logout, account change, read of per-campaign or personal data, export, consent change and data-subject request, newest first. Entries are chained with a keyed hash: changing, removing or reordering one breaks the chain from that entry on, and the records of the chain's first and last entry are sealed with the same key, so entries cut off either end are found too."

func (s *server) auditVerify(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	v, err := s.st.VerifyAudit(r.Context())
	result, detail := auditlog.ResultOK, fmt.Sprintf("checked %d entries", v.Checked)
	if err != nil {
		result, detail = auditlog.ResultFailed, err.Error()
	} else if !v.OK {
		result, detail = "broken", fmt.Sprintf("first broken entry #%d (%s): %s", v.BadSeq, v.Problem, v.Detail)
	}
	s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "audit.verify", Target: "audit", Result: result, Detail: detail})
	if err != nil {
		s.log.Error("verify audit", "err", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, "The audit log cannot be checked; try again shortly.")
		return
	}
	f, q, _ := parseAuditFilter(url.Values{})
	entries, err := s.st.ReadAudit(r.Context(), q)
	if err != nil {
		s.log.Error("read audit", "err", err)
	}
	s.render(w, r, 0, "audit", view{Title: "Audit log", Scope: auditScope, ScopeLabel: "About this log:", Data: auditData{Filter: f, Entries: entries, Verify: &v}})
}
