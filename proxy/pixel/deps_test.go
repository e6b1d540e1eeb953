package pixel

import (
	"testing"

	"github.com/pixelgate/pixelgate/internal/testsupport"
)

// TestPixelSideKnowsNothingOfMail: the HTTP side depends on consent alone;
// the relay, the upstream client, the rewrite engine and SMTP are the
// other side's.
func TestPixelSideKnowsNothingOfMail(t *testing.T) {
	const module = "github.com/pixelgate/pixelgate/"
	testsupport.ForbidDeps(t, ".", module+"proxy", module+"mailrewrite", module+"web", "github.com/emersion")
}
