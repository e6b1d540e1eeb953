package rules

import (
	"strings"
	"testing"
)

func TestOpenEndpointShape(t *testing.T) {
	s := defaultSet(t)
	tests := []struct {
		url  string
		want bool
	}{
		// Open endpoints on hosts no rule names, with a per-message token.
		{"https://t.shop.example/track/open?id=p9unqonzo5iqumomk5uq", true},
		{"https://t.shop.example/track/open.php?u=5e78d7ef2297cc80842b7591e&id=2ed1232679", true},
		{"https://mail.example.org/wf/open?upn=8DVaPYyYoG9qGLemYc", true},
		{"https://mail.example.org/o/eyJ2IjoxLCJtIjoiYWJjMTIzIn0", true},
		{"https://mail.example.org/e/o/eyJ2IjoxLCJtIjoiYWJjMTIzIn0", true},
		{"https://mail.example.org/I0/0100018b5f3c2a1d-8e2f4a1b", true},
		{"https://mail.example.org/newsletter/open.gif?r=a1b2c3d4e5f6a7b8", true},
		{"https://mail.example.org/lists/ut.php?u=a3415d1d918ccd0639a9a7a2bc2f3198&m=28", true},
		{"http://t.example.com/track/g_NG39CBIIRUHNSA1SESS8LO9TUUDUL7VNKPJ4RA3OO7PGT5370C40", true},
		{"https://mail.example.org/Track/Open?id=p9unqonzo5iqumomk5uq", true},
		// The open pixel form an ESP documents (Unosend's API reference).
		{"https://mail.shop.example/api/v1/track/open/550e8400-e29b-41d4-a716-446655440000", true},
		// An image endpoint named by its function, and an open shape
		// whose token is an unfilled merge field.
		{"https://news.example/track", true},
		{"https://news.example/open/?c=2", true},
		{"http://mail.example.org/track/[open]", true},
		{"http://mail.example.org/track/%5Bopen%5D", true},
		{"https://mail.example.org/email/open/{{message_id}}", true},
		// The shape without a token: ordinary names, dates, counters.
		{"https://mail.example.org/track/open?campaign=spring-sale", false},
		{"https://www.example.com/images/open.png?v=20230118", false},
		{"https://www.example.com/o/logo.png", false},
		{"https://www.example.com/open/summer-sale/banner2023.jpg", false},
		{"https://www.example.com/track/banner.jpg", false},
		{"https://www.example.com/tracks/open-air.jpg", false},
		{"https://www.example.com/track/[x.jpg", false},
		// A token without the shape.
		{"https://cdn.example.com/img/p9unqonzo5iqumomk5uq.png", false},
		{"https://d3k81ch9hvuctc.cloudfront.net/company/TXS8dR/images/91f6a664-43e1-4fd0-acaa-564f7a423619.png", false},
		// /o/ deeper in the path is object storage, not an open endpoint.
		{"https://firebasestorage.googleapis.com/v0/b/app.appspot.com/o/a1b2c3d4e5f6g7h8.jpg?alt=media", false},
		{"mailto:x@example.com", false},
	}
	for _, tc := range tests {
		if got := s.OpenEndpointShape(mustURL(t, tc.url)); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.url, got, tc.want)
		}
	}
}

func TestIsToken(t *testing.T) {
	for s, want := range map[string]bool{
		"p9unqonzo5iqumomk5uq":                 true,
		"6496a8003f":                           true,
		"5e78d7ef2297cc80842b7591e":            true,
		"cdf67962-9bac-4103-8c16-f7ca828d425d": true,
		"logo2023":                             false,
		"banner_v2.png":                        false,
		"20230118":                             false,
		"newsletter":                           false,
		"spring-sale":                          false,
		"a1b2":                                 false,
		"a1b2c3d4e5f6 ":                        false,
	} {
		if got := isToken(s); got != want {
			t.Errorf("isToken(%q) = %v, want %v", s, got, want)
		}
	}
}

// The shape tables are lower case and short, as hasOpenShape assumes.
func TestShapeTables(t *testing.T) {
	for _, p := range openPairs {
		for _, name := range p {
			if len(name) > maxPairLen || name != strings.ToLower(name) {
				t.Errorf("openPairs name %q: longer than %d or not lower case", name, maxPairLen)
			}
		}
	}
	for _, m := range []map[string]bool{openFirst, openLast} {
		for name := range m {
			if len(name) > 16 || name != strings.ToLower(name) {
				t.Errorf("shape name %q: longer than 16 or not lower case", name)
			}
		}
	}
}
