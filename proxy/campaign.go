package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"unicode"
)

// DefaultCampaignHeader is where senders put pixelgate's campaign id.
const DefaultCampaignHeader = "X-Pixelgate-Campaign"

// campaignNameHeader optionally gives the campaign a readable name for the
// dashboard. Subjects are not used: they are often personalised.
const campaignNameHeader = "X-Pixelgate-Campaign-Name"

// fallbackCampaignHeaders are tried, in order, after the configured header:
// a generic campaign id, the ESP profiles' own campaign headers, then the
// mailing list (RFC 2919). Every profile's header is tried whatever --esp
// says, so a message keeps its campaign when the ESP changes.
var fallbackCampaignHeaders = slices.Concat([]string{"X-Campaign-Id"}, espCampaignHeaders(), []string{"List-Id"})

const maxCampaignLen = 128

// campaignOf returns the campaign id and name of a message: the first
// non-empty of first (a caller's own campaign fields) and the
// configured/fallback headers, else a hash of From and Subject, so every
// copy of one mailing lands in one campaign.
func campaignOf(h *rawHeader, configured string, first ...string) (id, name string) {
	headers := append([]string{configured}, fallbackCampaignHeaders...)
	values := make([]string, 0, len(first)+len(headers))
	values = append(values, first...)
	for _, n := range headers {
		if n != "" {
			values = append(values, h.get(n))
		}
	}
	id = CampaignFrom(values, h.get("From"), h.get("Subject"))
	name = cleanCampaign(h.get(campaignNameHeader))
	if name == "" {
		name = id
	}
	return id, name
}

// CampaignFrom picks a campaign id from sender-controlled values, in
// order: the first that is non-empty once cleaned, else a hash of from and
// subject, so every copy of one mailing lands in one campaign whichever
// front (SMTP, ESP HTTP API) it came through.
func CampaignFrom(values []string, from, subject string) string {
	for _, v := range values {
		if v = cleanCampaign(v); v != "" {
			return v
		}
	}
	sum := sha256.Sum256([]byte(from + "\x00" + subject))
	return "h-" + hex.EncodeToString(sum[:8])
}

// cleanCampaign keeps a campaign id printable, bounded and free of anything
// that looks like an address (ids end up in tokens and store keys, R6).
func cleanCampaign(v string) string {
	v = strings.TrimSpace(v)
	v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
	if strings.Contains(v, "@") {
		sum := sha256.Sum256([]byte(v))
		return "h-" + hex.EncodeToString(sum[:8])
	}
	v = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) && r != '\uFFFD' {
			return r
		}
		return -1
	}, v)
	if len(v) > maxCampaignLen {
		// Cut on a rune boundary.
		cut := maxCampaignLen
		for cut > 0 && !isRuneStart(v[cut]) {
			cut--
		}
		v = v[:cut]
	}
	return strings.TrimSpace(v)
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
