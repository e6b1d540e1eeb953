package consent

import (
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Purpose is what a token may be used for; a token sealed for one purpose
// never opens as another.
type Purpose uint8

const (
	// PurposeOpen: pixelgate's open pixel for a consenting recipient; URL is
	// the original ESP pixel, forwarded while consent lasts.
	PurposeOpen Purpose = iota + 1
	// PurposeDeliverability: the R4 date-only pixel.
	PurposeDeliverability
	// PurposeConsentPage: the footer link to the recipient's consent page.
	PurposeConsentPage
	// PurposeLink: pixelgate's click redirect (R12); URL is the destination.
	PurposeLink
)

var purposes = [...]Purpose{PurposeOpen, PurposeDeliverability, PurposeConsentPage, PurposeLink}

func (p Purpose) String() string {
	switch p {
	case PurposeOpen:
		return "open"
	case PurposeDeliverability:
		return "deliverability"
	case PurposeConsentPage:
		return "consent-page"
	case PurposeLink:
		return "link"
	}
	return fmt.Sprintf("purpose(%d)", uint8(p))
}

// Token errors. Every failure to open a token is one of these (wrapped), so
// an endpoint can answer without tracking and count why.
var (
	ErrTokenTruncated = errors.New("token truncated or not a token")
	ErrTokenTampered  = errors.New("token tampered with or sealed with an unknown key")
	ErrTokenPurpose   = errors.New("token used for the wrong purpose")
	ErrTokenRetired   = errors.New("token sealed with a retired key")
	ErrTokenExpired   = errors.New("token expired")
)

// Token is what pixelgate puts in its own URLs instead of anything that
// identifies the recipient (R6). Sealing writes nothing anywhere: the token
// carries everything the endpoint needs.
type Token struct {
	Purpose  Purpose
	Key      Key
	Campaign string
	// Issued is the UTC day the token was made; Seal fills it from the
	// keyring's clock when zero. Only the day is kept.
	Issued time.Time
	// URL is the original pixel URL (open tokens) or the destination (link
	// tokens); empty otherwise.
	URL string
	// KeyID is the token key that sealed it, set by Open.
	KeyID uint8
}

// Layout: kid(1) | nonce(16) | AEAD(purpose(1) | key(16) | day(2) |
// len(campaign)(1) | campaign | url) | tag(16). The key id is additional data.
// A 16-byte random nonce is the HChaCha20 input of XChaCha20 and so derives
// a fresh subkey per token (2^-64 collision odds at 2^32 tokens); the ChaCha20
// nonce part stays zero, saving 8 characters so a token with a short
// campaign id stays under 120 characters.
const (
	nonceRandLen  = 16
	headerLen     = 1 + nonceRandLen
	plainFixedLen = 1 + 16 + 2 + 1
	tagLen        = 16
	minSealedLen  = headerLen + plainFixedLen + tagLen
	// maxTokenURL bounds the carried URL so a token fits in any URL.
	maxTokenURL = 2048
	// MaxShortCampaign is the longest campaign id with which a token
	// without URL stays under 120 characters.
	MaxShortCampaign = 119*3/4 - minSealedLen
)

// tokenEpoch is day 0 of the 16-bit issue day (good until 2199).
var tokenEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

var tokenEncoding = base64.RawURLEncoding

// Seal encrypts t with the newest token key.
func (kr *Keyring) Seal(t Token) (string, error) {
	if t.Purpose < PurposeOpen || t.Purpose > PurposeLink {
		return "", fmt.Errorf("seal token: unknown purpose %d", t.Purpose)
	}
	if len(t.Campaign) > 255 {
		return "", fmt.Errorf("seal token: campaign id longer than 255 bytes")
	}
	if len(t.URL) > maxTokenURL {
		return "", fmt.Errorf("seal token: URL longer than %d bytes", maxTokenURL)
	}
	issued := t.Issued
	if issued.IsZero() {
		issued = kr.now()
	}
	day := issued.UTC().Sub(tokenEpoch) / (24 * time.Hour)
	if day < 0 || day >= 1<<16 {
		return "", fmt.Errorf("seal token: issue day %s out of range", issued.Format(time.DateOnly))
	}

	kr.mu.RLock()
	kid := kr.newest
	aead := kr.tokens[kid]
	kr.mu.RUnlock()

	plain := make([]byte, 0, plainFixedLen+len(t.Campaign)+len(t.URL))
	plain = append(plain, byte(t.Purpose))
	plain = append(plain, t.Key[:]...)
	plain = binary.BigEndian.AppendUint16(plain, uint16(day))
	plain = append(plain, byte(len(t.Campaign)))
	plain = append(plain, t.Campaign...)
	plain = append(plain, t.URL...)

	out := make([]byte, headerLen, headerLen+len(plain)+tagLen)
	out[0] = kid
	if _, err := io.ReadFull(kr.rand, out[1:headerLen]); err != nil {
		return "", fmt.Errorf("seal token: nonce: %w", err)
	}
	out = aead.Seal(out, fullNonce(out[1:headerLen]), plain, out[:1])
	return tokenEncoding.EncodeToString(out), nil
}

func fullNonce(r []byte) []byte {
	n := make([]byte, 24)
	copy(n, r)
	return n
}

// Open decrypts and checks a token: it must be intact, sealed with a live
// key, made for purpose want and not older than that purpose's max age.
func (kr *Keyring) Open(s string, want Purpose) (Token, error) {
	return kr.open(s, want, want)
}

// OpenEither is Open for a token made for purpose a or b, with one
// decryption whichever it is: the pixel takes open and deliverability
// tokens alike, and the cost of its answer must not tell them apart (a
// deliverability token goes to recipients who did not consent).
func (kr *Keyring) OpenEither(s string, a, b Purpose) (Token, error) {
	return kr.open(s, a, b)
}

func (kr *Keyring) open(s string, a, b Purpose) (Token, error) {
	raw, err := tokenEncoding.DecodeString(s)
	if err != nil || len(raw) < minSealedLen {
		return Token{}, ErrTokenTruncated
	}
	kid := raw[0]
	kr.mu.RLock()
	aead, live := kr.tokens[kid]
	retired := kr.retired[kid]
	kr.mu.RUnlock()
	if !live {
		if retired {
			return Token{}, fmt.Errorf("%w (key %d)", ErrTokenRetired, kid)
		}
		return Token{}, ErrTokenTampered
	}
	plain, err := openSealed(aead, raw)
	if err != nil {
		return Token{}, err
	}
	t, err := decodePlain(plain)
	if err != nil {
		return Token{}, err
	}
	t.KeyID = kid
	if t.Purpose != a && t.Purpose != b {
		return Token{}, fmt.Errorf("%w: a %s token where a %s token belongs", ErrTokenPurpose, t.Purpose, a)
	}
	if age := kr.maxAge[t.Purpose]; age > 0 && kr.now().Sub(t.Issued) > age+24*time.Hour {
		// +1 day: only the issue day is known, so a token is never refused
		// before it is really max age old.
		return Token{}, fmt.Errorf("%w: issued %s", ErrTokenExpired, t.Issued.Format(time.DateOnly))
	}
	return t, nil
}

func openSealed(aead cipher.AEAD, raw []byte) ([]byte, error) {
	plain, err := aead.Open(nil, fullNonce(raw[1:headerLen]), raw[headerLen:], raw[:1])
	if err != nil {
		return nil, ErrTokenTampered
	}
	return plain, nil
}

// decodePlain parses the authenticated plaintext. It only sees bytes this
// keyring sealed, but is still strict so a key compromise cannot crash it.
func decodePlain(p []byte) (Token, error) {
	if len(p) < plainFixedLen {
		return Token{}, ErrTokenTampered
	}
	var t Token
	t.Purpose = Purpose(p[0])
	copy(t.Key[:], p[1:17])
	t.Issued = tokenEpoch.AddDate(0, 0, int(binary.BigEndian.Uint16(p[17:19])))
	n := int(p[19])
	rest := p[plainFixedLen:]
	if len(rest) < n {
		return Token{}, ErrTokenTampered
	}
	t.Campaign = string(rest[:n])
	t.URL = string(rest[n:])
	if t.Purpose < PurposeOpen || t.Purpose > PurposeLink {
		return Token{}, ErrTokenTampered
	}
	return t, nil
}
