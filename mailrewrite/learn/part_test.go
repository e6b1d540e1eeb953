package learn

import (
	"net/url"
	"testing"
)

func TestRemoveParts(t *testing.T) {
	cases := []struct {
		raw   string
		parts []Part
		want  string
	}{
		{"https://a.example/x?e=1&utm_source=nl", []Part{{Kind: Query, Key: "e"}}, "https://a.example/x?utm_source=nl"},
		{"https://a.example/x?utm_source=nl&e=1", []Part{{Kind: Query, Key: "e"}}, "https://a.example/x?utm_source=nl"},
		{"https://a.example/x?e=1", []Part{{Kind: Query, Key: "e"}}, "https://a.example/x"},
		{"https://a.example/x?e=1&e=2&f=3", []Part{{Kind: Query, Key: "e"}}, "https://a.example/x?f=3"},
		{"https://a.example/x?%65=1&f=3", []Part{{Kind: Query, Key: "e"}}, "https://a.example/x?f=3"},
		{"https://a.example/tr/op/TOKEN", []Part{{Kind: Segment, Index: 2}}, "https://a.example/tr/op"},
		{"https://a.example/TOKEN/link/dest", []Part{{Kind: Segment, Index: 0}}, "https://a.example/link/dest"},
		{"https://a.example/d?o0c3tol00bmx&utm_source=nl", []Part{{Kind: Bare, Index: 0}}, "https://a.example/d?utm_source=nl"},
		{"https://a.example/p#tok123456", []Part{{Kind: Fragment}}, "https://a.example/p"},
		{"https://a.example/x?e=1#top", []Part{{Kind: Query, Key: "e"}}, "https://a.example/x#top"},
		// Nothing to remove: the URL comes back byte for byte, odd
		// escapes and all.
		{"https://a.example/%7Ex/?a=%zz&b=1#f%20", []Part{{Kind: Query, Key: "e"}}, "https://a.example/%7Ex/?a=%zz&b=1#f%20"},
		{"HTTPS://A.example:8443/x/?keep=1", []Part{{Kind: Segment, Index: 9}}, "HTTPS://A.example:8443/x/?keep=1"},
		{"https://a.example/x", nil, "https://a.example/x"},
	}
	for _, c := range cases {
		if got := RemoveParts(c.raw, c.parts); got != c.want {
			t.Errorf("RemoveParts(%q, %v) = %q, want %q", c.raw, c.parts, got, c.want)
		}
	}
}

func TestPartStrings(t *testing.T) {
	got := PartsString([]Part{{Kind: Segment, Index: 2}, {Kind: Query, Key: "e"}, {Kind: Bare}, {Kind: Fragment}})
	if got != "path[2],query:e,query[0],fragment" {
		t.Fatalf("got %q", got)
	}
}

func TestPerRecipientNeedsTheSameTemplate(t *testing.T) {
	l := testLearner(t, DefaultLimits)
	st := testState(t, 1)
	l.Observe(st, []Resource{{"https://t.example/tr/op/AbC123dEf456GhI789", "img"}, {"https://t.example/d?x9y8z7w6v5u4&utm=1", "a"}})
	l.Observe(st, []Resource{{"https://t.example/tr/op/ZzY987xWv654UtS321", "img"}, {"https://t.example/d?k1j2h3g4f5d6&utm=1", "a"}})
	sh := st.Shapes()
	for raw, want := range map[string]string{
		"https://t.example/tr/op/QqQ111wWw222EeE333":  "path[2]",
		"https://T.EXAMPLE/tr/op/QqQ111wWw222EeE333":  "path[2]",
		"https://t.example/tr/op/QqQ111wWw222EeE.gif": "", // another mask: another template
		"https://t.example/tr/cl/QqQ111wWw222EeE333":  "", // another literal word
		"https://t.example/tr/op/QqQ111/extra":        "", // another depth
		"https://u.example/tr/op/QqQ111wWw222EeE333":  "", // another host
		"https://t.example/d?m1n2b3v4c5x6&utm=1":      "query[0]",
		"https://t.example/d?plain&utm=1":             "", // a word, not a value
		"mailto:someone@t.example":                    "",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		parts, ok := sh.PerRecipient(u)
		if got := PartsString(parts); got != want || ok != (want != "") {
			t.Errorf("PerRecipient(%s) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	var none *Shapes
	if _, ok := none.PerRecipient(&url.URL{Scheme: "https", Host: "t.example", Path: "/tr/op/x1"}); ok {
		t.Error("nil Shapes matched")
	}
}
