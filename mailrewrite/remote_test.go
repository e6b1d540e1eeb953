package mailrewrite

import (
	"strings"
	"testing"
)

// plainIsRemote is isRemote's plain string form, as it read before it
// took bytes without copying them.
func plainIsRemote(raw string) bool {
	s := strings.TrimSpace(raw)
	if len(s) >= 2 && s[0] == '/' && s[1] == '/' {
		return true
	}
	fold := func(p string) bool { return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) }
	return fold("http://") || fold("https://")
}

func FuzzIsRemote(f *testing.F) {
	for _, s := range []string{"https://x.example/a", " HTTP://x", "\u00a0https://x", "//cdn.example/x.png",
		"cid:abc", "data:image/png;base64,AAAA", "http:/x", "\thttps:\x0f/x", "ht\x1atp://", "httpſ://x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := plainIsRemote(s)
		if got := isRemote(s); got != want {
			t.Fatalf("isRemote(%q) = %v, want %v", s, got, want)
		}
		if got := isRemote([]byte(s)); got != want {
			t.Fatalf("isRemote([]byte(%q)) = %v, want %v", s, got, want)
		}
	})
}
