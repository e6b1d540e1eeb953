package urlpath

import (
	"testing"

	"github.com/pixelgate/pixelgate/internal/testsupport"
)

// TestStandsAlone: the rewrite engine is allowed this one package of the
// module (mailrewrite's dependency guard), so it must bring nothing of the
// module along with it.
func TestStandsAlone(t *testing.T) {
	testsupport.ForbidDeps(t, ".", "github.com/pixelgate/pixelgate", "net/http")
}

// TestTokensRoundTrip: what the builders make, the parsers take apart.
func TestTokensRoundTrip(t *testing.T) {
	const base, tok = "https://track.example.com/pg", "AbC-_9"
	for _, c := range []struct {
		url, want string
		parse     func(string) string
	}{
		{Pixel(base, tok), base + "/o/AbC-_9.gif", PixelToken},
		{Link(base, tok), base + "/l/AbC-_9", LinkToken},
	} {
		if c.url != c.want {
			t.Errorf("built %q, want %q", c.url, c.want)
		}
		if got := c.parse(c.url); got != tok {
			t.Errorf("token of %q = %q, want %q", c.url, got, tok)
		}
	}
	if got, want := Consent(base, tok), base+"/c/AbC-_9"; got != want {
		t.Errorf("consent URL %q, want %q", got, want)
	}
	if !IsConsentPage(Consent("", tok), tok) || IsConsentPage(Consent("", tok)+WithdrawSuffix, tok) {
		t.Error("IsConsentPage does not tell the page from its withdrawal route")
	}
	if got := PixelToken("/o/" + tok); got != "" {
		t.Errorf("pixel token of a path without .gif = %q, want none", got)
	}
}

func TestRoot(t *testing.T) {
	for dir, want := range map[string]string{
		"https://h/c/":   "https://h",
		"https://h/x/c/": "https://h/x",
		"https://h/x/":   "https://h/x",
		"https://h/":     "https://h",
	} {
		if got := Root(dir); got != want {
			t.Errorf("Root(%q) = %q, want %q", dir, got, want)
		}
	}
}
