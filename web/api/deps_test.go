package api

import (
	"testing"

	"github.com/pixelgate/pixelgate/internal/testsupport"
)

// TestAPIDoesNotImportTheDashboard: the JSON API and the dashboard share
// their dependencies (web/webdeps) and campaign paths (web/campaignid),
// not each other's code, so either can change without the other.
func TestAPIDoesNotImportTheDashboard(t *testing.T) {
	testsupport.ForbidDeps(t, ".", "github.com/pixelgate/pixelgate/web/admin")
}
