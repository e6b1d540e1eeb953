package espapi

import (
	"slices"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/proxy/espapi/espfake"
)

// replacerReference is the substitution semantics spelled out with the
// standard library: keys longest first, as literals, in one pass.
func replacerReference(m map[string]string, in string) string {
	var keys []string
	for k := range m {
		if k != "" {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	var args []string
	for _, k := range keys {
		args = append(args, k, m[k])
	}
	return strings.NewReplacer(args...).Replace(in)
}

func FuzzSubstitutions(f *testing.F) {
	f.Add("Hello -name-, your -name-full- id -id-", "-name-", "Ann", "-name-full-", "Ann Lee", "-id-", "-name-")
	f.Add("%pg1%%pg1%x", "%pg1%", "", "%pg", "Z", "x", "é")
	f.Add("ééé-é-", "é", "e", "-é-", "!", "", "")
	f.Fuzz(func(t *testing.T, in, k1, v1, k2, v2, k3, v3 string) {
		m := map[string]string{k1: v1, k2: v2, k3: v3}
		want := replacerReference(m, in)
		s := substitutions(m)
		got := in
		if s != nil {
			got = s.Replace(in)
		}
		if got != want {
			t.Fatalf("substituting %q in %q: got %q, want %q", m, in, got, want)
		}
	})
}

// An API body reaches the engine and comes back byte for byte, apart
// from what pixelgate adds: long lines, bare LF and CR, NUL-free binary
// UTF-8 included (no transfer encoding touches it).
func TestContentPassesExactly(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	h := newHarness(t, fake.URL())
	text := "line one\nbare LF\r\nCRLF\rlone CR " + strings.Repeat("long ", 2000) + "\nend ünïcödé 🎉"
	html := "<p>" + strings.Repeat("x", 5000) + "</p>\n<p>ünïcödé</p>"
	c := content{text: text, html: html, hasText: true, hasHTML: true}
	got, err := h.srv.rewriteOne(t.Context(), rewriteJob{base: c, rcpt: recipient{addr: "reader@example.org"}, campaign: "c1", campaignName: "c1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.content.text, text) {
		t.Errorf("text altered:\n%q\nwant prefix\n%q", got.content.text[:min(200, len(got.content.text))], text[:200])
	}
	if !strings.HasPrefix(got.content.html, html) {
		t.Errorf("html altered: %q", got.content.html[:200])
	}
}
