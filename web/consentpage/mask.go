package consentpage

import (
	"fmt"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// SealPageToken makes the consent-page token of a recipient, as the relay
// does for every footer link (consent.PageToken), sealed with the newest
// token key.
func SealPageToken(kr *consent.Keyring, addr, campaign string, now time.Time) (string, error) {
	k, err := kr.RecipientKey(addr)
	if err != nil {
		return "", fmt.Errorf("consent page token: %w", err)
	}
	t := consent.PageToken(k, addr, campaign)
	t.Issued = now
	return kr.Seal(t)
}
