package mailrewrite

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRewriteEngineDependsOnItsRulesOnly: the rewrite engine (this package
// and everything under it) is pure: it decides what a message becomes from
// the message, the consent decision and its rules. What stores, serves or
// measures belongs to the packages around it, which import the engine and
// never the other way round. An import of the consent store, the relay,
// the web side, the commands, Prometheus or net/http would make the engine
// carry them into every user and every fuzz run.
func TestRewriteEngineDependsOnItsRulesOnly(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH: cannot list the engine's dependencies")
	}
	const module = "github.com/pixelgate/pixelgate/"
	out, err := exec.Command(goBin, "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./...: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list printed %d packages, expected the engine and the standard library: %q", len(deps), out)
	}
	forbidden := []string{module + "consent", module + "proxy", module + "web", module + "cmd",
		"github.com/prometheus/", "net/http"}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, strings.TrimSuffix(f, "/")+"/") {
				t.Errorf("mailrewrite depends on %s", d)
			}
		}
	}
}
