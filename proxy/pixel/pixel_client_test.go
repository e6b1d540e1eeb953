package pixel

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestForwardedClientAddr(t *testing.T) {
	f := ForwardedClientAddr([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	for _, c := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"203.0.113.5:4000", []string{"17.1.2.3"}, "203.0.113.5"}, // untrusted peer: header ignored
		{"10.0.0.2:4000", []string{"17.1.2.3"}, "17.1.2.3"},
		{"10.0.0.2:4000", []string{"66.249.84.1, 10.0.0.9"}, "66.249.84.1"},               // skip trusted hops
		{"10.0.0.2:4000", []string{"17.1.2.3, 198.51.100.7"}, "198.51.100.7"},             // left entries are the client's word
		{"10.0.0.2:4000", []string{"17.1.2.3", "198.51.100.8, 10.1.1.1"}, "198.51.100.8"}, // several header lines
		{"10.0.0.2:4000", []string{"17.1.2.3, garbage"}, "10.0.0.2"},
		{"10.0.0.2:4000", nil, "10.0.0.2"},
		{"[::1]:4000", []string{"2620:149::1"}, "2620:149::1"},
		{"10.0.0.2:4000", []string{"::ffff:17.0.0.1"}, "17.0.0.1"},
		{"not-an-address", []string{"17.1.2.3"}, ""},
	} {
		r := httptest.NewRequest("GET", "/o/x.gif", nil)
		r.RemoteAddr = c.peer
		for _, h := range c.xff {
			r.Header.Add("X-Forwarded-For", h)
		}
		got := f(r)
		if (c.want == "" && got.IsValid()) || (c.want != "" && got != netip.MustParseAddr(c.want)) {
			t.Errorf("peer %s XFF %q: %v, want %s", c.peer, c.xff, got, c.want)
		}
	}
}

func FuzzForwardedClientAddr(f *testing.F) {
	f.Add("10.0.0.2:1", "17.1.2.3, 10.0.0.9")
	f.Add("[::1]:1", ",,, ,")
	f.Add("10.0.0.2:1", "garbage, 1.2.3.4%eth0")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	addr := ForwardedClientAddr(trusted)
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := httptest.NewRequest("GET", "/o/x.gif", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", xff)
		a := addr(r)
		// The answer is the peer, or an untrusted address from the header.
		if a.IsValid() && a != peerAddr(r) {
			for _, p := range trusted {
				if p.Contains(a) {
					t.Fatalf("trusted hop %v returned as the client", a)
				}
			}
		}
	})
}
