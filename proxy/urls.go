package proxy

import (
	"fmt"
	"strings"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/internal/urlpath"
	"github.com/pixelgate/pixelgate/mailrewrite"
)

// urls implements mailrewrite.URLs with consent tokens: every URL carries
// only an AEAD token, never the address or a hash of it (R6).
type urls struct {
	kr       *consent.Keyring
	base     string
	key      consent.Key
	addr     string // only ever sealed, masked, into the consent-page token
	campaign string
}

// NewURLs returns pixelgate's URLs for one recipient (key and address) and
// campaign under publicURL (the --public-url setting, e.g.
// https://track.example.com). The address appears in no URL; only its
// masked form rides, encrypted, in the consent-page token.
func NewURLs(kr *consent.Keyring, publicURL string, k consent.Key, addr, campaign string) mailrewrite.URLs {
	return &urls{kr: kr, base: strings.TrimRight(publicURL, "/"), key: k, addr: addr, campaign: campaign}
}

// URLFactoryFor is the relay's URLFactory over NewURLs.
func URLFactoryFor(kr *consent.Keyring, publicURL string) URLFactory {
	return func(k consent.Key, addr, campaign string) mailrewrite.URLs {
		return NewURLs(kr, publicURL, k, addr, campaign)
	}
}

func (u *urls) seal(p consent.Purpose, url string) (string, error) {
	return u.sealToken(consent.Token{Purpose: p, Key: u.key, Campaign: u.campaign, URL: url})
}

func (u *urls) sealToken(t consent.Token) (string, error) {
	tok, err := u.kr.Seal(t)
	if err != nil {
		return "", fmt.Errorf("make %s token: %w", t.Purpose, err)
	}
	return tok, nil
}

// PixelURL: /o/<token>.gif. An open token carries the ESP pixel it replaces
// so the endpoint may forward the hit while consent lasts; a deliverability
// token carries nothing but the key and day (R4).
func (u *urls) PixelURL(p mailrewrite.Purpose, original string) (string, error) {
	var tok string
	var err error
	switch p {
	case mailrewrite.PurposeOpen:
		tok, err = u.seal(consent.PurposeOpen, original)
	case mailrewrite.PurposeDeliverability:
		tok, err = u.seal(consent.PurposeDeliverability, "")
	default:
		return "", fmt.Errorf("pixel URL: unknown purpose %d", p)
	}
	if err != nil {
		return "", err
	}
	return urlpath.Pixel(u.base, tok), nil
}

// ConsentURL: /c/<token>, the recipient's "manage open tracking" page (R3).
func (u *urls) ConsentURL() (string, error) {
	tok, err := u.sealToken(consent.PageToken(u.key, u.addr, u.campaign))
	if err != nil {
		return "", err
	}
	return urlpath.Consent(u.base, tok), nil
}

// LinkURL: /l/<token> with the destination inside the token (R12).
func (u *urls) LinkURL(destination string) (string, error) {
	tok, err := u.seal(consent.PurposeLink, destination)
	if err != nil {
		return "", err
	}
	return urlpath.Link(u.base, tok), nil
}
