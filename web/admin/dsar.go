package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web/auditlog"
	"github.com/pixelgate/pixelgate/web/auth"
)

// Data-subject requests (R11). The address is typed by the DPO and only
// ever travels in POST bodies: it never appears in a URL, a log line or the
// audit log, which names the recipient key instead.

type dsarData struct {
	Address   string
	Key       string
	Status    consent.Status
	Export    consent.Export
	Campaigns []dsarCampaign
	Done      string
}

type dsarCampaign struct {
	consent.ExportCampaign
	Name string
}

func (s *server) dsarForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, 0, "dsar", dsarView(view{}))
}

// dsarView fills in the title and scope shared by the DSAR pages.
func dsarView(v view) view {
	v.Title, v.Scope, v.ScopeLabel = "Data-subject requests", dsarScope, "About this page:"
	return v
}

const dsarScope = "Everything pixelgate holds about one recipient, found by the recipient key derived from the address. The address itself is never stored. Every lookup, export, erasure and objection is written to the audit log under your name."

// dsarKey derives the recipient key from the posted address, rendering the
// form again with an error when it is not an address.
func (s *server) dsarKey(w http.ResponseWriter, r *http.Request) (string, consent.Key, bool) {
	addr := strings.TrimSpace(r.PostFormValue("address"))
	k, err := s.kr.RecipientKey(addr)
	if err != nil {
		msg := "Enter the recipient's email address (local@domain)."
		if !errors.Is(err, consent.ErrBadAddress) {
			msg = "The address could not be keyed."
		}
		s.render(w, r, http.StatusUnprocessableEntity, "dsar", dsarView(view{Error: msg, Data: dsarData{Address: addr}}))
		return "", k, false
	}
	return addr, k, true
}

func (s *server) storeDown(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.Error(what, "err", err)
	s.errorPage(w, r, http.StatusServiceUnavailable, "The store is unavailable; try again shortly.")
}

// showSubject renders what is held about k, after recording the read.
func (s *server) showSubject(w http.ResponseWriter, r *http.Request, addr string, k consent.Key, action, done string) {
	a, _ := accountOf(r)
	if !s.mustRecord(w, r, consent.AuditEntry{Actor: a.Name, Action: action, Target: k.String()}) {
		return
	}
	d := dsarData{Address: addr, Key: k.String(), Done: done}
	st, err := s.st.Lookup(r.Context(), []consent.Key{k})
	if err != nil {
		s.storeDown(w, r, "dsar lookup", err)
		return
	}
	d.Status = st[0]
	if d.Export, err = s.st.Export(r.Context(), k); err != nil && !errors.Is(err, consent.ErrNotFound) {
		s.storeDown(w, r, "dsar export", err)
		return
	}
	for _, c := range d.Export.Opens {
		dc := dsarCampaign{ExportCampaign: c}
		if cs, err := s.st.Campaign(r.Context(), c.Campaign); err == nil {
			dc.Name = cs.Name
		}
		d.Campaigns = append(d.Campaigns, dc)
	}
	s.render(w, r, 0, "dsar", dsarView(view{Data: d}))
}

func (s *server) dsarLookup(w http.ResponseWriter, r *http.Request) {
	addr, k, ok := s.dsarKey(w, r)
	if !ok {
		return
	}
	s.showSubject(w, r, addr, k, "dsar.lookup", "")
}

// exportFile is the access/portability answer: generated on request,
// streamed to the DPO and never written anywhere.
type exportFile struct {
	GeneratedAt time.Time      `json:"generated_at"`
	Controller  string         `json:"about"`
	Data        consent.Export `json:"data"`
}

func (s *server) dsarExport(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	_, k, ok := s.dsarKey(w, r)
	if !ok {
		return
	}
	if !s.mustRecord(w, r, consent.AuditEntry{Actor: a.Name, Action: "dsar.export", Target: k.String()}) {
		return
	}
	ex, err := s.st.Export(r.Context(), k)
	if err != nil && !errors.Is(err, consent.ErrNotFound) {
		s.storeDown(w, r, "dsar export", err)
		return
	}
	if ex.Key == "" {
		ex.Key = k.String()
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="pixelgate-export-`+s.now().UTC().Format("20060102-150405")+`.json"`)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(exportFile{GeneratedAt: s.now().UTC(), Data: ex,
		Controller: "Data held by pixelgate (open-tracking consent proxy) about one email address, identified by its recipient key. The address itself is not stored."})
}

func (s *server) dsarErase(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("confirm") != "yes" {
		addr := strings.TrimSpace(r.PostFormValue("address"))
		s.render(w, r, http.StatusUnprocessableEntity, "dsar", dsarView(view{
			Error: "Tick the confirmation box to erase.", Data: dsarData{Address: addr}}))
		return
	}
	s.dsarChange(w, r, "dsar.erase", func(a auth.Account, k consent.Key) error {
		return s.st.Erase(r.Context(), k, consent.Evidence{Source: consent.SourceErasure, Actor: a.Name})
	}, "Erased: opens, clicks and the evidence trail are gone; a withdrawal record stays so this address is never tracked again.")
}

func (s *server) dsarObject(w http.ResponseWriter, r *http.Request) {
	s.dsarChange(w, r, "dsar.object", func(a auth.Account, k consent.Key) error {
		if _, err := s.st.Withdraw(r.Context(), k, consent.Evidence{Source: consent.SourceAdmin, Actor: a.Name}); err != nil {
			return err
		}
		s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: "consent.withdraw", Target: k.String(), Detail: "objection recorded by the DPO"})
		return nil
	}, "Objection recorded: consent to open tracking is withdrawn, and opens of emails already sent are no longer recorded.")
}

// dsarChange runs one change on the posted address's key, records it with
// its outcome, and shows what is held afterwards.
func (s *server) dsarChange(w http.ResponseWriter, r *http.Request, action string, op func(auth.Account, consent.Key) error, done string) {
	a, _ := accountOf(r)
	addr, k, ok := s.dsarKey(w, r)
	if !ok {
		return
	}
	err := op(a, k)
	result := auditlog.ResultOK
	if err != nil {
		result = auditlog.ResultFailed
	}
	s.audit.Note(r.Context(), consent.AuditEntry{Actor: a.Name, Action: action, Target: k.String(), Result: result})
	if err != nil {
		s.storeDown(w, r, action, err)
		return
	}
	s.showSubject(w, r, addr, k, "dsar.lookup", done)
}
