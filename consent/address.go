package consent

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ErrBadAddress: the input is not an email address that can be keyed.
var ErrBadAddress = errors.New("bad email address")

// NormalizeAddress is the canonical form hashed into a recipient key:
// surrounding space trimmed, the domain lower-cased and IDNA-encoded, the
// local part kept as is (RFC 5321 §2.4: only the receiving host may
// interpret it, so "Anna" and "anna" can be different mailboxes).
//
// The other forms of RFC 5321 §4.1.2 are accepted, each with one normal
// form so that one mailbox keeps one recipient key:
//   - a quoted local part ("john doe"@example.org) is unquoted when its
//     content is a plain dot-string (the quotes are not part of the name,
//     RFC 5321 §4.1.2, RFC 5322 §3.2.4), else quoted again with only '"'
//     and '\' escaped;
//   - an address literal (RFC 5321 §4.1.3) is kept as the address it
//     names: [127.0.0.1], [IPv6:::1] in the canonical text of RFC 5952.
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
	local, err := normalizeLocal(local)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(domain, "[") {
		lit, err := normalizeAddressLiteral(domain)
		if err != nil {
			return "", err
		}
		return local + "@" + lit, nil
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

// normalizeLocal returns the normal form of a local part: a quoted string
// (RFC 5321 §4.1.2 Quoted-string) unquoted when it can be, else quoted
// minimally; an unquoted one as it is.
func normalizeLocal(local string) (string, error) {
	if !strings.HasPrefix(local, `"`) {
		// Spaces and angle brackets are legal only inside a quoted
		// local part.
		if strings.ContainsAny(local, " \t\r\n<>") {
			return "", fmt.Errorf("%w: space or angle bracket in an unquoted local part", ErrBadAddress)
		}
		return local, nil
	}
	if len(local) < 2 || !strings.HasSuffix(local, `"`) {
		return "", fmt.Errorf("%w: unterminated quoted local part", ErrBadAddress)
	}
	var b strings.Builder
	body := local[1 : len(local)-1]
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\\':
			// quoted-pairSMTP: a backslash and one printable
			// ASCII character or space.
			if i+1 >= len(body) || body[i+1] < 32 || body[i+1] > 126 {
				return "", fmt.Errorf("%w: bad escape in quoted local part", ErrBadAddress)
			}
			i++
			b.WriteByte(body[i])
		case c == '"':
			return "", fmt.Errorf("%w: unescaped quote in quoted local part", ErrBadAddress)
		case c < 32 || c == 127:
			return "", fmt.Errorf("%w: control character in quoted local part", ErrBadAddress)
		default:
			b.WriteByte(c) // qtextSMTP, or UTF-8 (RFC 6531)
		}
	}
	s := b.String()
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: quoted local part is not UTF-8", ErrBadAddress)
	}
	if s == "" {
		return "", fmt.Errorf("%w: empty quoted local part", ErrBadAddress)
	}
	if isDotString(s) {
		return s, nil
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`, nil
}

// isDotString: RFC 5321 §4.1.2 Dot-string, atoms of atext (RFC 6531:
// UTF-8 too) joined by single dots.
func isDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80, 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// normalizeAddressLiteral reads an RFC 5321 §4.1.3 address literal:
// [IPv4] or [IPv6:addr]. General literals need a tag IANA registered;
// none other than IPv6 exists, so they are refused.
func normalizeAddressLiteral(lit string) (string, error) {
	if !strings.HasSuffix(lit, "]") || len(lit) < 3 {
		return "", fmt.Errorf("%w: unterminated address literal", ErrBadAddress)
	}
	body := lit[1 : len(lit)-1]
	if tag, addr, ok := strings.Cut(body, ":"); ok && strings.EqualFold(tag, "IPv6") {
		ip, err := netip.ParseAddr(addr)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", fmt.Errorf("%w: address literal: %q is not an IPv6 address", ErrBadAddress, addr)
		}
		return "[IPv6:" + ip.String() + "]", nil
	}
	ip, err := netip.ParseAddr(body)
	if err != nil || !ip.Is4() {
		return "", fmt.Errorf("%w: address literal: %q is neither an IPv4 address nor IPv6:<address>", ErrBadAddress, body)
	}
	return "[" + ip.String() + "]", nil
}
