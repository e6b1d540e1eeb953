package rules

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

const minimalLinks = `{"format":1,"name":"pixelgate-links","version":"t1","date":"2026-01-02","params":[],"redirects":[]}`

func trackersWith(rules string) []byte {
	return []byte(`{"format":1,"name":"pixelgate-trackers","version":"t1","date":"2026-01-02","rules":[` + rules + `]}`)
}

func TestParseErrors(t *testing.T) {
	okRule := `{"id":"a","vendor":"V","kind":"open","host":"example.com","source":"operator"}`
	tests := []struct {
		name, trackers, links, want string
	}{
		{"not json", `{`, minimalLinks, "trackers rule file"},
		{"trailing data", string(trackersWith(okRule)) + `{}`, minimalLinks, "data after the JSON document"},
		{"unknown field", string(trackersWith(`{"id":"a","vendor":"V","kind":"open","host":"example.com","source":"operator","hots":"x"}`)), minimalLinks, `unknown field "hots"`},
		{"format", `{"format":2,"name":"pixelgate-trackers","version":"t","date":"2026-01-02","rules":[]}`, minimalLinks, "format 2"},
		{"name", `{"format":1,"name":"other","version":"t","date":"2026-01-02","rules":[]}`, minimalLinks, `name "other"`},
		{"date", `{"format":1,"name":"pixelgate-trackers","version":"t","date":"yesterday","rules":[]}`, minimalLinks, "not YYYY-MM-DD"},
		{"version", `{"format":1,"name":"pixelgate-trackers","version":"","date":"2026-01-02","rules":[]}`, minimalLinks, "version missing"},
		{"duplicate id", string(trackersWith(okRule + "," + okRule)), minimalLinks, `id "a" used twice`},
		{"bad id", string(trackersWith(`{"id":"A B","vendor":"V","kind":"open","host":"example.com","source":"operator"}`)), minimalLinks, `id "A B"`},
		{"kind", string(trackersWith(`{"id":"a","vendor":"V","kind":"pixel","host":"example.com","source":"operator"}`)), minimalLinks, `kind "pixel"`},
		{"source", string(trackersWith(`{"id":"a","vendor":"V","kind":"open","host":"example.com","source":"leavemealone"}`)), minimalLinks, `source "leavemealone"`},
		{"vendor", string(trackersWith(`{"id":"a","vendor":"","kind":"open","host":"example.com","source":"operator"}`)), minimalLinks, "vendor missing"},
		{"host case", string(trackersWith(`{"id":"a","vendor":"V","kind":"open","host":"Example.com","source":"operator"}`)), minimalLinks, "lower case"},
		{"host two #", string(trackersWith(`{"id":"a","vendor":"V","kind":"open","host":"a#b#.com","source":"operator"}`)), minimalLinks, "at most one #"},
		{"any host without segments", string(trackersWith(`{"id":"a","vendor":"V","kind":"open","host":"*","path_prefix":"/o/","source":"operator"}`)), minimalLinks, "needs segments"},
		{"first label alone", string(trackersWith(`{"id":"a","vendor":"V","kind":"open","host":"click.*","source":"operator"}`)), minimalLinks, "needs a path or query condition"},
		{"regexp", string(trackersWith(`{"id":"a","vendor":"V","kind":"open","host":"example.com","path_regexp":"(","source":"operator"}`)), minimalLinks, "path_regexp"},
		{"query regexp", string(trackersWith(`{"id":"a","vendor":"V","kind":"open","host":"example.com","query":{"u":"["},"source":"operator"}`)), minimalLinks, `query "u"`},
		{"prefix", string(trackersWith(`{"id":"a","vendor":"V","kind":"open","host":"example.com","path_prefix":"o/","source":"operator"}`)), minimalLinks, "must start with /"},
		{"example of another rule", string(trackersWith(okRule + `,{"id":"b","vendor":"V","kind":"open","host":"x.example.com","path_prefix":"/o/","source":"operator","example":"https://example.com/o/1"}`)), minimalLinks, `matched by rule "a" first`},
		{"example unmatched", string(trackersWith(`{"id":"b","vendor":"V","kind":"open","host":"example.com","path_prefix":"/o/","source":"operator","example":"https://example.com/p/1"}`)), minimalLinks, "matches no rule"},
		{"example not a URL", string(trackersWith(`{"id":"b","vendor":"V","kind":"open","host":"example.com","source":"operator","example":"mailto:x@example.com"}`)), minimalLinks, "not an http(s) URL"},
		{"param example", string(trackersWith(okRule)), `{"format":1,"name":"pixelgate-links","version":"t","date":"2026-01-02","params":[{"id":"p","vendor":"V","names":["x","y"],"host":"*","source":"operator","example":"https://a.example/?x=1"}],"redirects":[]}`, `lacks parameter "y"`},
		{"param example host", string(trackersWith(okRule)), `{"format":1,"name":"pixelgate-links","version":"t","date":"2026-01-02","params":[{"id":"p","vendor":"V","names":["x"],"host":"b.example","source":"operator","example":"https://a.example/?x=1"}],"redirects":[]}`, "not a URL the rule applies to"},
		{"redirect example dest", string(trackersWith(okRule)), `{"format":1,"name":"pixelgate-links","version":"t","date":"2026-01-02","params":[],"redirects":[{"id":"r","vendor":"V","host":"*","segments":["go"],"params":["url"],"encoding":"plain","source":"operator","example":"https://a.example/go?url=https%3A%2F%2Fb.example%2F","example_dest":"https://c.example/"}]}`, `example_dest says "https://c.example/"`},
		{"redirect example opaque", string(trackersWith(okRule)), `{"format":1,"name":"pixelgate-links","version":"t","date":"2026-01-02","params":[],"redirects":[{"id":"r","vendor":"V","host":"*","segments":["go"],"params":["url"],"encoding":"plain","source":"operator","example":"https://a.example/go?id=1","example_dest":"https://c.example/"}]}`, "does not unwrap"},
		{"links names", string(trackersWith(okRule)), `{"format":1,"name":"pixelgate-links","version":"t","date":"2026-01-02","params":[{"id":"p","vendor":"V","names":[],"host":"*","source":"operator"}],"redirects":[]}`, "names missing"},
		{"links id shared with trackers", string(trackersWith(okRule)), `{"format":1,"name":"pixelgate-links","version":"t","date":"2026-01-02","params":[{"id":"a","vendor":"V","names":["x"],"host":"*","source":"operator"}],"redirects":[]}`, `id "a" used twice`},
		{"redirect encoding", string(trackersWith(okRule)), `{"format":1,"name":"pixelgate-links","version":"t","date":"2026-01-02","params":[],"redirects":[{"id":"r","vendor":"V","host":"*","params":["url"],"encoding":"rot13","source":"operator"}]}`, `encoding "rot13"`},
		{"redirect no destination", string(trackersWith(okRule)), `{"format":1,"name":"pixelgate-links","version":"t","date":"2026-01-02","params":[],"redirects":[{"id":"r","vendor":"V","host":"*","encoding":"plain","source":"operator"}]}`, "where is the destination"},
		{"redirect group", string(trackersWith(okRule)), `{"format":1,"name":"pixelgate-links","version":"t","date":"2026-01-02","params":[],"redirects":[{"id":"r","vendor":"V","host":"*","path_regexp":"^/x$","path_group":1,"encoding":"plain","source":"operator"}]}`, "not a group"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.trackers), []byte(tc.links))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// An operator's own files replace the embedded ones entirely.
func TestParseOperatorFiles(t *testing.T) {
	s, err := Parse(trackersWith(`{"id":"own","vendor":"Our ESP","kind":"open","host":"=t.our-esp.example","path_prefix":"/px/","source":"operator"},
		{"id":"own-any","vendor":"Our ESP","kind":"click","host":"*","segments":["go"],"query":{"k":"^[0-9]+$"},"source":"operator"}`),
		[]byte(`{"format":1,"name":"pixelgate-links","version":"l7","date":"2026-01-02",
		"params":[{"id":"p","vendor":"Our ESP","names":["rid"],"host":"our-shop.example","source":"operator"}],
		"redirects":[{"id":"r","vendor":"Our ESP","host":"t.our-esp.example","path_regexp":"^/to/([^/]+)$","path_group":1,"encoding":"base64","source":"operator"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if v := s.Version(); v != "trackers t1, links l7" {
		t.Errorf("Version() = %q", v)
	}
	check := func(raw string, want bool) {
		t.Helper()
		u, _ := url.Parse(raw)
		if _, ok := s.MatchTracker(u); ok != want {
			t.Errorf("MatchTracker(%s) = %v, want %v", raw, ok, want)
		}
	}
	check("https://t.our-esp.example/px/abc", true)
	check("https://x.t.our-esp.example/px/abc", false) // exact host
	check("https://t.our-esp.example/img/abc", false)
	check("https://any.example/a/go/b?k=123", true)
	check("https://any.example/a/go/b?k=abc", false)
	check("https://acme.us3.list-manage.com/track/open.php?u=1&id=2", false) // embedded rules are not added
	u, _ := url.Parse("https://www.our-shop.example/p?rid=9&utm_source=x")
	if got := s.IdentifyingParams(u); len(got) != 1 || got[0] != "rid" {
		t.Errorf("IdentifyingParams = %q", got)
	}
	u, _ = url.Parse("https://t.our-esp.example/to/aHR0cHM6Ly9vdXItc2hvcC5leGFtcGxlLw")
	if d, id, ok := s.Unwrap(u); !ok || d.String() != "https://our-shop.example/" || id != "r" {
		t.Errorf("Unwrap = %v %q %v", d, id, ok)
	}
}

func TestHostPatterns(t *testing.T) {
	tests := []struct {
		pat, host string
		want      bool
	}{
		{"cmail#.com", "cmail20.com", true},
		{"cmail#.com", "acme.cmail1.com", true},
		{"cmail#.com", "cmail.com", true},
		{"cmail#.com", "cmailx.com", false},
		{"cmail#.com", "xcmail1.com", false},
		{"=pixel.example.com", "pixel.example.com", true},
		{"=pixel.example.com", "a.pixel.example.com", false},
		{"example.com", "example.com", true},
		{"example.com", "notexample.com", false},
		{"example.com", "a.b.example.com", true},
		{"click.*", "click.news.example", true},
		{"click.*", "clicks.news.example", false},
	}
	for _, tc := range tests {
		p, err := compilePattern(patternJSON{Host: tc.pat, PathPrefix: "/"}, false)
		if err != nil {
			t.Fatalf("%s: %v", tc.pat, err)
		}
		if got := p.matchHost(tc.host); got != tc.want {
			t.Errorf("%s vs %s: got %v", tc.pat, tc.host, got)
		}
	}
}

// Every embedded tracker rule carries an example, which Parse checks is
// matched by that rule and not shadowed by an earlier one.
func TestEmbeddedRulesHaveExamples(t *testing.T) {
	data, err := embedded.ReadFile("data/trackers.json")
	if err != nil {
		t.Fatal(err)
	}
	var f trackerFile
	if err := decodeStrict(data, &f); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Rules {
		if r.Example == "" {
			t.Errorf("rule %s has no example", r.ID)
		}
	}
	data, err = embedded.ReadFile("data/links.json")
	if err != nil {
		t.Fatal(err)
	}
	var l linkFile
	if err := decodeStrict(data, &l); err != nil {
		t.Fatal(err)
	}
	for _, r := range l.Params {
		if r.Example == "" {
			t.Errorf("params rule %s has no example", r.ID)
		}
	}
	for _, r := range l.Redirects {
		if r.Example == "" || r.ExampleDest == "" {
			t.Errorf("redirects rule %s has no example", r.ID)
		}
	}
}

func TestStats(t *testing.T) {
	s := defaultSet(t)
	st := s.Stats()
	t.Logf("rules: %d tracker (%d vendors), %d params, %d redirects; by source %v",
		st.TrackerRules, st.Vendors, st.ParamRules, st.RedirectRules, st.BySource)
	if st.Vendors < 40 {
		t.Errorf("%d vendors, want at least 40", st.Vendors)
	}
	total := 0
	for src, n := range st.BySource {
		if !validSources[src] {
			t.Errorf("unknown source %q", src)
		}
		total += n
	}
	if total != st.TrackerRules+st.ParamRules+st.RedirectRules {
		t.Errorf("by-source total %d != %d rules", total, st.TrackerRules+st.ParamRules+st.RedirectRules)
	}
	st.BySource["x"] = 1
	if _, ok := s.Stats().BySource["x"]; ok {
		t.Error("Stats shares its map with the Set")
	}
}

func TestVendorsAreTheRulesVendors(t *testing.T) {
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	vs := s.Vendors()
	if len(vs) != s.Stats().Vendors {
		t.Errorf("Vendors() lists %d names, Stats counts %d", len(vs), s.Stats().Vendors)
	}
	if !slices.IsSorted(vs) || !slices.Contains(vs, "Mailchimp") {
		t.Errorf("Vendors() = %q: not sorted, or no Mailchimp", vs)
	}
}
