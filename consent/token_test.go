package consent

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var tokenNow = time.Date(2026, 11, 22, 15, 4, 5, 0, time.UTC)

func fixedNow() time.Time { return tokenNow }

func TestTokenRoundTripAndLength(t *testing.T) {
	kr := testKeyring(t, t.TempDir(), fixedNow)
	k, _ := kr.RecipientKey("anna@example.com")
	in := Token{Purpose: PurposeOpen, Key: k, Campaign: "2026-11-black-friday", URL: "https://esp.example/o/abc.gif?u=1"}
	s, err := kr.Seal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := kr.Open(s, PurposeOpen)
	if err != nil {
		t.Fatal(err)
	}
	if out.Key != k || out.Campaign != in.Campaign || out.URL != in.URL || out.Purpose != PurposeOpen {
		t.Errorf("round trip changed the token: %+v", out)
	}
	if !out.Issued.Equal(Day(tokenNow)) {
		t.Errorf("issued %v, want the day %v", out.Issued, Day(tokenNow))
	}

	// Without URL, a token with a realistic campaign id stays short (R6:
	// it goes in every email's URLs).
	short, _ := kr.Seal(Token{Purpose: PurposeConsentPage, Key: k, Campaign: "2026-11-black-friday-fr"})
	if len(short) >= 120 {
		t.Errorf("token is %d chars, want < 120", len(short))
	}
	longest, _ := kr.Seal(Token{Purpose: PurposeOpen, Key: k, Campaign: strings.Repeat("c", MaxShortCampaign)})
	if len(longest) >= 120 {
		t.Errorf("token with a %d-byte campaign id is %d chars, want < 120", MaxShortCampaign, len(longest))
	}
	for _, c := range short {
		if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", c) {
			t.Fatalf("token %q is not URL-safe", short)
		}
	}
	// Unintelligible and non-sequential: sealing the same token twice gives
	// unrelated strings, and neither contains the key or campaign.
	again, _ := kr.Seal(Token{Purpose: PurposeConsentPage, Key: k, Campaign: "2026-11-black-friday-fr"})
	if again == short || commonPrefix(again, short) > 2 {
		t.Errorf("tokens look related: %s %s", short, again)
	}
	if strings.Contains(short, "black") || strings.Contains(short, k.String()[:8]) {
		t.Error("token leaks its contents")
	}
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func TestTokenTypedErrors(t *testing.T) {
	now := tokenNow
	kr := testKeyring(t, t.TempDir(), func() time.Time { return now })
	k, _ := kr.RecipientKey("anna@example.com")
	s, err := kr.Seal(Token{Purpose: PurposeOpen, Key: k, Campaign: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tokenEncoding.DecodeString(s)
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)/2] ^= 1
	otherKid := append([]byte(nil), raw...)
	otherKid[0] = 7

	cases := []struct {
		name string
		tok  string
		want Purpose
		err  error
	}{
		{"tampered", tokenEncoding.EncodeToString(flipped), PurposeOpen, ErrTokenTampered},
		{"unknown key id", tokenEncoding.EncodeToString(otherKid), PurposeOpen, ErrTokenTampered},
		{"truncated", s[:len(s)-30], PurposeOpen, ErrTokenTruncated},
		{"cut in the tag", s[:len(s)-3], PurposeOpen, ErrTokenTampered},
		{"not base64", s[:10] + "!!" + s[12:], PurposeOpen, ErrTokenTruncated},
		{"empty", "", PurposeOpen, ErrTokenTruncated},
		{"wrong purpose", s, PurposeConsentPage, ErrTokenPurpose},
	}
	for _, c := range cases {
		if _, err := kr.Open(c.tok, c.want); !errors.Is(err, c.err) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.err)
		}
	}

	// Expiry: an open token lives as long as opens are kept; the consent
	// page token never expires (R3: withdraw from any old email).
	page, _ := kr.Seal(Token{Purpose: PurposeConsentPage, Key: k})
	now = tokenNow.Add(DefaultTokenMaxAge(PurposeOpen) - time.Hour)
	if _, err := kr.Open(s, PurposeOpen); err != nil {
		t.Errorf("open token refused before its max age: %v", err)
	}
	now = tokenNow.Add(DefaultTokenMaxAge(PurposeOpen) + 2*24*time.Hour)
	if _, err := kr.Open(s, PurposeOpen); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("old open token: %v, want ErrTokenExpired", err)
	}
	now = tokenNow.AddDate(10, 0, 0)
	if _, err := kr.Open(page, PurposeConsentPage); err != nil {
		t.Errorf("10-year-old consent page token refused: %v", err)
	}
}

func TestTokenMaxAgeConfigurable(t *testing.T) {
	now := tokenNow
	kr, err := OpenKeyring(KeyringOptions{Dir: t.TempDir(), Now: func() time.Time { return now },
		MaxAge: map[Purpose]time.Duration{PurposeLink: 7 * 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := kr.Seal(Token{Purpose: PurposeLink, URL: "https://shop.example/"})
	now = now.AddDate(0, 0, 9)
	if _, err := kr.Open(s, PurposeLink); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("link token after 9 days with a 7-day max age: %v", err)
	}
}

func TestTokenRotation(t *testing.T) {
	kr := testKeyring(t, t.TempDir(), fixedNow)
	old, _ := kr.Seal(Token{Purpose: PurposeOpen, Campaign: "c"})
	id, err := kr.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if id != 2 {
		t.Errorf("rotated to key %d, want 2", id)
	}
	fresh, _ := kr.Seal(Token{Purpose: PurposeOpen, Campaign: "c"})
	tok, err := kr.Open(fresh, PurposeOpen)
	if err != nil || tok.KeyID != 2 {
		t.Fatalf("new token not sealed with the newest key: %v %d", err, tok.KeyID)
	}
	if _, err := kr.Open(old, PurposeOpen); err != nil {
		t.Errorf("token of the previous key refused before retirement: %v", err)
	}
	if err := kr.Retire(2); err == nil {
		t.Error("retired the newest key")
	}
	if err := kr.Retire(1); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Open(old, PurposeOpen); !errors.Is(err, ErrTokenRetired) {
		t.Errorf("token of a retired key: %v, want ErrTokenRetired", err)
	}
	// A restart remembers the retirement and never reuses the id.
	again, err := OpenKeyring(KeyringOptions{Dir: kr.dir, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Open(old, PurposeOpen); !errors.Is(err, ErrTokenRetired) {
		t.Errorf("after restart: %v, want ErrTokenRetired", err)
	}
	if _, err := again.Open(fresh, PurposeOpen); err != nil {
		t.Errorf("after restart the live key is lost: %v", err)
	}
	if ids := again.TokenKeyIDs(); len(ids) != 1 || ids[0] != 2 {
		t.Errorf("live keys %v, want [2]", ids)
	}
}

func FuzzOpenToken(f *testing.F) {
	kr, err := OpenKeyring(KeyringOptions{Dir: f.TempDir(), Rand: rand.NewChaCha8([32]byte{5}), Now: fixedNow})
	if err != nil {
		f.Fatal(err)
	}
	for _, tk := range []Token{
		{Purpose: PurposeOpen, Campaign: "c1", URL: "https://esp.example/p.gif"},
		{Purpose: PurposeConsentPage},
		{Purpose: PurposeLink, Campaign: strings.Repeat("x", 255), URL: "https://a.example/?q=1"},
	} {
		s, err := kr.Seal(tk)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s, uint8(tk.Purpose))
	}
	f.Add("", uint8(1))
	f.Add("AAAA", uint8(9))
	f.Fuzz(func(t *testing.T, s string, p uint8) {
		tok, err := kr.Open(s, Purpose(p))
		if err != nil {
			for _, known := range []error{ErrTokenTruncated, ErrTokenTampered, ErrTokenPurpose, ErrTokenRetired, ErrTokenExpired} {
				if errors.Is(err, known) {
					return
				}
			}
			t.Fatalf("untyped error %v", err)
		}
		// Anything that opens must have been sealed by us: re-sealing and
		// opening gives the same token.
		again, err := kr.Seal(tok)
		if err != nil {
			t.Fatalf("opened token does not re-seal: %v", err)
		}
		back, err := kr.Open(again, Purpose(p))
		if err != nil || back != tok {
			t.Fatalf("re-sealed token differs: %v %+v %+v", err, back, tok)
		}
	})
}

// OpenEither takes a token of either purpose, with the max age of the
// purpose it has, and refuses any other purpose.
func TestTokenOpenEither(t *testing.T) {
	now := tokenNow
	kr, err := OpenKeyring(KeyringOptions{Dir: t.TempDir(), Now: func() time.Time { return now },
		MaxAge: map[Purpose]time.Duration{PurposeOpen: 7 * 24 * time.Hour, PurposeDeliverability: 30 * 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := kr.RecipientKey("anna@example.com")
	open, _ := kr.Seal(Token{Purpose: PurposeOpen, Key: k, Campaign: "c1"})
	deliv, _ := kr.Seal(Token{Purpose: PurposeDeliverability, Key: k})
	page, _ := kr.Seal(Token{Purpose: PurposeConsentPage, Key: k})
	for s, want := range map[string]Purpose{open: PurposeOpen, deliv: PurposeDeliverability} {
		if tok, err := kr.OpenEither(s, PurposeOpen, PurposeDeliverability); err != nil || tok.Purpose != want || tok.Key != k {
			t.Errorf("%s token: %+v, %v", want, tok, err)
		}
	}
	if _, err := kr.OpenEither(page, PurposeOpen, PurposeDeliverability); !errors.Is(err, ErrTokenPurpose) {
		t.Errorf("consent page token: %v, want ErrTokenPurpose", err)
	}
	now = now.AddDate(0, 0, 10)
	if _, err := kr.OpenEither(open, PurposeOpen, PurposeDeliverability); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("open token past its own max age: %v, want ErrTokenExpired", err)
	}
	if _, err := kr.OpenEither(deliv, PurposeOpen, PurposeDeliverability); err != nil {
		t.Errorf("deliverability token within its own max age: %v", err)
	}
}
