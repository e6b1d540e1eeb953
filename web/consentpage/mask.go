package consentpage

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pixelgate/pixelgate/consent"
)

// The consent page shows which address a choice applies to (a person may
// have several), but pixelgate never stores an address (R6, R8), so the
// store cannot provide it. It travels instead, already masked, inside the
// consent-page token, which is encrypted and authenticated: the token's URL
// field, unused for this purpose, carries "mailto:" + the masked form.
// Tokens sealed without it (e.g. by an older sender) still work; the page
// then says "the address this email was sent to".
const maskPrefix = "mailto:"

// MaskAddress hides most of an address while keeping it recognisable to
// its owner: "jean.dupont@example.fr" becomes "j***@e***.fr". An input
// without '@' masks to "***".
func MaskAddress(addr string) string {
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "***"
	}
	local, domain := addr[:at], strings.ToLower(addr[at+1:])
	tld := ""
	if dot := strings.LastIndexByte(domain, '.'); dot > 0 && dot < len(domain)-1 {
		tld = domain[dot:]
	}
	return firstRune(local) + "***@" + firstRune(domain) + "***" + tld
}

func firstRune(s string) string {
	_, n := utf8.DecodeRuneInString(s)
	return s[:n]
}

// SealPageToken makes the consent-page token of a recipient: their key, the
// campaign it was sent in and the masked address, sealed with the newest
// token key. The relay puts it in the footer link of every email (R3).
func SealPageToken(kr *consent.Keyring, addr, campaign string, now time.Time) (string, error) {
	k, err := kr.RecipientKey(addr)
	if err != nil {
		return "", fmt.Errorf("consent page token: %w", err)
	}
	return kr.Seal(consent.Token{
		Purpose:  consent.PurposeConsentPage,
		Key:      k,
		Campaign: campaign,
		Issued:   now,
		URL:      maskPrefix + MaskAddress(addr),
	})
}

// maskedFromToken returns the masked address a token carries, or "".
func maskedFromToken(t consent.Token) string {
	m, ok := strings.CutPrefix(t.URL, maskPrefix)
	if !ok || len(m) > 320 || !utf8.ValidString(m) {
		return ""
	}
	return m
}
