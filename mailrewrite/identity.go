package mailrewrite

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
)

// identity finds the recipient's address inside URLs in the forms senders
// use to key a request to a person (DESIGN §5, R6): plain, URL-encoded,
// base64, or the hex MD5/SHA-1/SHA-256 of it, hex in either case.
type identity struct {
	// folded needles are searched in the lower-cased, percent-decoded URL.
	folded []needle
	// exact needles (base64) are case-sensitive.
	exact []needle
}

type needle struct {
	s    string
	form string // reason suffix: "plain", "urlencoded", "base64", "md5", "sha1", "sha256"
}

// newIdentity returns nil for an empty address: nothing to look for.
func newIdentity(addr string) *identity {
	addr = strings.TrimSpace(addr)
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	if addr == "" || !strings.Contains(addr, "@") {
		return nil
	}
	id := &identity{}
	seen := map[string]bool{}
	variants := []string{addr}
	if l := strings.ToLower(addr); l != addr {
		variants = append(variants, l)
	}
	for _, a := range variants {
		low := strings.ToLower(a)
		id.addFolded(seen, low, "plain")
		id.addFolded(seen, strings.ToLower(url.QueryEscape(a)), "urlencoded")
		id.addFolded(seen, strings.ToLower(url.PathEscape(a)), "urlencoded")
		m := md5.Sum([]byte(a))
		id.addFolded(seen, hex.EncodeToString(m[:]), "md5")
		s1 := sha1.Sum([]byte(a))
		id.addFolded(seen, hex.EncodeToString(s1[:]), "sha1")
		s2 := sha256.Sum256([]byte(a))
		id.addFolded(seen, hex.EncodeToString(s2[:]), "sha256")
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			for _, b := range base64Shifts(enc, a) {
				if !seen[b] {
					seen[b] = true
					id.exact = append(id.exact, needle{b, "base64"})
				}
			}
		}
	}
	return id
}

func (id *identity) addFolded(seen map[string]bool, s, form string) {
	if s == "" || seen[s] {
		return
	}
	seen[s] = true
	id.folded = append(id.folded, needle{s, form})
}

// base64Shifts returns the part of base64(address) that does not depend on
// what surrounds the address, for each of the three alignments it can have
// inside a larger encoded blob (a base64 JSON or "id:address" token).
func base64Shifts(enc *base64.Encoding, a string) []string {
	var out []string
	for shift := 0; shift < 3; shift++ {
		buf := make([]byte, shift+len(a))
		copy(buf[shift:], a)
		s := enc.EncodeToString(buf)
		s = strings.TrimRight(s, "=")
		// Drop the first group when it mixes filler with the address, and
		// the last group when the address does not end on a group edge.
		head := 0
		if shift > 0 {
			head = 4
		}
		tail := len(s)
		if (shift+len(a))%3 != 0 {
			tail = (shift + len(a)) / 3 * 4
		}
		if tail-head >= 8 {
			out = append(out, s[head:tail])
		}
	}
	return out
}

// match returns the form of the address found in s ("" when absent). s is
// a URL or one component of it; it is percent-decoded here so an address
// split across escapes is still found.
func (id *identity) match(s string) string {
	if id == nil || s == "" {
		return ""
	}
	cands := [2]string{s, ""}
	if strings.Contains(s, "%") {
		if u, err := url.PathUnescape(s); err == nil {
			cands[1] = u
		}
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		low := strings.ToLower(c)
		for _, n := range id.folded {
			if strings.Contains(low, n.s) {
				return n.form
			}
		}
		for _, n := range id.exact {
			if strings.Contains(c, n.s) {
				return n.form
			}
		}
	}
	return ""
}
