package learn

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/mailrewrite/learn/learntest"
)

func TestOneCopyLearnsNothing(t *testing.T) {
	l := testLearner(t, DefaultLimits)
	st := testState(t, 1)
	if r := l.Observe(st, newsletter("jan", newRecipient(1))); r.Learned != 0 {
		t.Fatalf("learned %d parts from one copy", r.Learned)
	}
	if st.Shapes() != nil {
		t.Fatalf("shapes after one copy: %v", st.Shapes().List())
	}
}

func TestTwoCopiesLearnTheVaryingToken(t *testing.T) {
	l := testLearner(t, DefaultLimits)
	st := testState(t, 1)
	l.Observe(st, newsletter("jan", newRecipient(1)))
	r := l.Observe(st, newsletter("jan", newRecipient(2)))
	if r.Learned == 0 {
		t.Fatal("nothing learned from two copies that differ")
	}
	got := map[string]string{}
	for _, s := range st.Shapes().List() {
		got[s.Host+"/"+strings.Join(s.Path, "/")] = PartsString(s.Parts)
	}
	want := map[string]string{
		"img.shop.example/im/*/*.png":  "query:e",
		"img.shop.example/im/*/*.jpg":  "query:e",
		"www.shop.example/sale":        "query:sid",
		"list.esp.example/track/click": "query:e",
		"t.shop.example/tr/op/*":       "path[2]",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("shape %s: learned %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("learned shapes %v, want exactly %v", got, want)
	}
}

func TestThirdRecipientIsCleaned(t *testing.T) {
	l := testLearner(t, DefaultLimits)
	st := testState(t, 1)
	l.Observe(st, newsletter("jan", newRecipient(1)))
	l.Observe(st, newsletter("jan", newRecipient(2)))
	r3 := newRecipient(3)
	third := newsletter("jan", r3)
	got, n := cleaned(t, st.Shapes(), third)
	want := []string{
		"https://cdn.shop.example/assets/logo.png",
		"https://img.shop.example/im/2827948/98153d34c949b456c8017467a00ce946.png",
		"https://img.shop.example/im/2827948/d3bdcde8e0db6b4a45c6cb048abb22ab.jpg",
		"https://www.shop.example/sale?utm_source=newsletter&utm_campaign=jan",
		"https://www.shop.example/product/blue-shirt?utm_source=newsletter&utm_campaign=jan",
		"https://list.esp.example/track/click?u=5e78d7ef2297cc80842b7591e&id=c3569d2df3",
		"https://list.esp.example/track/click?u=5e78d7ef2297cc80842b7591e&id=f74d35f6b6",
		"https://t.shop.example/tr/op",
		"https://www.shop.example/help#faq",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("third copy cleaned to\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n != 6 {
		t.Errorf("%d URLs recognised as per-recipient, want 6", n)
	}
	for _, u := range got {
		for _, v := range []string{r3.Token, r3.SID, r3.HexID} {
			if strings.Contains(u, v) {
				t.Errorf("cleaned URL %s still holds the recipient's value %s", u, v)
			}
		}
	}
}

func TestEqualValuesAreNeverLearned(t *testing.T) {
	l := testLearner(t, DefaultLimits)
	st := testState(t, 1)
	// Every value is identifier-like, but the same in every copy: a
	// campaign id, a list id, an image hash. Only the sid differs.
	mk := func(sid string) []Resource {
		return []Resource{
			{"https://www.shop.example/c/8f3a9c2e71b4d6e0?list=a1b2c3d4e5f6&camp=2023010199&sid=" + sid, "a"},
			{"https://cdn.shop.example/i/3f7c1a9e5b2d8c4f6a0e.png?v=20230101", "img"},
		}
	}
	for i := range 6 {
		l.Observe(st, mk(fmt.Sprint(700000+i)))
	}
	list := st.Shapes().List()
	if len(list) != 1 || PartsString(list[0].Parts) != "query:sid" {
		t.Fatalf("learned %+v, want only query:sid", list)
	}
}

func TestPersonalisedWordsAreNotLearned(t *testing.T) {
	l := testLearner(t, DefaultLimits)
	st := testState(t, 1)
	// A language and a first name differ per recipient but are words of
	// personalised content, not identifiers: taking them out would change
	// what the person sees for nothing.
	l.Observe(st, []Resource{{"https://www.shop.example/news?lang=de&greet=Anna", "a"}})
	l.Observe(st, []Resource{{"https://www.shop.example/news?lang=fr&greet=Bernadette", "a"}})
	if list := st.Shapes().List(); len(list) != 0 {
		t.Fatalf("learned %+v from personalised words", list)
	}
}

func TestPersonalisedBlockDoesNotShiftAlignment(t *testing.T) {
	l := testLearner(t, DefaultLimits)
	st := testState(t, 1)
	a := []Resource{
		{"https://www.shop.example/p/88812345", "a"},
		{"https://www.shop.example/p/88867890", "a"},
	}
	// The second recipient gets one more recommended product: the product
	// links no longer pair one to one, so their ids are not compared.
	b := []Resource{
		{"https://www.shop.example/p/88867890", "a"},
		{"https://www.shop.example/p/88812345", "a"},
		{"https://www.shop.example/p/88800001", "a"},
	}
	l.Observe(st, a)
	l.Observe(st, b)
	if list := st.Shapes().List(); len(list) != 0 {
		t.Fatalf("learned %+v from a personalised block", list)
	}
}

func TestCarriersAreAlignedApart(t *testing.T) {
	l := testLearner(t, DefaultLimits)
	st := testState(t, 1)
	// The same template as an image in one copy and a link in the other
	// is not the same resource.
	l.Observe(st, []Resource{{"https://x.example/i?id=ab12cd34ef", "img"}})
	l.Observe(st, []Resource{{"https://x.example/i?id=99ff88ee77", "a"}})
	if st.Shapes() != nil {
		t.Fatal("learned across carriers")
	}
}

func TestMemoryBoundHolds(t *testing.T) {
	lim := Limits{Slots: 40, Values: 4, Shapes: 5, PartsPerShape: 3, Copies: 30}
	l := testLearner(t, lim)
	st := testState(t, 1)
	// Hostile copies: hundreds of distinct long hosts, deep paths, many
	// parameters, all varying per copy.
	mk := func(n int) []Resource {
		var c []Resource
		for i := range 200 {
			host := fmt.Sprintf("h%03d-%s.example", i, strings.Repeat("x", 200))
			var q []string
			for k := range 30 {
				q = append(q, fmt.Sprintf("p%02d%s=%d%08d", k, strings.Repeat("y", 29), n, k*i))
			}
			path := strings.Repeat("/abcdefghij", 12) + fmt.Sprintf("/%d%030d", n, i)
			c = append(c, Resource{"https://" + host + path + "?" + strings.Join(q, "&") + fmt.Sprintf("#%d%012d", n, i), "a"})
		}
		return c
	}
	sizes := []int{}
	for n := range 40 {
		l.Observe(st, mk(n))
		sizes = append(sizes, len(st.Encode()))
	}
	max := MaxEncodedSize(lim)
	for n, s := range sizes {
		if s > max {
			t.Fatalf("after copy %d the state is %d bytes, bound %d", n+1, s, max)
		}
	}
	if len(st.slots) > lim.Slots || len(st.shapes) > lim.Shapes {
		t.Fatalf("%d slots, %d shapes: limits %d, %d", len(st.slots), len(st.shapes), lim.Slots, lim.Shapes)
	}
	for _, s := range st.shapes {
		if len(s.Parts) > lim.PartsPerShape {
			t.Fatalf("shape with %d parts, limit %d", len(s.Parts), lim.PartsPerShape)
		}
	}
	if st.Copies() != lim.Copies || !st.Frozen(lim) {
		t.Fatalf("copies %d, frozen %v: want frozen at %d", st.Copies(), st.Frozen(lim), lim.Copies)
	}
	if sizes[len(sizes)-1] != sizes[lim.Copies-1] {
		t.Fatal("a frozen state still changed")
	}
	if got := MaxEncodedSize(DefaultLimits); got > 128<<10 {
		t.Fatalf("default limits allow %d bytes per campaign; keep it under 128 KiB", got)
	}
}

func TestStateKeepsNoValues(t *testing.T) {
	l := testLearner(t, DefaultLimits)
	st := testState(t, 1)
	var rs []recipient
	for i := range 3 {
		r := newRecipient(i)
		rs = append(rs, r)
		c := newsletter("jan", r)
		c = append(c, Resource{"https://www.shop.example/u?email=person" + fmt.Sprint(i) + "%40mail.example", "a"})
		l.Observe(st, c)
	}
	enc := st.Encode()
	for _, r := range rs {
		for _, v := range []string{r.Token[:8], r.SID, r.HexID} {
			if bytes.Contains(enc, []byte(v)) {
				t.Errorf("stored state holds a recipient's value %q", v)
			}
		}
	}
	if bytes.Contains(enc, []byte("mail.example")) || bytes.Contains(enc, []byte("person")) {
		t.Error("stored state holds part of a recipient's address")
	}
	if list := st.Shapes().List(); !slices.ContainsFunc(list, func(s Shape) bool { return s.Host == "www.shop.example" && PartsString(s.Parts) == "query:email" }) {
		t.Errorf("the address parameter was not learned: %+v", list)
	}
}

func TestFingerprintsDependOnSecretAndSalt(t *testing.T) {
	c := newsletter("jan", newRecipient(1))
	enc := func(secret string, seed byte) []byte {
		l, err := NewLearner([]byte(secret), DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		st := testState(t, seed)
		l.Observe(st, c)
		return st.Encode()[4+16:]
	}
	a := enc("one", 1)
	if bytes.Equal(a, enc("two", 1)) {
		t.Error("fingerprints do not depend on the secret")
	}
	if bytes.Equal(a, enc("one", 2)) {
		t.Error("fingerprints do not depend on the campaign's salt")
	}
	if !bytes.Equal(a, enc("one", 1)) {
		t.Error("fingerprints are not deterministic")
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	l := testLearner(t, DefaultLimits)
	st := testState(t, 1)
	for i := range 3 {
		l.Observe(st, newsletter("jan", newRecipient(i)))
	}
	enc := st.Encode()
	back, err := l.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Encode(), enc) {
		t.Fatal("decode then encode changed the state")
	}
	// The decoded state goes on learning like the original.
	r4 := newsletter("jan", newRecipient(4))
	got1, _ := cleaned(t, back.Shapes(), r4)
	got2, _ := cleaned(t, st.Shapes(), r4)
	if !slices.Equal(got1, got2) {
		t.Fatal("decoded shapes clean differently")
	}
}

func TestDecodeRejectsBadStates(t *testing.T) {
	l := testLearner(t, Limits{Slots: 4, Values: 2, Shapes: 2, PartsPerShape: 2, Copies: 10})
	st := testState(t, 1)
	big := testLearner(t, DefaultLimits)
	for i := range 2 {
		big.Observe(st, newsletter("jan", newRecipient(i)))
	}
	good := func() []byte {
		s := testState(t, 1)
		s.copies = 2
		s.shapes = []Shape{{Host: "a.example", Path: []string{"x", "*"}, Parts: []Part{{Kind: Segment, Index: 1}}}}
		return s.Encode()
	}
	if _, err := l.Decode(good()); err != nil {
		t.Fatalf("a valid state is refused: %v", err)
	}
	bad := map[string][]byte{
		"empty":           nil,
		"other magic":     append([]byte("PGL\x02"), good()[4:]...),
		"truncated":       good()[:len(good())-1],
		"trailing":        append(good(), 0),
		"over the limits": st.Encode(),
	}
	mut := func(f func(s *State)) []byte {
		s := testState(t, 1)
		s.shapes = []Shape{{Host: "a.example", Path: []string{"x", "*"}, Parts: []Part{{Kind: Segment, Index: 1}}}}
		f(s)
		return s.Encode()
	}
	bad["segment part on a word"] = mut(func(s *State) { s.shapes[0].Parts[0].Index = 0 })
	bad["part beyond the path"] = mut(func(s *State) { s.shapes[0].Parts[0].Index = 5 })
	bad["unknown part kind"] = mut(func(s *State) { s.shapes[0].Parts[0].Kind = 9 })
	bad["long literal"] = mut(func(s *State) { s.shapes[0].Path[0] = "averyveryverylongword" })
	bad["upper-case host"] = mut(func(s *State) { s.shapes[0].Host = "A.example" })
	bad["repeated shape"] = mut(func(s *State) { s.shapes = append(s.shapes, s.shapes[0]) })
	bad["shape without parts"] = mut(func(s *State) { s.shapes[0].Parts = nil })
	bad["occurrence past count"] = mut(func(s *State) { s.slots = []slot{{id: 1, occ: 2, n: 2, fps: []uint32{1}}} })
	for name, b := range bad {
		if _, err := l.Decode(b); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestNewLearnerChecksLimits(t *testing.T) {
	for _, lim := range []Limits{{}, {Slots: 1, Values: 1, Shapes: 1, PartsPerShape: 1, Copies: 1}, {Slots: capSlots + 1, Values: 1, Shapes: 1, PartsPerShape: 1, Copies: 2}} {
		if _, err := NewLearner(nil, lim); err == nil {
			t.Errorf("limits %+v accepted", lim)
		}
	}
}

func TestPayloadPartsAreMarked(t *testing.T) {
	l := testLearner(t, DefaultLimits)
	st := testState(t, 1)
	mk := func(n int) []Resource {
		r := newRecipient(n)
		return []Resource{
			// A click redirect: one token per link and recipient.
			{"https://r.esp.example/tr/cl/" + r.HexID + "a1", "a"},
			{"https://r.esp.example/tr/cl/" + r.HexID + "b2", "a"},
			// A subscriber id: the same on every link of a copy.
			{"https://www.shop.example/p?utm_source=nl&sid=" + r.SID, "a"},
			{"https://www.shop.example/p?utm_source=nl&sid=" + r.SID, "a"},
			// One link only, but its token is longer than any id.
			{"https://go.esp.example/c?upn=" + r.Token + r.Token, "a"},
		}
	}
	l.Observe(st, mk(1))
	l.Observe(st, mk(2))
	got := map[string]string{}
	for _, s := range st.Shapes().List() {
		got[s.Host] = PartsString(s.Parts)
	}
	want := map[string]string{
		"r.esp.example":    "path[2](payload)",
		"www.shop.example": "query:sid",
		"go.esp.example":   "query:upn(payload)",
	}
	for h, w := range want {
		if got[h] != w {
			t.Errorf("%s: learned %q, want %q", h, got[h], w)
		}
	}
	// The flag survives the store.
	back, err := l.Decode(st.Encode())
	if err != nil {
		t.Fatal(err)
	}
	parts, _ := back.Shapes().PerRecipient(learntest.MustURL(t, "https://r.esp.example/tr/cl/0011223344zz"))
	if len(parts) != 1 || !parts[0].Payload {
		t.Fatalf("decoded parts %v: payload lost", parts)
	}
}
