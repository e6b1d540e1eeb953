package consent

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// ErrBadAddress: the input is not an email address that can be keyed.
var ErrBadAddress = errors.New("bad email address")

// NormalizeAddress is the canonical form hashed into a recipient key (DESIGN
// §4): surrounding space trimmed, the domain lower-cased and IDNA-encoded, the
// local part kept as is (RFC 5321 §2.4: only the receiving host may interpret
// it, so "Anna" and "anna" can be different mailboxes).
func NormalizeAddress(addr string) (string, error) {
	a := strings.TrimSpace(addr)
	if strings.HasPrefix(a, "<") && strings.HasSuffix(a, ">") {
		a = a[1 : len(a)-1] // an RFC 5321 path
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return "", fmt.Errorf("%w: want local@domain", ErrBadAddress)
	}
	local, domain := a[:at], a[at+1:]
	// Spaces and angle brackets are legal only inside a quoted local part,
	// which no marketing list uses; refusing them keeps one normal form.
	if strings.ContainsAny(local, " \t\r\n<>") {
		return "", fmt.Errorf("%w: space or angle bracket in local part", ErrBadAddress)
	}
	ascii, err := idna.Lookup.ToASCII(strings.ToLower(domain))
	if err != nil {
		return "", fmt.Errorf("%w: domain: %v", ErrBadAddress, err)
	}
	if ascii == "" {
		return "", fmt.Errorf("%w: empty domain", ErrBadAddress)
	}
	return local + "@" + strings.ToLower(ascii), nil
}
