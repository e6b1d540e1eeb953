package lang

import (
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/internal/testsupport"
)

// The registry is usable as the one list: Default is in it and first, codes
// are primary subtags that Match maps to themselves, none twice, and every
// language has every word the footer and the bad-link page write.
func TestRegistry(t *testing.T) {
	codes := Codes()
	if len(codes) == 0 || codes[0] != Default {
		t.Fatalf("codes %q: want Default %q first", codes, Default)
	}
	seen := map[string]bool{}
	for _, l := range All() {
		if seen[l.Code] {
			t.Errorf("%q listed twice", l.Code)
		}
		seen[l.Code] = true
		if m, ok := Match(l.Code); !ok || m != l.Code {
			t.Errorf("Match(%q) = %q, %v: a code must be a lower-case primary subtag", l.Code, m, ok)
		}
		for name, s := range map[string]string{
			"Footer.Manage": l.Footer.Manage, "Footer.ManageHTML": l.Footer.ManageHTML,
			"Footer.Ask": l.Footer.Ask, "Footer.AskHTML": l.Footer.AskHTML,
			"Footer.Allow": l.Footer.Allow, "Footer.AllowHTML": l.Footer.AllowHTML,
			"Footer.Decline": l.Footer.Decline, "Footer.DeclineHTML": l.Footer.DeclineHTML,
			"BadLink.Title": l.BadLink.Title, "BadLink.Heading": l.BadLink.Heading, "BadLink.Body": l.BadLink.Body,
		} {
			if strings.TrimSpace(s) == "" {
				t.Errorf("%s: %s is empty", l.Code, name)
			}
		}
		// The HTML words go into parts of any charset and 7bit (see Footer).
		for _, s := range []string{l.Footer.ManageHTML, l.Footer.AskHTML, l.Footer.AllowHTML, l.Footer.DeclineHTML} {
			for _, r := range s {
				if r >= 0x80 {
					t.Errorf("%s: %q is not ASCII: write %q as a character reference", l.Code, s, r)
					break
				}
			}
		}
	}
	All()[0].Code = "xx"
	if Codes()[0] != Default {
		t.Error("a caller changed the registry another one reads")
	}
}

func TestMatchAndFirstOf(t *testing.T) {
	for in, want := range map[string]string{
		"fr": "fr", "FR-ca": "fr", "fr_FR": "fr", " en-GB ": "en", "de": Default, "": Default,
		"de, fr-CH": "fr", "french": Default, "*": Default,
	} {
		if got := FirstOf(in); got != want {
			t.Errorf("FirstOf(%q) = %q, want %q", in, got, want)
		}
	}
	if got := FirstOf("de", "it, es", "fr-BE", "en"); got != "fr" {
		t.Errorf("FirstOf skips unsupported candidates in order: %q, want fr", got)
	}
}

func TestFromAcceptLanguage(t *testing.T) {
	for h, want := range map[string]string{
		"":                                    "en",
		"fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7": "fr",
		"en-GB,fr;q=0.5":                      "en",
		"de-DE,fr;q=0.3":                      "fr",
		"de, it":                              "en",
		"en;q=0.2, FR;q=0.9":                  "fr",
		"fr;q=0, en;q=0.1":                    "en",
		"fr;q=2":                              "en",
		"fr;q=abc,en":                         "en",
		"fr-CA":                               "fr",
		"en;q=0.5, fr;q=0.5":                  "en",
		"fr;q=0.5, en;q=0.5":                  "fr",
		strings.Repeat("de,", 400) + "fr":     "en", // beyond what is read
	} {
		if got := FromAcceptLanguage(h); got != want {
			t.Errorf("FromAcceptLanguage(%q) = %q, want %q", h, got, want)
		}
	}
}

// Match, FirstOf and FromAcceptLanguage read headers anyone writes: they
// answer a language pixelgate speaks, whatever the input.
func FuzzFromAcceptLanguage(f *testing.F) {
	for _, s := range []string{"fr-FR,fr;q=0.9", "en;q=0.1,fr;q=0.2", ";;;,,,q=", "fr;q=NaN", "*", "fr_CA, de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		for name, l := range map[string]string{"FromAcceptLanguage": FromAcceptLanguage(h), "FirstOf": FirstOf(h)} {
			if _, ok := Get(l); !ok {
				t.Fatalf("%s(%q) = %q, not a language pixelgate speaks", name, h, l)
			}
		}
	})
}

// The registry is imported by the pure rewrite engine: it must stay a leaf.
func TestLangDependsOnTheStandardLibraryOnly(t *testing.T) {
	testsupport.ForbidDeps(t, ".", "github.com/pixelgate/pixelgate", "golang.org", "github.com")
}
