package rules

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzParse: an operator's rule files are input; a broken one is an error,
// never a panic, and whatever parses can be matched against.
func FuzzParse(f *testing.F) {
	t, err := embedded.ReadFile("data/trackers.json")
	if err != nil {
		f.Fatal(err)
	}
	l, err := embedded.ReadFile("data/links.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(t, l)
	f.Add(trackersWith(""), []byte(minimalLinks))
	probes := []string{
		"https://acme.cmail20.com/t/d-o-qkhjyt-l/o.gif?u=1",
		"https://click.news.example/?qs=abc",
		"https://x.example/a/go/r?url=https%3A%2F%2Fwww.example.org%2F&mc_eid=1",
		"https://urldefense.com/v3/__https://www.example.com/a*b__;Kw!!A$",
	}
	f.Fuzz(func(t *testing.T, trackers, links []byte) {
		s, err := Parse(trackers, links)
		if err != nil {
			if s != nil {
				t.Fatal("Parse returned a Set with an error")
			}
			return
		}
		for _, p := range probes {
			u, _ := url.Parse(p)
			s.MatchTracker(u)
			s.OpenEndpointShape(u)
			s.IdentifyingParams(u)
			if d, _, ok := s.Unwrap(u); ok && !absoluteWeb(d) {
				t.Fatalf("Unwrap(%s) gave %s", p, d)
			}
		}
	})
}

// FuzzURL: the matchers see every URL of every message; none may panic,
// and what they return keeps its promises.
func FuzzURL(f *testing.F) {
	s, err := Default()
	if err != nil {
		f.Fatal(err)
	}
	for _, u := range benchURLs() {
		f.Add(u)
	}
	f.Add("https://t.news.example/track?c=9&value=https%3A%2F%2Fcdn.news.example%2Fimg%2Fbanner.png")
	f.Add("https://t.news.example/track?value=https://a.example/x.gif&ref=https://b.example/")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		for range 2 {
			mu, ok := s.ParseURL(raw)
			if want := err == nil && u.Host != ""; ok != want || (ok && !sameURL(mu, u)) {
				t.Fatalf("ParseURL(%q) = %v %v, url.Parse: %v %v", raw, mu, ok, u, err)
			}
		}
		if err != nil {
			return
		}
		if m, ok := s.MatchTracker(u); ok && (m.RuleID == "" || m.Vendor == "" || !validKinds[m.Kind]) {
			t.Fatalf("MatchTracker(%q) = %+v", raw, m)
		}
		s.IsClickTracker(u)
		s.OpenEndpointShape(u)
		for _, name := range s.IdentifyingParams(u) {
			if _, ok := u.Query()[name]; !ok && !strings.Contains(u.RawQuery, name) {
				t.Fatalf("IdentifyingParams(%q) names %q, not in the query", raw, name)
			}
		}
		if d, id, ok := s.Unwrap(u); ok {
			if !absoluteWeb(d) || id == "" {
				t.Fatalf("Unwrap(%q) = %v, %q", raw, d, id)
			}
		}
		if s.OpenEndpointShape(u) && !OpenPathShape(u) {
			t.Fatalf("OpenEndpointShape(%q) without OpenPathShape", raw)
		}
		if in, ok := s.InnerImage(u); ok && !absoluteWeb(in) {
			t.Fatalf("InnerImage(%q) = %v: not an absolute http(s) URL", raw, in)
		}
		sameAsWithoutMemo(t, s, u)
	})
}

// sameAsWithoutMemo checks that the memo (now warm for u) answers what the
// rules answer when asked directly.
func sameAsWithoutMemo(t *testing.T, s *Set, u *url.URL) {
	t.Helper()
	m, ok := s.MatchTracker(u)
	pos := int32(-1)
	if webURL(u) {
		pos = s.trackerIdx.find(urlParts(u))
	}
	if ok != (pos >= 0) || (ok && m != s.trackers[pos]) {
		t.Fatalf("MatchTracker(%q) = %+v %v, rules say %d", u, m, ok, pos)
	}
	var params []string
	if webURL(u) && u.RawQuery != "" {
		params = s.identifyingParams(urlParts(u))
	}
	if got := s.IdentifyingParams(u); !slices.Equal(got, params) {
		t.Fatalf("IdentifyingParams(%q) = %q, rules say %q", u, got, params)
	}
	d, id, ok := s.Unwrap(u)
	var wd *url.URL
	var wid string
	wok := false
	if webURL(u) {
		wd, wid, wok = s.unwrap(u)
	}
	if ok != wok || id != wid || (ok && d.String() != wd.String()) {
		t.Fatalf("Unwrap(%q) = %v %q %v, rules say %v %q %v", u, d, id, ok, wd, wid, wok)
	}
}

func absoluteWeb(u *url.URL) bool {
	return u != nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != "" && u.User == nil
}

// sameURL: equal parts, the user info compared by value.
func sameURL(a, b *url.URL) bool {
	ca, cb := *a, *b
	ca.User, cb.User = nil, nil
	return ca == cb && a.User.String() == b.User.String() && (a.User == nil) == (b.User == nil)
}
