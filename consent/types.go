package consent

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Key is a recipient key: HMAC-SHA256(secret, normalised address) truncated
// to 128 bits (R6). It is the only form in which a recipient is kept.
type Key [16]byte

// String is the lower-case hex form used in storage keys and exports.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// ParseKey parses the hex form produced by String.
func ParseKey(s string) (Key, error) {
	var k Key
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("parse recipient key %q: want %d hex bytes", s, len(k))
	}
	copy(k[:], b)
	return k, nil
}

// State is a recipient's current consent to open tracking.
type State uint8

const (
	// None: no decision recorded. Silence is refusal (R1).
	None State = iota
	Granted
	Refused
	Withdrawn
)

var stateNames = [...]string{None: "none", Granted: "granted", Refused: "refused", Withdrawn: "withdrawn"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", s)
}

// ParseState accepts the names printed by String ("unknown" is None).
func ParseState(s string) (State, error) {
	for i, n := range stateNames {
		if n == s {
			return State(i), nil
		}
	}
	if s == "unknown" || s == "" {
		return None, nil
	}
	return None, fmt.Errorf("unknown consent state %q (want granted, refused, withdrawn or none)", s)
}

// Source says how a consent decision reached pixelgate (R2 evidence).
type Source string

const (
	SourceConsentPage Source = "consent-page"
	SourceOneClick    Source = "one-click" // RFC 8058-style POST from a mail client
	SourceAPI         Source = "api"
	SourceImport      Source = "import"
	SourceAdmin       Source = "admin"
	SourceCLI         Source = "cli"
	SourceErasure     Source = "erasure"
)

// Evidence is what is kept with every consent decision (R2).
type Evidence struct {
	Source        Source `json:"source"`
	PolicyVersion string `json:"policy_version,omitempty"`
	// TextHash is the hex SHA-256 of the exact information text shown.
	TextHash string `json:"text_hash,omitempty"`
	// Actor is the account, API token owner or OS user for api/admin/cli.
	Actor string `json:"actor,omitempty"`
	// At is when the decision was made; zero means now (the store's clock).
	// Imports carry the time the consent was collected elsewhere.
	At time.Time `json:"at,omitzero"`
}

// Event is one entry of a key's evidence trail.
type Event struct {
	ID    uuid.UUID `json:"id"` // UUIDv7
	At    time.Time `json:"at"`
	State State     `json:"-"`
	Evidence
}

// Status is a key's current consent state.
type Status struct {
	State State
	Since time.Time // time of the event that set State; zero for None
}

// Open is one hit on pixelgate's pixel.
type Open struct {
	Key      Key
	Campaign string
	At       time.Time
	// Machine is true for prefetching image proxies (Apple MPP, Gmail and
	// Yahoo proxies): counted apart, never as a person's open.
	Machine bool
}

// Click is one hit on pixelgate's own link redirect (R12).
type Click struct {
	Key      Key
	Campaign string
	At       time.Time
}

// OpenResult says what RecordOpen/RecordClick did.
type OpenResult uint8

const (
	// NotRecorded: consent was not granted at that moment; nothing written.
	NotRecorded OpenResult = iota
	// Recorded: a first (unique) open of this campaign by this key.
	Recorded
	// Repeat: the key had opened this campaign before; counters updated.
	Repeat
)

func (r OpenResult) String() string {
	switch r {
	case Recorded:
		return "recorded"
	case Repeat:
		return "repeat"
	default:
		return "not-recorded"
	}
}

// Send is one or more messages relayed for a campaign, all granted or all
// not granted.
type Send struct {
	Campaign     string
	CampaignName string
	Granted      bool
	// At is when the (latest) message was sent; zero means now.
	At time.Time
	// Count is how many messages this records; 0 means 1. The relay adds
	// its sends up and records them in bulk, so one store write carries
	// many messages.
	Count int
}

// Messages is how many messages s records: Count, or 1 when Count is 0. A
// negative Count is ErrInvalid, so no store subtracts sends.
func (s Send) Messages() (int64, error) {
	switch {
	case s.Count < 0:
		return 0, fmt.Errorf("%w: negative send count %d", ErrInvalid, s.Count)
	case s.Count == 0:
		return 1, nil
	}
	return int64(s.Count), nil
}

// CampaignStats are the aggregate figures the dashboard shows.
type CampaignStats struct {
	ID              string     `json:"id"`
	Name            string     `json:"name"`
	FirstSend       time.Time  `json:"first_send"`
	LastSend        time.Time  `json:"last_send"`
	SendsGranted    int64      `json:"sends_granted"`
	SendsNotGranted int64      `json:"sends_not_granted"`
	UniqueOpens     int64      `json:"unique_opens"`
	Opens           int64      `json:"opens"`
	MachineOpens    int64      `json:"machine_opens"`
	UniqueClicks    int64      `json:"unique_clicks"`
	Clicks          int64      `json:"clicks"`
	Hourly          []HourStat `json:"hourly,omitempty"` // only from Campaign
}

// HourStat is the opens of one campaign in one hour (UTC, truncated).
type HourStat struct {
	Hour         time.Time `json:"hour"`
	Opens        int64     `json:"opens"`
	MachineOpens int64     `json:"machine_opens"`
	Clicks       int64     `json:"clicks"`
}

// ConsentStats are consent changes per day and source plus current totals.
type ConsentStats struct {
	Days    []ConsentDay    `json:"days"`
	Current map[State]int64 `json:"-"`
}

// ConsentDay counts the consent changes of one UTC day from one source.
type ConsentDay struct {
	Day         time.Time `json:"day"`
	Source      Source    `json:"source"`
	Grants      int64     `json:"grants"`
	Refusals    int64     `json:"refusals"`
	Withdrawals int64     `json:"withdrawals"`
}

// AuditEntry is one line of the append-only, HMAC-chained audit log (R10).
type AuditEntry struct {
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`  // individual account, "cli:<osuser>", "api:<account>"
	Action string    `json:"action"` // e.g. "login", "consent.grant", "dsar.export"
	Target string    `json:"target"` // which record: recipient key, campaign id, account
	Result string    `json:"result"` // "ok", "denied", "error: ..."
	Detail string    `json:"detail,omitempty"`
	MAC    string    `json:"mac"` // hex HMAC over the previous MAC and this entry
}

// AuditQuery filters ReadAudit. Zero fields do not filter.
type AuditQuery struct {
	Since, Until time.Time
	Actor        string
	Action       string // prefix match
	Target       string
	AfterSeq     uint64 // entries with Seq > AfterSeq
	Limit        int    // 0 = 100
	Newest       bool   // newest first
}

// AuditVerification is the result of a chain check.
type AuditVerification struct {
	OK      bool   `json:"ok"`
	Checked int    `json:"checked"`
	BadSeq  uint64 `json:"bad_seq,omitempty"` // first entry that does not verify
	Problem string `json:"problem,omitempty"` // "changed", "removed", "reordered", ...
	// Detail says in words what was found: which entries are missing or
	// which record of the chain failed its check, and why.
	Detail string `json:"detail,omitempty"`
}

// Export is everything held about one recipient key (R11).
type Export struct {
	Key              string           `json:"recipient_key"`
	State            string           `json:"consent_state"`
	History          []ExportEvent    `json:"consent_history"`
	Opens            []ExportCampaign `json:"campaigns_opened"`
	LastDeliverable  string           `json:"deliverability_last_open_date,omitempty"`
	LastAskedConsent time.Time        `json:"last_consent_request,omitzero"`
}

// MarshalJSON writes empty lists as [] rather than null, so a data subject
// (R11) reads "nothing held" rather than "unknown".
func (x Export) MarshalJSON() ([]byte, error) {
	type plain Export
	p := plain(x)
	if p.History == nil {
		p.History = []ExportEvent{}
	}
	if p.Opens == nil {
		p.Opens = []ExportCampaign{}
	}
	return json.Marshal(p)
}

// ExportEvent is an Event in export form.
type ExportEvent struct {
	Event
	StateName string `json:"state"`
}

// ExportCampaign is the opens of one campaign by the exported key.
type ExportCampaign struct {
	Campaign  string    `json:"campaign"`
	FirstOpen time.Time `json:"first_open"`
	Opens     int64     `json:"opens"`
	Clicks    int64     `json:"clicks"`
}
