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

// The shared corpora of real emails are not part of the repository
// (licences): they sit beside the clone, as in CI, and these tests run
// where they are present. The labels of both are read as one set, keyed
// by corpus and file.
var corpusDirs = []string{"../../../shared/corpus", "../../../shared/corpus-wide"}

func corpusLabels(t *testing.T) map[string]corpusFile {
	t.Helper()
	all := map[string]corpusFile{}
	for _, dir := range corpusDirs {
		data, err := os.ReadFile(filepath.Join(dir, "labels.json"))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatalf("read labels: %v", err)
		}
		var labels map[string]corpusFile
		if err := json.Unmarshal(data, &labels); err != nil {
			t.Fatalf("decode labels of %s: %v", dir, err)
		}
		for name, l := range labels {
			all[filepath.Base(dir)+"/"+name] = l
		}
	}
	if len(all) == 0 {
		t.Skipf("no corpus labels at %v: run with ../shared/corpus and ../shared/corpus-wide beside the clone", corpusDirs)
	}
	return all
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
				// Unfilled merge fields ("http://[domain]/track/[open]")
				// and broken hosts: the rewrite's fail-closed rule
				// handles them, not the rules.
				t.Logf("%s: unparsable tracker URL %q", name, r.URL)
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
	// The floor is for both corpora together: in the honeypot mail
	// most trackers are unsized pixels judged by their markup.
	if covered := byRule + byShape + byParam; covered*100 < trackers*floorCoverage {
		t.Errorf("rules cover %d of %d labelled trackers, below the %d%% floor", covered, trackers, floorCoverage)
	}
}

// floorCoverage is the share of labelled trackers (percent) the rules
// must cover on the corpora.
const floorCoverage = 62

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	return keys
}
