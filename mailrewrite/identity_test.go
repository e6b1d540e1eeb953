package mailrewrite

import (
	"crypto/md5"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
)

// naiveRuns is the plain statement of what runs finds: every maximal run
// of at least minLen bytes of class, left to right.
func naiveRuns(s string, minLen int, class *[256]bool) [][2]int {
	var out [][2]int
	for i := 0; i < len(s); {
		if !class[s[i]] {
			i++
			continue
		}
		j := i
		for j < len(s) && class[s[j]] {
			j++
		}
		if j-i >= minLen {
			out = append(out, [2]int{i, j})
		}
		i = j
	}
	return out
}

func FuzzRuns(f *testing.F) {
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
		for _, class := range []*[256]bool{&hexDigit, &base64Char} {
			var got [][2]int
			for i, j := range runs(s, minLen, class) {
				got = append(got, [2]int{i, j})
			}
			if want := naiveRuns(s, minLen, class); !slices.Equal(got, want) {
				t.Fatalf("runs(%q, %d) = %v, want %v", s, minLen, got, want)
			}
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

// FuzzBase64Forms: looking for the base64 forms only inside runs of base64
// characters finds them wherever a plain search of the whole URL does.
func FuzzBase64Forms(f *testing.F) {
	id := newIdentity("Reader.Name+news@Example.com")
	for _, n := range id.exact {
		f.Add("https://t.example/o/" + n.s + ".gif")
		f.Add("https://t.example/o?d=x" + n.s + "&e=1")
	}
	f.Add("https://t.example/o/plain")
	f.Fuzz(func(t *testing.T, s string) {
		plain := false
		for _, n := range id.exact {
			plain = plain || strings.Contains(s, n.s)
		}
		found := false
		for i, j := range runs(s, id.minExact, &base64Char) {
			found = found || wordsIn(id.exactSet, s[i:j])
		}
		if found != plain {
			t.Fatalf("%q: found in runs %v, plain search %v", s, found, plain)
		}
	})
}
