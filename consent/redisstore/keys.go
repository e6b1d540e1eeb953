package redisstore

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// Global keys (one each; not tied to a recipient or a campaign).
const (
	// keyExpiryTags: sorted set of tag prefixes scored by the earliest
	// expiry (ms, store clock) in that tag's expiry index.
	keyExpiryTags = "pg:x"
	// keyCampaigns: campaign hashes scored by last send (ms).
	keyCampaigns = "pg:campaigns"
	// keyCurrent: hash state digit -> number of keys in that state.
	keyCurrent = "pg:cs:cur"
	// keyFingerprint: the secrets fingerprint (Store.CheckFingerprint).
	keyFingerprint = "pg:fp"
	// Audit log, one slot: entries scored by sequence, the head (last
	// entry) and the anchor the first remaining entry chains from.
	keyAuditLog    = "pg:{audit}:log"
	keyAuditHead   = "pg:{audit}:head"
	keyAuditAnchor = "pg:{audit}:anchor"
)

// recipientKeys are the keys of one recipient, all in slot {rk}.
type recipientKeys struct {
	prefix string // pg:{<rk hex>}:
}

func recipient(k consent.Key) recipientKeys {
	return recipientKeys{prefix: "pg:{" + k.String() + "}:"}
}

// state: "<state digit>|<since unix ns>[|e]"; "|e" marks an erasure tombstone.
func (r recipientKeys) state() string { return r.prefix + "s" }

// history: list of JSON evidence events, oldest first.
func (r recipientKeys) history() string { return r.prefix + "h" }

// asked: unix ms of the last consent request put in an email (R5).
func (r recipientKeys) asked() string { return r.prefix + "a" }

// deliverability: "YYYY-MM-DD" of the last deliverability open (R4).
func (r recipientKeys) deliverability() string { return r.prefix + "d" }

// expiry: the tag's expiry index, members are key suffixes.
func (r recipientKeys) expiry() string { return r.prefix + "x" }

// opens: hash of this recipient's opens of one campaign.
func (r recipientKeys) opens(c campaignRef) string { return r.prefix + openMember(c) }

func openMember(c campaignRef) string { return "o:" + c.hash }

// campaignRef names a campaign in keys by a hash of its id: ids come from
// the sender and may hold anything, including an address.
type campaignRef struct {
	id   string
	hash string
}

func campaign(id string) campaignRef {
	sum := sha256.Sum256([]byte(id))
	return campaignRef{id: id, hash: hex.EncodeToString(sum[:16])}
}

func (c campaignRef) prefix() string { return "pg:{c:" + c.hash + "}:" }

// meta: hash of the campaign's id, name, sends and open totals.
func (c campaignRef) meta() string { return c.prefix() + "m" }

// hour: hash of one hour's open counters.
func (c campaignRef) hour(h time.Time) string { return c.prefix() + hourMember(h) }

func hourMember(h time.Time) string { return "h:" + strconv.FormatInt(h.UnixMilli(), 10) }

// expiry: the campaign tag's expiry index (its hourly counters).
func (c campaignRef) expiry() string { return c.prefix() + "x" }

// consentDay: hash "<source>|<state digit>" -> changes on that UTC day.
func consentDay(d time.Time) string { return "pg:cs:d:" + d.Format("20060102") }

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func timeFromNS(v int64) time.Time { return time.Unix(0, v).UTC() }
