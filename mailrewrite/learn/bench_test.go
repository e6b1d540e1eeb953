package learn

import (
	"fmt"
	"net/url"
	"testing"
)

// benchCopy is a 100-URL newsletter copy: the size of a real one.
func benchCopy(n int) []Resource {
	r := newRecipient(n)
	var c []Resource
	for len(c) < 100 {
		for _, x := range newsletter("jan", r) {
			c = append(c, Resource{x.URL + fmt.Sprintf("&i=%d", len(c)), x.Carrier})
		}
	}
	return c[:100]
}

// BenchmarkParseReference parses the copy's URLs with net/url: the least
// any look at a copy costs, to compare the learner with.
func BenchmarkParseReference(b *testing.B) {
	c := benchCopy(2)
	for b.Loop() {
		for _, r := range c {
			if _, err := url.Parse(r.URL); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkObserve learns from a second copy of a campaign.
func BenchmarkObserve(b *testing.B) {
	l := testLearner(b, DefaultLimits)
	first, second := benchCopy(1), benchCopy(2)
	for b.Loop() {
		st := testState(b, 1)
		l.Observe(st, first)
		l.Observe(st, second)
	}
}

// BenchmarkPerRecipient matches a copy's URLs against learnt shapes, as
// the rewrite does for every copy.
func BenchmarkPerRecipient(b *testing.B) {
	l := testLearner(b, DefaultLimits)
	st := testState(b, 1)
	l.Observe(st, benchCopy(1))
	l.Observe(st, benchCopy(2))
	sh := st.Shapes()
	var us []*url.URL
	for _, r := range benchCopy(3) {
		u, _ := url.Parse(r.URL)
		us = append(us, u)
	}
	for b.Loop() {
		for _, u := range us {
			sh.PerRecipient(u)
		}
	}
}

// BenchmarkDecode reads a learnt state, as a replica does on a cache miss.
func BenchmarkDecode(b *testing.B) {
	l := testLearner(b, DefaultLimits)
	st := testState(b, 1)
	l.Observe(st, benchCopy(1))
	l.Observe(st, benchCopy(2))
	enc := st.Encode()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := l.Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}
