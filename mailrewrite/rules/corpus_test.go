package rules

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The shared development corpus of real emails is not part of the
// repository (licences); these tests run where it is present.
func corpusLabels(t *testing.T) map[string]corpusFile {
	t.Helper()
	dir := os.Getenv("PIXELGATE_CORPUS")
	if dir == "" {
		dir = "/work/shared/corpus"
	}
	data, err := os.ReadFile(filepath.Join(dir, "labels.json"))
	if os.IsNotExist(err) {
		t.Skipf("no corpus labels at %s (set PIXELGATE_CORPUS to the corpus directory)", dir)
	}
	if err != nil {
		t.Fatalf("read labels: %v", err)
	}
	var labels map[string]corpusFile
	if err := json.Unmarshal(data, &labels); err != nil {
		t.Fatalf("decode labels: %v", err)
	}
	return labels
}

type corpusFile struct {
	Resources []struct {
		URL     string   `json:"url"`
		Kind    string   `json:"kind"`
		Label   string   `json:"label"`
		Reasons []string `json:"reasons"`
	} `json:"resources"`
}

// No rule may match a URL the corpus labels content: a rule that hits
// logos or product photos removes them from real mail.
func TestCorpusNoRuleMatchesContent(t *testing.T) {
	s := defaultSet(t)
	labels := corpusLabels(t)
	content := 0
	for _, name := range sortedKeys(labels) {
		for _, r := range labels[name].Resources {
			if r.Label != "content" {
				continue
			}
			content++
			u, err := url.Parse(r.URL)
			if err != nil {
				continue
			}
			if m, ok := s.MatchTracker(u); ok {
				t.Errorf("conflict: %s: content %s matches tracker rule %s (%s)", name, r.URL, m.RuleID, m.Vendor)
			}
			if s.OpenEndpointShape(u) {
				t.Errorf("conflict: %s: content %s has an open-endpoint shape", name, r.URL)
			}
		}
	}
	if content == 0 {
		t.Fatal("corpus has no content-labelled resources: labels.json changed shape?")
	}
	t.Logf("%d content resources checked", content)
}

// Coverage of the labelled trackers by rules alone (size, hiding and the
// recipient's identity are the rewrite's other signals). The floor keeps a
// regression in the rule files from passing silently.
func TestCorpusTrackerCoverage(t *testing.T) {
	s := defaultSet(t)
	labels := corpusLabels(t)
	var trackers, byRule, byShape, byParam, objective, objectiveCovered int
	for _, name := range sortedKeys(labels) {
		for _, r := range labels[name].Resources {
			if r.Label != "tracker" {
				continue
			}
			trackers++
			u, err := url.Parse(r.URL)
			if err != nil {
				t.Errorf("%s: unparsable tracker URL %q", name, r.URL)
				continue
			}
			_, rule := s.MatchTracker(u)
			shape := s.OpenEndpointShape(u)
			param := len(s.IdentifyingParams(u)) > 0
			switch {
			case rule:
				byRule++
			case shape:
				byShape++
			case param:
				byParam++
			default:
				t.Logf("not covered by rules: %s: %s %v", name, r.URL, r.Reasons)
			}
			if slices.Contains(r.Reasons, "differs-between-recipients") {
				objective++
				if rule || shape || param {
					objectiveCovered++
				}
			}
		}
	}
	t.Logf("labelled trackers: %d; MatchTracker %d; +OpenEndpointShape %d; +IdentifyingParams %d; not covered %d",
		trackers, byRule, byShape, byParam, trackers-byRule-byShape-byParam)
	t.Logf("objective per-recipient trackers: %d, covered %d", objective, objectiveCovered)
	if trackers == 0 {
		t.Fatal("corpus has no tracker-labelled resources")
	}
	if covered := byRule + byShape + byParam; covered*100 < trackers*85 {
		t.Errorf("rules cover %d of %d labelled trackers, below the 85%% floor", covered, trackers)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	return keys
}
