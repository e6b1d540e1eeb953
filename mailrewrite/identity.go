package mailrewrite

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"iter"
	"net/url"
	"strings"

	"github.com/pixelgate/pixelgate/mailrewrite/learn"
)

// identity finds the recipient's address inside URLs in the forms senders
// use to key a request to a person (R6): plain, URL-encoded,
// base64, or the hex MD5/SHA-1/SHA-256 of it, hex in either case.
type identity struct {
	// folded needles are searched in the lower-cased, percent-decoded URL.
	folded []needle
	// exact needles (base64) are case-sensitive; exactSet finds any of
	// them in one pass over a URL rather than one pass per needle.
	exact    []needle
	exactSet *wordSet
	minExact int // the shortest exact needle
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
	words := make([]string, len(id.exact))
	for i, n := range id.exact {
		words[i] = n.s
	}
	id.exactSet = newWordSet(words)
	for _, w := range words {
		if id.minExact == 0 || len(w) < id.minExact {
			id.minExact = len(w)
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
// split across escapes is still found. Most URLs hold no address: cheap
// tests (an '@', a long hex run) come first so that no copy is made then.
func (id *identity) match(s string) string {
	if id == nil || s == "" {
		return ""
	}
	if f := id.matchOne(s); f != "" {
		return f
	}
	if strings.IndexByte(s, '%') >= 0 {
		if u, err := url.PathUnescape(s); err == nil && u != s {
			return id.matchOne(u)
		}
	}
	return ""
}

func (id *identity) matchOne(s string) string {
	// A base64 form lies inside a run of base64 characters at least as
	// long as it: most URLs have none, and only the runs are read.
	for i, j := range runs(s, id.minExact, &base64Char) {
		if wordsIn(id.exactSet, s[i:j]) {
			return "base64" // the only exact form
		}
	}
	if strings.IndexByte(s, '@') >= 0 || strings.Contains(s, "%40") {
		low := strings.ToLower(s)
		for _, n := range id.folded {
			if strings.Contains(low, n.s) {
				return n.form
			}
		}
	}
	// Hashes: look only at runs of 32 or more hex digits.
	for i, j := range runs(s, 32, &hexDigit) {
		run := strings.ToLower(s[i:j])
		for _, n := range id.folded {
			if (n.form == "md5" || n.form == "sha1" || n.form == "sha256") && strings.Contains(run, n.s) {
				return n.form
			}
		}
	}
	return ""
}

// runs yields the start and end of every run of at least minLen bytes of
// class in s, left to right. It looks at one byte in minLen where there is
// no such run: a run of minLen bytes starting at i or later and before
// i+minLen covers s[i+minLen-1].
func runs(s string, minLen int, class *[256]bool) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		if minLen < 1 {
			minLen = 1
		}
		// Invariant: i == 0 or s[i-1] is not of class.
		for i := 0; i+minLen <= len(s); {
			probe := i + minLen - 1
			if !class[s[probe]] {
				i = probe + 1
				continue
			}
			start := probe
			for start > i && class[s[start-1]] {
				start--
			}
			end := probe + 1
			for end < len(s) && class[s[end]] {
				end++
			}
			if end-start >= minLen && !yield(start, end) {
				return
			}
			i = end + 1
		}
	}
}

var hexDigit = byteClass("0123456789abcdefABCDEF")

// base64Char: the standard and URL-safe base64 alphabets, and padding.
var base64Char = byteClass("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=")

func byteClass(chars string) (t [256]bool) {
	for i := 0; i < len(chars); i++ {
		t[chars[i]] = true
	}
	return t
}

// RecipientInURLs reports whether the address, in any form the rewrite
// looks for (plain, percent-encoded, hashed, base64), occurs in one of
// urls: a copy rewritten without the recipient's identity (shared by
// several recipients) is then not theirs.
func RecipientInURLs(addr string, urls []learn.Resource) bool {
	id := newIdentity(addr)
	for _, u := range urls {
		if id.match(u.URL) != "" {
			return true
		}
	}
	return false
}
