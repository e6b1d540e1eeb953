// Package urlpath is the one definition of where pixelgate's public URLs
// live: the pixel /o/{token}.gif, the click redirect /l/{token} and the
// consent page /c/{token} (with /c/{token}/withdraw below it). The URL
// factory builds these, the router and handlers serve them and the rewrite
// engine recognises them in a message; all of them read this package, so
// what is built is what is served.
//
// It imports the standard library's strings only: the rewrite engine
// (package mailrewrite) stays pure and may depend on it.
package urlpath

import "strings"

const (
	// PixelPrefix, LinkPrefix and ConsentPrefix begin the three routes.
	PixelPrefix   = "/o/"
	LinkPrefix    = "/l/"
	ConsentPrefix = "/c/"
	// PixelSuffix ends a pixel path: mail clients and proxies that look
	// at the extension see an image.
	PixelSuffix = ".gif"
	// WithdrawSuffix follows a consent path for one-click withdrawal
	// (RFC 8058).
	WithdrawSuffix = "/withdraw"

	// ConsentPattern and WithdrawPattern are the consent routes in
	// net/http.ServeMux pattern syntax, without method.
	ConsentPattern  = ConsentPrefix + "{token}"
	WithdrawPattern = ConsentPattern + WithdrawSuffix
)

// Pixel is the pixel URL of tok under base (a public URL without trailing
// slash, or "" for the path alone).
func Pixel(base, tok string) string { return base + PixelPrefix + tok + PixelSuffix }

// Link is the click-redirect URL of tok under base.
func Link(base, tok string) string { return base + LinkPrefix + tok }

// Consent is the consent-page URL of tok under base.
func Consent(base, tok string) string { return base + ConsentPrefix + tok }

// Subtree is the chi pattern that mounts everything below prefix (one of
// the prefixes above): "/o/" becomes "/o/*".
func Subtree(prefix string) string { return prefix + "*" }

// lastSegment is what follows the path's last slash. The router has
// already matched the prefix, so only the token's own segment matters.
func lastSegment(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}

// PixelToken is {token} of a pixel path; "" when the last segment does not
// end in PixelSuffix.
func PixelToken(path string) string {
	tok, ok := strings.CutSuffix(lastSegment(path), PixelSuffix)
	if !ok {
		return ""
	}
	return tok
}

// LinkToken is {token} of a click-redirect path: its last segment.
func LinkToken(path string) string { return lastSegment(path) }

// IsConsentPage reports whether path is the consent page of tok itself,
// not a path below it (the withdrawal route).
func IsConsentPage(path, tok string) bool { return path == Consent("", tok) }

// Root is the public URL's root given the directory (ending in "/") the
// consent pages live in: "https://h/x/c/" gives "https://h/x". A directory
// of another shape loses only its trailing slash.
func Root(consentDir string) string {
	return strings.TrimSuffix(strings.TrimSuffix(consentDir, "/"), strings.TrimSuffix(ConsentPrefix, "/"))
}
