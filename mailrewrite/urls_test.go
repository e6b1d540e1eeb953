package mailrewrite

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// fixedURLs is a deterministic URLs for tests: the "token" is a digest of
// what a real token would carry, so outputs are stable and comparable.
type fixedURLs struct {
	base      string
	recipient string
}

func (f fixedURLs) digest(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(append(parts, f.recipient), "\x00")))
	return hex.EncodeToString(h[:8])
}

func (f fixedURLs) PixelURL(p Purpose, original string) (string, error) {
	return fmt.Sprintf("%s/o/%d-%s.gif", f.base, p, f.digest("pixel", original)), nil
}

func (f fixedURLs) ConsentURL() (string, error) {
	return f.base + "/c/" + f.digest("consent"), nil
}

func (f fixedURLs) LinkURL(dest string) (string, error) {
	return f.base + "/l/" + f.digest("link", dest), nil
}

func testURLs(rcpt string) URLs { return fixedURLs{base: "https://pg.example.net", recipient: rcpt} }
