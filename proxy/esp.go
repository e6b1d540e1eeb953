package proxy

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ESP names the email service provider behind the upstream. Its profile adds,
// to every message, the headers that turn off the ESP's own open and click
// tracking: a pixel or redirect the ESP adds after pixelgate could not be
// silenced by a later withdrawal (R3). Consenting recipients' opens still
// reach the ESP through the pixel endpoint's optional forwarding.
type ESP string

// ESPs lists the known profiles, for flag help and validation.
func ESPs() []string {
	names := make([]string, 0, len(espProfiles))
	for n := range espProfiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// espProfile is everything pixelgate knows about one ESP, in one place:
// the flag help, the operator guide's table, the README's list, the
// campaign headers and the check against the tracker rules all derive from
// or are tested against this table.
type espProfile struct {
	// trackingOff names the header fields apply sets (tested against what
	// it does).
	trackingOff []string
	// campaignHeader is the field in which the ESP's own campaign id
	// travels, read after the configured --campaign-header; "" when the
	// ESP has none of its own over SMTP.
	campaignHeader string
	// vendors are the names its open and click rules carry in the embedded
	// tracker rules (mailrewrite/rules/data/trackers.json): the pixels this
	// ESP inserts and pixelgate takes out (R1).
	vendors []string
	// apply adds the tracking-off headers to one message.
	apply func(h *rawHeader, opt ESPOptions) error
}

// ESPOptions are the per-ESP settings that are not plain headers.
type ESPOptions struct {
	// SESConfigurationSet names an SES configuration set that has no open
	// or click tracking (SES has no per-message switch over SMTP).
	SESConfigurationSet string
}

var espProfiles = map[string]espProfile{
	"generic": {apply: func(*rawHeader, ESPOptions) error { return nil }},
	"sendgrid": {
		trackingOff: []string{"X-SMTPAPI"},
		vendors:     []string{"SendGrid"},
		apply: func(h *rawHeader, _ ESPOptions) error {
			// X-SMTPAPI is one JSON object the sender may already use for
			// categories or unique args: merge instead of replacing.
			return mergeJSONHeader(h, "X-SMTPAPI", map[string]any{
				"filters": map[string]any{
					"opentrack":  map[string]any{"settings": map[string]any{"enable": 0}},
					"clicktrack": map[string]any{"settings": map[string]any{"enable": 0, "enable_text": 0}},
				},
			})
		},
	},
	"mailgun": {
		trackingOff:    []string{"X-Mailgun-Track", "X-Mailgun-Track-Opens", "X-Mailgun-Track-Clicks"},
		campaignHeader: "X-Mailgun-Campaign-Id",
		vendors:        []string{"Mailgun"},
		apply: func(h *rawHeader, _ ESPOptions) error {
			h.set("X-Mailgun-Track", "no")
			h.set("X-Mailgun-Track-Opens", "no")
			h.set("X-Mailgun-Track-Clicks", "no")
			return nil
		},
	},
	"postmark": {
		trackingOff: []string{"X-PM-TrackOpens", "X-PM-TrackLinks"},
		vendors:     []string{"Postmark"},
		apply: func(h *rawHeader, _ ESPOptions) error {
			h.set("X-PM-TrackOpens", "false")
			h.set("X-PM-TrackLinks", "None")
			return nil
		},
	},
	"mailjet": {
		trackingOff: []string{"X-Mailjet-TrackOpen", "X-Mailjet-TrackClick"},
		vendors:     []string{"Mailjet"},
		apply: func(h *rawHeader, _ ESPOptions) error {
			h.set("X-Mailjet-TrackOpen", "0")
			h.set("X-Mailjet-TrackClick", "0")
			return nil
		},
	},
	"sparkpost": {
		trackingOff: []string{"X-MSYS-API"},
		vendors:     []string{"SparkPost"},
		apply: func(h *rawHeader, _ ESPOptions) error {
			return mergeJSONHeader(h, "X-MSYS-API", map[string]any{
				"options": map[string]any{"open_tracking": false, "click_tracking": false},
			})
		},
	},
	"mandrill": {
		trackingOff: []string{"X-MC-Track"},
		vendors:     []string{"Mandrill"},
		apply: func(h *rawHeader, _ ESPOptions) error {
			// X-MC-Track lists what to track; an empty list tracks nothing.
			h.set("X-MC-Track", "")
			return nil
		},
	},
	"ses": {
		trackingOff: []string{"X-SES-CONFIGURATION-SET"},
		vendors:     []string{"Amazon SES"},
		apply: func(h *rawHeader, opt ESPOptions) error {
			if opt.SESConfigurationSet == "" {
				return fmt.Errorf("esp ses needs a configuration set without open/click tracking (--ses-configuration-set)")
			}
			h.set("X-SES-CONFIGURATION-SET", opt.SESConfigurationSet)
			return nil
		},
	},
}

// espCampaignHeaders are the profiles' campaign headers, once each, in
// profile-name order.
func espCampaignHeaders() []string {
	var hs []string
	for _, n := range ESPs() {
		if c := espProfiles[n].campaignHeader; c != "" && !slices.Contains(hs, c) {
			hs = append(hs, c)
		}
	}
	return hs
}

// CheckESP validates an ESP name and its options.
func CheckESP(name ESP, opt ESPOptions) error {
	p, ok := espProfiles[string(name)]
	if !ok {
		return fmt.Errorf("unknown esp %q (want %s)", name, strings.Join(ESPs(), ", "))
	}
	var h rawHeader
	return p.apply(&h, opt)
}

// applyESP adds the profile's headers to h.
func applyESP(h *rawHeader, name ESP, opt ESPOptions) error {
	p, ok := espProfiles[string(name)]
	if !ok {
		return fmt.Errorf("unknown esp %q", name)
	}
	return p.apply(h, opt)
}

// mergeJSONHeader deep-merges add into the JSON object of header name. An
// existing value that is not a JSON object is replaced: the ESP could not
// have used it anyway.
func mergeJSONHeader(h *rawHeader, name string, add map[string]any) error {
	cur := map[string]any{}
	if v := h.get(name); v != "" {
		if err := json.Unmarshal([]byte(v), &cur); err != nil || cur == nil {
			cur = map[string]any{}
		}
	}
	deepMerge(cur, add)
	b, err := json.Marshal(cur)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	h.set(name, foldJSON(string(b)))
	return nil
}

func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				deepMerge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// foldJSON folds a long JSON header value after commas so no line exceeds
// the RFC 5322 §2.1.1 limit; JSON ignores the inserted white space.
func foldJSON(s string) string {
	const width = 900
	if len(s) <= width {
		return s
	}
	var b strings.Builder
	line := 0
	inString, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		b.WriteByte(c)
		line++
		switch {
		case escaped:
			escaped = false
		case c == '\\' && inString:
			escaped = true
		case c == '"':
			inString = !inString
		case c == ',' && !inString && line > width/2:
			b.WriteString("\r\n ")
			line = 1
		}
	}
	return b.String()
}
