package factor

import (
	"testing"

	"github.com/pixelgate/pixelgate/internal/testsupport"
)

// TestFactorUsesTheStandardLibraryOnly: the factoring is pure text work
// that the ESP API front runs on every batch and that fuzzing runs
// millions of times. No module outside the standard library (the hosts
// below are every host in go.mod, pixelgate's own included), no I/O.
func TestFactorUsesTheStandardLibraryOnly(t *testing.T) {
	testsupport.ForbidDeps(t, ".",
		"github.com", "golang.org", "google.golang.org", "go.etcd.io", "go.yaml.in", "go.uber.org", "rsc.io",
		"os", "net", "log")
}
