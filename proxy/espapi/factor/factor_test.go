package factor

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// generous limits: only the search's own bounds can refuse.
var generous = Limits{MaxHoles: 1 << 20, MaxValueBytes: 1 << 30}

// factorChecked runs Factor and, when it says ok, checks every promise of
// its documentation from the outside: the count of values, the exact
// reconstruction, the limits, a literal between holes, and that values and
// literals cannot be appended into the copies.
func factorChecked(t testing.TB, copies [][]byte, lim Limits) (Template, [][][]byte, bool) {
	t.Helper()
	saved := make([][]byte, len(copies))
	for i, c := range copies {
		saved[i] = bytes.Clone(c)
	}
	tpl, values, ok := Factor(copies, lim)
	for i := range copies {
		if !bytes.Equal(copies[i], saved[i]) {
			t.Fatalf("Factor modified copy %d", i)
		}
	}
	if !ok {
		return tpl, values, ok
	}
	if len(tpl.Literals) != tpl.Holes()+1 {
		t.Fatalf("%d literals for %d holes", len(tpl.Literals), tpl.Holes())
	}
	if tpl.Holes() > max(lim.MaxHoles, 0) {
		t.Fatalf("%d holes, limit %d", tpl.Holes(), lim.MaxHoles)
	}
	for i := 1; i < len(tpl.Literals)-1; i++ {
		if len(tpl.Literals[i]) == 0 {
			t.Fatalf("empty literal %d between two holes", i)
		}
	}
	for _, l := range tpl.Literals {
		if cap(l) != len(l) {
			t.Fatalf("literal of len %d has cap %d: an append would write into copy 0", len(l), cap(l))
		}
	}
	if len(values) != len(copies) {
		t.Fatalf("%d value lists for %d copies", len(values), len(copies))
	}
	for i, c := range copies {
		if len(values[i]) != tpl.Holes() {
			t.Fatalf("copy %d: %d values for %d holes", i, len(values[i]), tpl.Holes())
		}
		n := 0
		for _, v := range values[i] {
			n += len(v)
			if cap(v) != len(v) {
				t.Fatalf("copy %d: value of len %d has cap %d", i, len(v), cap(v))
			}
		}
		if n > lim.MaxValueBytes {
			t.Fatalf("copy %d: values total %d bytes, limit %d", i, n, lim.MaxValueBytes)
		}
		if got := tpl.Fill(values[i]); !bytes.Equal(got, c) {
			t.Fatalf("copy %d not rebuilt:\n got %q\nwant %q", i, got, c)
		}
		if utf8.Valid(c) {
			for h, v := range values[i] {
				if !utf8.Valid(v) {
					t.Fatalf("copy %d is UTF-8 but its value %d %q is not", i, h, v)
				}
			}
		}
	}
	return tpl, values, ok
}

func bs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

const mailHead = `<!DOCTYPE html><html><body style="margin:0"><table role="presentation" width="100%">
<tr><td style="padding:16px 24px">Hello, spring is here and so is our sale. Thirty per cent off everything until Sunday.</td></tr>
`
const mailTail = `<tr><td style="font-size:12px;color:#777">You receive this because you subscribed at shop.example.</td></tr>
</table></body></html>
`

func footer(tok string) string {
	return `<tr><td><a href="https://pg.example/c/` + tok + `?lang=fr">G&eacute;rer le suivi d'ouverture</a></td></tr>` + "\n"
}

func pixel(tok string) string {
	return `<img src="https://pg.example/o/` + tok + `.gif" width="1" height="1" alt="">`
}

func TestFactor(t *testing.T) {
	toks := []string{"Qm3xT8vK0pLr2sYw", "b7Hz1cNq9eWu4dJa", "Zk5gR6tF2yMi8oXe"}
	tests := []struct {
		name   string
		copies [][]byte
		lim    Limits
		ok     bool
		holes  int
		// values, when set, are every copy's expected values.
		values [][]string
	}{
		{name: "no copies", copies: nil, lim: Limits{}, ok: true, holes: 0},
		{name: "one copy", copies: bs(mailHead + footer(toks[0]) + mailTail), lim: Limits{}, ok: true, holes: 0},
		{name: "identical copies", copies: bs(mailHead+mailTail, mailHead+mailTail, mailHead+mailTail), lim: Limits{}, ok: true, holes: 0},
		{name: "empty copies", copies: bs("", "", ""), lim: Limits{}, ok: true, holes: 0},
		{name: "one empty copy", copies: bs("", "x"), lim: Limits{MaxHoles: 1, MaxValueBytes: 1}, ok: true, holes: 1,
			values: [][]string{{""}, {"x"}}},
		{name: "token URL differs: the hole is the token",
			copies: bs(mailHead+footer(toks[0])+mailTail, mailHead+footer(toks[1])+mailTail, mailHead+footer(toks[2])+mailTail),
			lim:    Limits{MaxHoles: 1, MaxValueBytes: 16}, ok: true, holes: 1,
			values: [][]string{{toks[0]}, {toks[1]}, {toks[2]}}},
		{name: "three token URLs, three holes",
			copies: bs(footer(toks[0])+mailHead+footer(toks[0])+mailTail+footer(toks[0]), footer(toks[1])+mailHead+footer(toks[1])+mailTail+footer(toks[1])),
			lim:    Limits{MaxHoles: 3, MaxValueBytes: 48}, ok: true, holes: 3,
			values: [][]string{{toks[0], toks[0], toks[0]}, {toks[1], toks[1], toks[1]}}},
		{name: "common prefix of the tokens stays in the template",
			copies: bs("https://pg.example/c/v1.AAAA9", "https://pg.example/c/v1.AAAB9"),
			lim:    Limits{MaxHoles: 1, MaxValueBytes: 1}, ok: true, holes: 1,
			values: [][]string{{"A"}, {"B"}}},
		{name: "a hole never splits a UTF-8 sequence",
			copies: bs("Caf\u00e9 cr\u00e8me", "Caf\u00e8 cr\u00e8me"), // é = C3 A9, è = C3 A8
			lim:    Limits{MaxHoles: 1, MaxValueBytes: 2}, ok: true, holes: 1,
			values: [][]string{{"\u00e9"}, {"\u00e8"}}},
		{name: "insertion at the start",
			copies: bs(mailHead+mailTail, "<!-- pg -->"+mailHead+mailTail),
			lim:    Limits{MaxHoles: 1, MaxValueBytes: 11}, ok: true, holes: 1,
			values: [][]string{{""}, {"<!-- pg -->"}}},
		{name: "insertion at the end",
			copies: bs(mailHead+mailTail, mailHead+mailTail+footer(toks[0])),
			lim:    Limits{MaxHoles: 1, MaxValueBytes: 200}, ok: true, holes: 1,
			values: [][]string{{""}, {footer(toks[0])}}},
		{name: "deletion at the start of copy 0",
			copies: bs("<!-- pg -->"+mailHead+mailTail, mailHead+mailTail),
			lim:    Limits{MaxHoles: 1, MaxValueBytes: 11}, ok: true, holes: 1,
			values: [][]string{{"<!-- pg -->"}, {""}}},
		{name: "all copies different",
			copies: bs("alpha", "bravo", "charlie", ""),
			lim:    Limits{MaxHoles: 1, MaxValueBytes: 7}, ok: true, holes: 1,
			values: [][]string{{"alpha"}, {"bravo"}, {"charlie"}, {""}}},
		{name: "limit: no holes allowed",
			copies: bs(footer(toks[0]), footer(toks[1])), lim: Limits{MaxHoles: 0, MaxValueBytes: 1 << 20}, ok: false},
		{name: "limit: two holes needed, one allowed",
			copies: bs(footer(toks[0])+mailHead+footer(toks[0]), footer(toks[1])+mailHead+footer(toks[1])),
			lim:    Limits{MaxHoles: 1, MaxValueBytes: 1 << 20}, ok: false},
		{name: "limit: values one byte over",
			copies: bs(footer(toks[0]), footer(toks[1])), lim: Limits{MaxHoles: 1, MaxValueBytes: len(toks[0]) - 1}, ok: false},
		{name: "limit: values exactly at the limit",
			copies: bs(footer(toks[0]), footer(toks[1])), lim: Limits{MaxHoles: 1, MaxValueBytes: len(toks[0])}, ok: true, holes: 1},
		{name: "limit: all different is too big",
			copies: bs(mailHead, mailTail), lim: Limits{MaxHoles: 10, MaxValueBytes: 100}, ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl, values, ok := factorChecked(t, tc.copies, tc.lim)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				if tpl.Literals != nil || values != nil {
					t.Fatalf("refusal returned a template %q or values %q", tpl.Literals, values)
				}
				return
			}
			if tpl.Holes() != tc.holes {
				t.Fatalf("%d holes, want %d; literals %q, values %q", tpl.Holes(), tc.holes, tpl.Literals, values)
			}
			if tc.values != nil {
				got := make([][]string, len(values))
				for i, vs := range values {
					for _, v := range vs {
						got[i] = append(got[i], string(v))
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.values) {
					t.Fatalf("values %q, want %q", got, tc.values)
				}
			}
		})
	}
}

// TestFactorPixelInSomeCopies: the consenting copies carry pixelgate's
// pixel, each with its own token, the others none (R1). The template must
// hold no pixel and no token: every byte of it goes to every recipient.
func TestFactorPixelInSomeCopies(t *testing.T) {
	toks := []string{"Qm3xT8vK0pLr2sYw", "", "b7Hz1cNq9eWu4dJa", "", "Zk5gR6tF2yMi8oXe"}
	var copies [][]byte
	for _, tok := range toks {
		px := ""
		if tok != "" {
			px = pixel(tok)
		}
		copies = append(copies, []byte(mailHead+footer(tok+"F")+mailTail+px+"\n</body></html>\n"))
	}
	tpl, values, ok := factorChecked(t, copies, Limits{MaxHoles: 2, MaxValueBytes: 200})
	if !ok {
		t.Fatal("refused")
	}
	if tpl.Holes() != 2 {
		t.Fatalf("%d holes, want 2 (footer token, pixel); literals %q", tpl.Holes(), tpl.Literals)
	}
	for _, l := range tpl.Literals {
		if bytes.Contains(l, []byte("/o/")) || bytes.Contains(l, []byte("<img")) {
			t.Fatalf("the template holds a pixel: %q", l)
		}
		for _, tok := range toks {
			if tok != "" && bytes.Contains(l, []byte(tok)) {
				t.Fatalf("the template holds token %s", tok)
			}
		}
	}
	for i, tok := range toks {
		pv := values[i][1]
		if tok == "" && len(pv) != 0 {
			t.Fatalf("copy %d without consent gets %q in the pixel's hole", i, pv)
		}
		if tok != "" && (!bytes.Contains(pv, []byte(tok)) || len(pv) > len(pixel(tok))+2) {
			t.Fatalf("copy %d: pixel hole %q, want about %q", i, pv, pixel(tok))
		}
	}
}

// TestFactorRefusesAWrongAlignment: the final check, not the alignment,
// decides. Edits that do not describe the copies must be refused, never
// turned into a template that gives a recipient someone else's bytes.
func TestFactorRefusesAWrongAlignment(t *testing.T) {
	copies := bs("see https://pg.example/c/AAAA now", "see https://pg.example/c/BBBB now")
	tok := strings.Index(string(copies[0]), "AAAA")
	lim := Limits{MaxHoles: 4, MaxValueBytes: 100}
	for _, tc := range []struct {
		name  string
		edits []edit
	}{
		{"no edit at all", nil},
		{"edit one byte off", []edit{{as: tok + 1, ae: tok + 5, bs: tok + 1, be: tok + 5}}},
		{"edit of the wrong length", []edit{{as: tok, ae: tok + 4, bs: tok, be: tok + 3}}},
		{"edit that runs past the copy", []edit{{as: tok, ae: tok + 4, bs: tok, be: tok + 400}}},
		{"a deletion that is not there", []edit{{as: tok, ae: tok + 4, bs: tok, be: tok}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, ok := assemble(copies, tc.edits, []int{0, len(tc.edits)}, lim); ok {
				t.Fatal("accepted edits that do not rebuild the copies")
			}
		})
	}
	right := []edit{{as: tok, ae: tok + 4, bs: tok, be: tok + 4}}
	if _, _, ok := assemble(copies, right, []int{0, 1}, lim); !ok {
		t.Fatal("refused the right edit: the cases above prove nothing")
	}
}

// TestFactorBoundsItsWork: copies that share nothing are refused by the
// work bound even with limits that would take them, and quickly enough that
// the test does not notice (no timing asserted: the bound is counted).
func TestFactorBoundsItsWork(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	copies := make([][]byte, 3)
	for i := range copies {
		copies[i] = randomText(r, 40000)
	}
	if _, _, ok := factorChecked(t, copies, generous); ok {
		t.Fatal("three unrelated 40 KB texts were factored: the work bound did not stop the diff")
	}
	// The same copies, small enough for the bound: the diff finishes.
	for i := range copies {
		copies[i] = copies[i][:200]
	}
	if _, _, ok := factorChecked(t, copies, generous); !ok {
		t.Fatal("three unrelated 200-byte texts were refused with generous limits")
	}
}

// TestFactorAppendFill: AppendFill appends, Fill panics on a wrong count.
func TestFactorAppendFill(t *testing.T) {
	tpl := Template{Literals: bs("a", "c", "e")}
	if got := string(tpl.AppendFill([]byte(">"), bs("b", "d"))); got != ">abcde" {
		t.Fatalf("AppendFill = %q", got)
	}
	if got := (Template{}).Fill(nil); len(got) != 0 || (Template{}).Holes() != 0 {
		t.Fatalf("zero Template fills to %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Fill with one value for two holes did not panic")
		}
	}()
	tpl.Fill(bs("b"))
}

// textAlphabet mixes markup, URL punctuation, whitespace, words and
// multi-byte UTF-8, so that random edits cut tokens every way.
var textAlphabet = []string{"<", ">", "\"", "=", "&", "?", "/", " ", "\r\n", "  ", "a", "href", "td", "https", "pg", "example",
	"0", "42", "x9Q", "é", "€", "日本", ":", ";", "%", "-", ".", "'"}

func randomText(r *rand.Rand, n int) []byte {
	var b []byte
	for len(b) < n {
		b = append(b, textAlphabet[r.IntN(len(textAlphabet))]...)
	}
	return b
}

// randomEdit changes up to 8 bytes of b at a random place, at a UTF-8
// sequence start so the copies stay valid text.
func randomEdit(r *rand.Rand, b []byte) []byte {
	p := r.IntN(len(b) + 1)
	for p < len(b) && !utf8.RuneStart(b[p]) {
		p++
	}
	ins := randomText(r, 1+r.IntN(6))
	out := append([]byte(nil), b[:p]...)
	switch r.IntN(3) {
	case 0: // insert
		out = append(out, ins...)
		return append(out, b[p:]...)
	case 1: // delete
		e := min(p+1+r.IntN(8), len(b))
		for e < len(b) && !utf8.RuneStart(b[e]) {
			e++
		}
		return append(out, b[e:]...)
	default: // replace
		e := min(p+1+r.IntN(8), len(b))
		for e < len(b) && !utf8.RuneStart(b[e]) {
			e++
		}
		out = append(out, ins...)
		return append(out, b[e:]...)
	}
}

// TestFactorRandomEdits: copies made from a base by random edits are either
// refused or rebuilt exactly; with few small edits and generous limits they
// are never refused, and each edit costs at most two holes.
func TestFactorRandomEdits(t *testing.T) {
	seed := uint64(20260401)
	r := rand.New(rand.NewPCG(seed, 7))
	for round := range 300 {
		base := randomText(r, 200+r.IntN(4000))
		n := 1 + r.IntN(8)
		few := r.IntN(4) > 0
		copies := [][]byte{base}
		edits := 0
		for range n {
			c := base
			k := r.IntN(4)
			if !few {
				k = r.IntN(60)
			}
			for range k {
				c = randomEdit(r, c)
			}
			edits += k
			copies = append(copies, c)
		}
		lim := generous
		if r.IntN(3) == 0 {
			lim = Limits{MaxHoles: r.IntN(6), MaxValueBytes: r.IntN(64)}
		}
		tpl, _, ok := factorChecked(t, copies, lim)
		if few && lim == generous {
			if !ok {
				t.Fatalf("seed %d round %d: %d copies with %d small edits in all were refused", seed, round, len(copies), edits)
			}
			// An edit that replaces ";td" by "td<0=" is, token for token, a
			// deletion and an insertion around an equal "td": two holes.
			// More than two per edit would be fragmentation.
			if tpl.Holes() > 2*edits {
				t.Fatalf("seed %d round %d: %d holes for %d edits", seed, round, tpl.Holes(), edits)
			}
		}
	}
}
