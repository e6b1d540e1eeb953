package consent

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestExportJSONListsNeverNull(t *testing.T) {
	raw, err := json.Marshal(Export{Key: "k", State: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"consent_history":[]`) || !strings.Contains(string(raw), `"campaigns_opened":[]`) {
		t.Errorf("empty export: %s", raw)
	}
}
