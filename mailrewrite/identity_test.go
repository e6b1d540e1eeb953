package mailrewrite

import (
	"crypto/md5"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
)

// naiveHexRuns is the plain statement of what hexRuns finds: every maximal
// run of at least minLen hex digits, left to right.
func naiveHexRuns(s string, minLen int) [][2]int {
	var out [][2]int
	for i := 0; i < len(s); {
		if !hexDigit[s[i]] {
			i++
			continue
		}
		j := i
		for j < len(s) && hexDigit[s[j]] {
			j++
		}
		if j-i >= minLen {
			out = append(out, [2]int{i, j})
		}
		i = j
	}
	return out
}

func FuzzHexRuns(f *testing.F) {
	h := strings.Repeat("ab12", 8)
	for _, s := range []string{"", h, "x" + h, h + "x", h[:31], "x" + h[:31] + "y" + h + "z" + h + h,
		"https://t.example/o/" + h + "?e=" + h[:20] + "&m=" + h + h[:8]} {
		f.Add(s, 32)
	}
	f.Add("0123456789", 3)
	f.Fuzz(func(t *testing.T, s string, minLen int) {
		if minLen < 1 || minLen > 64 {
			return
		}
		var got [][2]int
		for i, j := range hexRuns(s, minLen) {
			got = append(got, [2]int{i, j})
		}
		if want := naiveHexRuns(s, minLen); !slices.Equal(got, want) {
			t.Fatalf("hexRuns(%q, %d) = %v, want %v", s, minLen, got, want)
		}
	})
}

// A hashed address is found wherever its hex run sits in the URL, in
// either case, and a shorter or different run is not taken for it.
func TestIdentityFindsHashedAddress(t *testing.T) {
	id := newIdentity("Reader@Example.net")
	m := md5.Sum([]byte("reader@example.net"))
	h := hex.EncodeToString(m[:])
	cases := map[string]string{
		"https://t.example/o/" + h + ".gif":                         "md5",
		"https://t.example/o?x=1&h=" + strings.ToUpper(h):           "md5",
		"https://t.example/" + strings.Repeat("0", 40) + "/" + h:    "md5",
		"https://t.example/o/" + h[:31] + "/x":                      "",
		"https://t.example/o/" + strings.Repeat("f", 64) + "/a.png": "",
	}
	for u, want := range cases {
		if got := id.match(u); got != want {
			t.Errorf("match(%q) = %q, want %q", u, got, want)
		}
	}
}
