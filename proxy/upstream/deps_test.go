package upstream

import (
	"testing"

	"github.com/pixelgate/pixelgate/internal/testsupport"
)

// TestUpstreamKnowsNothingOfTheRelay: the upstream side takes finished
// messages; the relay, the pixel side and the rewrite engine build on it,
// never the other way round.
func TestUpstreamKnowsNothingOfTheRelay(t *testing.T) {
	const module = "github.com/pixelgate/pixelgate/"
	testsupport.ForbidDeps(t, ".", module+"proxy", module+"mailrewrite", module+"web")
}
