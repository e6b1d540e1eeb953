package mailrewrite

import "bytes"

// indexRare is bytes.Index for needles searched in whole HTML parts.
// bytes.Index walks the text from one occurrence of the needle's first
// byte to the next; for a needle that starts with a byte HTML is full of
// ("https://…", "data-…") that is a call per few bytes, and a search of a
// 60 KB part took 25–35 µs (BenchmarkIndexRare). This walks the occurrences of the
// needle's rarest byte in mail markup instead.
func indexRare(s, needle []byte) int {
	if len(needle) < 2 || len(s) < len(needle) {
		return bytes.Index(s, needle)
	}
	k := 0
	for i := 1; i < len(needle); i++ {
		if markupFrequency[needle[i]] < markupFrequency[needle[k]] {
			k = i
		}
	}
	c := needle[k]
	// The anchor byte sits at k in every match: look for it from k on,
	// and where the match would start is k before it. When the anchor
	// turns out common in this text (more than one in 16 bytes), the rest
	// goes to bytes.Index, whose own fallback is a vector search.
	fails := 0
	for at := k; at <= len(s)-len(needle)+k; {
		o := bytes.IndexByte(s[at:len(s)-len(needle)+k+1], c)
		if o < 0 {
			return -1
		}
		at += o
		start := at - k
		if bytes.Equal(s[start:start+len(needle)], needle) {
			return start
		}
		if fails++; fails > 4+at/16 {
			if i := bytes.Index(s[start+1:], needle); i >= 0 {
				return start + 1 + i
			}
			return -1
		}
		at++
	}
	return -1
}

// containsRare is bytes.Contains through indexRare.
func containsRare(s, needle []byte) bool { return indexRare(s, needle) >= 0 }

// markupFrequency ranks bytes by how often they occur in HTML mail
// (markup, inline CSS, URLs, text; quoted-printable included): 0 rare to 9
// everywhere. Only the order matters; the ranks are the per-mille
// frequencies measured on the shared corpus, bucketed.
var markupFrequency = func() (f [256]uint8) {
	for i := 0x80; i < len(f); i++ {
		f[i] = 5 // UTF-8 text
	}
	set := func(rank uint8, chars string) {
		for i := 0; i < len(chars); i++ {
			f[chars[i]] = rank
		}
	}
	set(9, " tei=lnar-\"odsD")      // >= 20 per mille
	set(8, "03\ncp\rg<>h2b/m")      // >= 10
	set(7, ":f;1uwyx")              // >= 5
	set(6, "Fk59.4vC6_8z")          // >= 3
	set(5, ",7SNBAVU")              // >= 2
	set(4, "TRE#!IMZWGOH%XLjJ'&QY") // >= 1
	set(3, "PKq?{}")                // >= 0.5
	set(2, "()[]@+\t|*")            // >= 0.1
	return f
}()
