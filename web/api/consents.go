package api

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web/auditlog"
)

// maxBody bounds a request body; an import of maxImportRows rows with long
// addresses fits well within it.
const (
	maxBody       = 4 << 20
	maxImportRows = 1000
	// clockSkew tolerates a collector's clock slightly ahead of ours.
	clockSkew = 5 * time.Minute
)

func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("request body: one JSON object expected, found more")
	}
	return nil
}

type lookupRequest struct {
	Email string `json:"email"`
}

type lookupResponse struct {
	State string     `json:"state"`
	Since *time.Time `json:"since,omitempty"`
}

// lookup reads one recipient's consent state. The address is in the body,
// never in the URL (R6: no address in a request line or access log).
func (s *server) lookup(w http.ResponseWriter, r *http.Request) {
	var req lookupRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	k, err := s.kr.RecipientKey(req.Email)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "email: "+err.Error())
		return
	}
	if !s.mustRecord(w, r, consent.AuditEntry{Actor: callerOf(r).actor(), Action: "consent.read", Target: k.String()}) {
		return
	}
	st, err := s.st.Lookup(r.Context(), []consent.Key{k})
	if err != nil {
		s.storeDown(w, "lookup", err)
		return
	}
	out := lookupResponse{State: st[0].State.String()}
	if !st[0].Since.IsZero() {
		since := st[0].Since.UTC()
		out.Since = &since
	}
	writeJSON(w, http.StatusOK, out)
}

// importRow is one consent collected elsewhere, with its evidence (R2).
type importRow struct {
	Email         string    `json:"email"`
	State         string    `json:"state"`
	CollectedAt   time.Time `json:"collected_at"`
	Source        string    `json:"source"`
	PolicyVersion string    `json:"policy_version"`
	TextHash      string    `json:"text_hash"`
}

type importRequest struct {
	Records []importRow `json:"records"`
}

type rowResult struct {
	Row     int    `json:"row"`
	Status  string `json:"status"` // applied, error, not_applied
	Error   string `json:"error,omitempty"`
	EventID string `json:"event_id,omitempty"`
}

type importResponse struct {
	Applied int         `json:"applied"`
	Rows    []rowResult `json:"rows"`
}

var sourceLabelRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// validRow is a row that passed every check, ready to apply.
type validRow struct {
	key   consent.Key
	state consent.State
	ev    consent.Evidence
}

func (s *server) checkRow(row importRow, actor string) (validRow, error) {
	var v validRow
	k, err := s.kr.RecipientKey(row.Email)
	if err != nil {
		return v, fmt.Errorf("email: %w", err)
	}
	st, err := consent.ParseState(row.State)
	if err != nil || st == consent.None {
		return v, fmt.Errorf("state: want granted, refused or withdrawn, got %q", row.State)
	}
	if row.CollectedAt.IsZero() {
		return v, errors.New("collected_at: required (RFC 3339 time the decision was made)")
	}
	if row.CollectedAt.After(s.now().Add(clockSkew)) {
		return v, errors.New("collected_at: in the future")
	}
	src := consent.SourceImport
	if row.Source != "" {
		if !sourceLabelRE.MatchString(row.Source) {
			return v, errors.New("source: 1-32 characters a-z, 0-9 and '-', e.g. signup-form")
		}
		src = consent.Source(string(consent.SourceImport) + ":" + row.Source)
	}
	if st == consent.Granted {
		// A grant without the text it answered is no evidence (R2).
		if strings.TrimSpace(row.PolicyVersion) == "" {
			return v, errors.New("policy_version: required for a grant")
		}
		if b, err := hex.DecodeString(row.TextHash); err != nil || len(b) != 32 {
			return v, errors.New("text_hash: required for a grant, the hex SHA-256 of the information text shown")
		}
	} else if row.TextHash != "" {
		if b, err := hex.DecodeString(row.TextHash); err != nil || len(b) != 32 {
			return v, errors.New("text_hash: hex SHA-256 expected")
		}
	}
	if len(row.PolicyVersion) > 64 {
		return v, errors.New("policy_version: at most 64 characters")
	}
	return validRow{key: k, state: st, ev: consent.Evidence{Source: src, PolicyVersion: row.PolicyVersion,
		TextHash: strings.ToLower(row.TextHash), Actor: actor, At: row.CollectedAt.UTC()}}, nil
}

// importConsents applies a batch all or nothing as far as validation goes:
// when any row is invalid, or older than the recipient's current decision,
// nothing is applied and every bad row is reported. Rows are then applied in
// order; should the store fail midway, the answer says exactly which rows
// were applied and which were not, so nothing fails silently.
func (s *server) importConsents(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	var req importRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(req.Records) == 0 || len(req.Records) > maxImportRows {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("records: send 1 to %d rows per request", maxImportRows))
		return
	}
	rows := make([]validRow, len(req.Records))
	results := make([]rowResult, len(req.Records))
	bad := 0
	seen := map[consent.Key]int{}
	for i, row := range req.Records {
		results[i] = rowResult{Row: i, Status: "not_applied"}
		v, err := s.checkRow(row, c.actor())
		if err == nil {
			if j, dup := seen[v.key]; dup {
				err = fmt.Errorf("email: same recipient as row %d; send one decision per recipient", j)
			}
			seen[v.key] = i
		}
		if err != nil {
			results[i] = rowResult{Row: i, Status: "error", Error: err.Error()}
			bad++
			continue
		}
		rows[i] = v
	}
	if bad == 0 {
		keys := make([]consent.Key, len(rows))
		for i, v := range rows {
			keys[i] = v.key
		}
		current, err := s.st.Lookup(r.Context(), keys)
		if err != nil {
			s.storeDown(w, "import lookup", err)
			return
		}
		for i, st := range current {
			// An old signup checkbox must not override a later decision,
			// least of all a withdrawal (R3).
			if st.State != consent.None && !rows[i].ev.At.After(st.Since) {
				results[i] = rowResult{Row: i, Status: "error",
					Error: fmt.Sprintf("a later decision (%s at %s) is already recorded", st.State, st.Since.UTC().Format(time.RFC3339))}
				bad++
			}
		}
	}
	if bad > 0 {
		s.audit.Note(r.Context(), consent.AuditEntry{Actor: c.actor(), Action: "consent.import", Target: "batch", Result: auditlog.ResultDenied,
			Detail: fmt.Sprintf("%d of %d rows invalid; nothing applied", bad, len(rows))})
		s.rows.WithLabelValues("rejected").Add(float64(len(rows)))
		writeJSON(w, http.StatusUnprocessableEntity, importResponse{Rows: results})
		return
	}
	applied := 0
	for i, v := range rows {
		ev, err := s.apply(r, v)
		if err != nil {
			results[i] = rowResult{Row: i, Status: "error", Error: "store: " + err.Error()}
			s.audit.Note(r.Context(), consent.AuditEntry{Actor: c.actor(), Action: "consent.import", Target: v.key.String(), Result: auditlog.ResultFailed})
			s.log.Error("import row", "row", i, "err", err)
			s.rows.WithLabelValues("failed").Inc()
			writeJSON(w, http.StatusServiceUnavailable, importResponse{Applied: applied, Rows: results})
			return
		}
		results[i] = rowResult{Row: i, Status: "applied", EventID: ev.ID.String()}
		applied++
		s.rows.WithLabelValues("applied").Inc()
		s.audit.Note(r.Context(), consent.AuditEntry{Actor: c.actor(), Action: "consent." + actionOf(v.state), Target: v.key.String(),
			Detail: "import, source " + string(v.ev.Source) + ", collected " + v.ev.At.Format(time.RFC3339)})
	}
	writeJSON(w, http.StatusOK, importResponse{Applied: applied, Rows: results})
}

func (s *server) apply(r *http.Request, v validRow) (consent.Event, error) {
	switch v.state {
	case consent.Granted:
		return s.st.Grant(r.Context(), v.key, v.ev)
	case consent.Refused:
		return s.st.Refuse(r.Context(), v.key, v.ev)
	default:
		return s.st.Withdraw(r.Context(), v.key, v.ev)
	}
}

func actionOf(st consent.State) string {
	switch st {
	case consent.Granted:
		return "grant"
	case consent.Refused:
		return "refuse"
	default:
		return "withdraw"
	}
}
