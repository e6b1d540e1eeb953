package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// FormatVersion is the version of the rule file format this package reads.
// A file with another format is refused rather than half understood.
const FormatVersion = 1

// maxFileSize bounds what Parse reads: rule files are small, and an
// operator's file is still input that must not exhaust memory.
const maxFileSize = 8 << 20

// Sources a rule may cite. The two open lists are BSD-3-Clause (NOTICE.md).
var validSources = map[string]bool{
	"mailtrackerblocker": true,
	"simplify":           true,
	"vendor-docs":        true,
	"pixelgate-observed": true,
	"operator":           true, // an operator's own file
}

// Kinds of tracker rule.
const (
	KindOpen      = "open"
	KindClick     = "click"
	KindAnalytics = "analytics"
	KindBeacon    = "beacon"
)

var validKinds = map[string]bool{KindOpen: true, KindClick: true, KindAnalytics: true, KindBeacon: true}

var validID = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,79}$`)

// header is common to both files.
type header struct {
	Format  int    `json:"format"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Date    string `json:"date"`
	Comment string `json:"comment,omitempty"`
}

// ruleMeta is common to every rule.
type ruleMeta struct {
	ID     string `json:"id"`
	Vendor string `json:"vendor"`
	Source string `json:"source"`
	Note   string `json:"note,omitempty"`
}

type trackerFile struct {
	header
	Rules []trackerRuleJSON `json:"rules"`
}

type trackerRuleJSON struct {
	ruleMeta
	Kind string `json:"kind"`
	patternJSON
	// Example: a URL this rule, and no rule before it, matches. Parse
	// checks it, so a rule file documents and tests itself.
	Example string `json:"example,omitempty"`
}

type linkFile struct {
	header
	Params    []paramRuleJSON    `json:"params"`
	Redirects []redirectRuleJSON `json:"redirects"`
}

// paramRuleJSON names query parameters that carry a per-recipient value
// (R12). The pattern says on which URLs; host "*" means everywhere.
type paramRuleJSON struct {
	ruleMeta
	Names []string `json:"names"`
	patternJSON
	// Example: a URL carrying every name, on which the rule applies.
	Example string `json:"example,omitempty"`
}

// redirectRuleJSON describes a click redirect whose destination is inside
// the URL itself.
type redirectRuleJSON struct {
	ruleMeta
	patternJSON
	// Params: the destination is the value of the first of these query
	// parameters that holds one.
	Params []string `json:"params,omitempty"`
	// PathGroup: the destination is this capture group of path_regexp.
	PathGroup int `json:"path_group,omitempty"`
	// Encoding of the destination: "plain" (percent-encoded once), "base64"
	// (standard or URL alphabet, padded or not), "auto" (plain, else
	// base64), "urldefense-v2", "urldefense-v3".
	Encoding string `json:"encoding"`
	// Example and ExampleDest: a redirect this rule unwraps first, and the
	// destination it must give.
	Example     string `json:"example,omitempty"`
	ExampleDest string `json:"example_dest,omitempty"`
}

var validEncodings = map[string]bool{"plain": true, "base64": true, "auto": true, "urldefense-v2": true, "urldefense-v3": true}

// decodeStrict decodes one JSON document, refusing unknown fields (a typo in
// a rule must not silently widen or disable it) and trailing data.
func decodeStrict(data []byte, v any) error {
	if len(data) > maxFileSize {
		return fmt.Errorf("file is %d bytes, more than the %d allowed", len(data), maxFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON document")
	}
	return nil
}

func (h *header) check(wantName string) error {
	if h.Format != FormatVersion {
		return fmt.Errorf("format %d, this pixelgate reads format %d", h.Format, FormatVersion)
	}
	if h.Name != wantName {
		return fmt.Errorf("name %q, want %q", h.Name, wantName)
	}
	if h.Version == "" || len(h.Version) > 64 {
		return errors.New("version missing or longer than 64 bytes")
	}
	if _, err := time.Parse(time.DateOnly, h.Date); err != nil {
		return fmt.Errorf("date %q is not YYYY-MM-DD", h.Date)
	}
	return nil
}

func (m *ruleMeta) check(seen map[string]bool) error {
	if !validID.MatchString(m.ID) {
		return fmt.Errorf("id %q: want 1-80 of a-z 0-9 . _ -", m.ID)
	}
	if seen[m.ID] {
		return fmt.Errorf("id %q used twice", m.ID)
	}
	seen[m.ID] = true
	if m.Vendor == "" {
		return errors.New("vendor missing")
	}
	if !validSources[m.Source] {
		return fmt.Errorf("source %q unknown (mailtrackerblocker, simplify, vendor-docs, pixelgate-observed, operator)", m.Source)
	}
	return nil
}
