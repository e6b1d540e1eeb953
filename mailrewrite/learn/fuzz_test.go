package learn

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
)

// FuzzDecode: a stored state is untrusted input (another replica's bug, a
// corrupted store). Decode never panics, never accepts what breaks the
// limits, and what it accepts behaves like any state.
func FuzzDecode(f *testing.F) {
	lim := Limits{Slots: 16, Values: 4, Shapes: 4, PartsPerShape: 3, Copies: 8}
	l := testLearner(f, lim)
	st := testState(f, 1)
	l.Observe(st, newsletter("jan", newRecipient(1)))
	l.Observe(st, newsletter("jan", newRecipient(2)))
	f.Add(st.Encode())
	f.Add(testState(f, 2).Encode())
	f.Add([]byte("PGL\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := l.Decode(b)
		if err != nil {
			return
		}
		if len(st.slots) > lim.Slots || len(st.shapes) > lim.Shapes {
			t.Fatalf("decoded %d slots, %d shapes beyond the limits", len(st.slots), len(st.shapes))
		}
		enc := st.Encode()
		if len(enc) > MaxEncodedSize(lim) {
			t.Fatalf("accepted a state of %d bytes, bound %d", len(enc), MaxEncodedSize(lim))
		}
		back, err := l.Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded state refused: %v", err)
		}
		if !bytes.Equal(back.Encode(), enc) {
			t.Fatal("encode is not stable")
		}
		sh := st.Shapes()
		for _, s := range sh.List() {
			u := &url.URL{Scheme: "https", Host: s.Host, Path: "/" + strings.ReplaceAll(strings.Join(s.Path, "/"), "*", "x1y2z3")}
			if parts, ok := sh.PerRecipient(u); ok {
				RemoveParts(u.String(), parts)
			}
		}
		l.Observe(st, newsletter("jan", newRecipient(3)))
		if len(st.Encode()) > MaxEncodedSize(lim) {
			t.Fatal("observing grew a decoded state past the bound")
		}
	})
}

// FuzzLearnURLs: URLs come from the email, untrusted. Learning from two
// copies, matching and removing never panic; removing nothing changes
// nothing; what is removed is never the host, by learnt shapes or by
// Strict.
func FuzzLearnURLs(f *testing.F) {
	f.Add("https://t.example/tr/op/AbC123dEf456", "https://t.example/tr/op/ZzY987xWv654", "a")
	f.Add("https://x.example/d?o0c3tol00bmx&utm=1#f12345678", "https://x.example/d?k1j2h3g4f5d6&utm=1#g12345678", "img")
	f.Add("https://x.example/p?e=%zz&e=1a2b3c4d5e", "https://x.example/p?e=%yy&e=9f8e7d6c5b", "a")
	f.Add("//x.example/a//b/?", "//x.example/a//b/?#", "")
	f.Add("http://[::1]:80/%2F1234567890", "http://[::1]:80/%2F0987654321", "a")
	l := testLearner(f, DefaultLimits)
	f.Fuzz(func(t *testing.T, a, b, carrier string) {
		st := testState(t, 1)
		l.Observe(st, []Resource{{a, carrier}})
		l.Observe(st, []Resource{{b, carrier}})
		Diff([]Resource{{a, carrier}}, []Resource{{b, carrier}})
		for _, raw := range []string{a, b} {
			if got := RemoveParts(raw, nil); got != raw {
				t.Fatalf("RemoveParts without parts changed %q to %q", raw, got)
			}
			u, err := url.Parse(raw)
			if err != nil {
				continue
			}
			for _, m := range []Matcher{st.Shapes(), Strict{}} {
				parts, ok := m.PerRecipient(u)
				if !ok {
					continue
				}
				out := RemoveParts(raw, parts)
				if !strings.HasPrefix(out, splitRaw(raw).prefix) {
					t.Fatalf("removing %v from %q lost the host: %q", parts, raw, out)
				}
			}
		}
	})
}
