package consentpage

import (
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

func TestMaskAddress(t *testing.T) {
	for in, want := range map[string]string{
		"jean.dupont@example.fr":   "j***@e***.fr",
		" Anna@Mail.Example.CO.UK": "A***@m***.uk",
		"élodie@exemple.fr":        "é***@e***.fr",
		"x@localhost":              "x***@l***",
		"nobody":                   "***",
		"@example.com":             "***",
		"a@":                       "***",
	} {
		if got := consent.MaskAddress(in); got != want {
			t.Errorf("MaskAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSealPageTokenCarriesOnlyTheMask(t *testing.T) {
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := SealPageToken(kr, "jean.dupont@example.fr", "c1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tok, "jean") || strings.Contains(tok, "example") {
		t.Fatal("token shows the address")
	}
	opened, err := kr.Open(tok, consent.PurposeConsentPage)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := kr.RecipientKey("jean.dupont@example.fr")
	if opened.Key != k || opened.MaskedAddress() != "j***@e***.fr" {
		t.Fatalf("opened token: key %v mask %q", opened.Key == k, opened.MaskedAddress())
	}
	if _, err := SealPageToken(kr, "not an address", "c1", time.Now()); err == nil {
		t.Error("sealed a token for a non-address")
	}
	// A token without the mask (sealed by the relay directly) still opens
	// the page, which then names no address.
	if got := (consent.Token{URL: "https://x.example/"}).MaskedAddress(); got != "" {
		t.Errorf("mask from a non-mailto URL: %q", got)
	}
}
