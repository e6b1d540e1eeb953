package consent

import (
	"strings"
	"unicode/utf8"
)

// The consent page shows which address a choice applies to (a person may
// have several), but pixelgate never stores an address (R6, R8). The address
// travels instead, already masked, inside the consent-page token, which is
// encrypted and authenticated: the token's URL field, unused for that
// purpose, carries "mailto:" + the masked form. Tokens sealed without it
// still work; the page then speaks of "the address this email was sent to".
const maskPrefix = "mailto:"

// MaskAddress hides most of an address while keeping it recognisable to its
// owner: "jean.dupont@example.fr" becomes "j***@e***.fr". An input without
// '@' masks to "***".
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

// PageToken is the consent-page token of one recipient: key, campaign and
// the masked address. The relay puts it in the footer link of every email
// (R3).
func PageToken(k Key, addr, campaign string) Token {
	return Token{Purpose: PurposeConsentPage, Key: k, Campaign: campaign, URL: maskPrefix + MaskAddress(addr)}
}

// MaskedAddress returns the masked address a consent-page token carries,
// or "".
func (t Token) MaskedAddress() string {
	m, ok := strings.CutPrefix(t.URL, maskPrefix)
	if t.Purpose != PurposeConsentPage || !ok || len(m) > 320 || !utf8.ValidString(m) {
		return ""
	}
	return m
}
