package mailrewrite

import (
	"encoding/json"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir is the shared corpus of real marketing emails (never copied
// into the repository; see its README).
const corpusDir = "../../shared/corpus"

type corpusLabel struct {
	Resources []struct {
		URL     string   `json:"url"`
		Kind    string   `json:"kind"`
		Label   string   `json:"label"`
		Reasons []string `json:"reasons"`
	} `json:"resources"`
}

// corpusMessage returns the file as a message and its recipient: .html
// files are wrapped in a minimal single-part message.
func corpusMessage(t *testing.T, name string) ([]byte, string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(corpusDir, "emails", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".html") {
		msg := "From: sender@example.com\r\nTo: reader@example.org\r\nSubject: corpus\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
		return append([]byte(msg), raw...), "reader@example.org"
	}
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	to, err := mail.ParseAddress(m.Header.Get("To"))
	if err != nil {
		t.Fatalf("%s: To: %v", name, err)
	}
	return raw, to.Address
}

// corpusLabels reads the corpus labels; the test is skipped without the
// corpus.
func corpusLabels(t *testing.T) map[string]corpusLabel {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpusDir, "labels.json"))
	if err != nil {
		t.Skipf("shared corpus not available (%v): run with ../../shared/corpus present", err)
	}
	var labels map[string]corpusLabel
	if err := json.Unmarshal(data, &labels); err != nil {
		t.Fatal(err)
	}
	return labels
}

// TestCorpus measures detection on the shared corpus against its labels:
// trackers neutralised, content images removed, per-recipient URLs
// (objective: they differ between two recipients' copies) neutralised.
func TestCorpus(t *testing.T) {
	labels := corpusLabels(t)
	rw, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var trackers, trackersOK, content, contentRemoved, perRcpt, perRcptOK int
	for name, lab := range labels {
		msg, rcpt := corpusMessage(t, name)
		out, rep, err := rw.Rewrite(msg, Decision{Recipient: rcpt, Consent: Refused, URLs: testURLs(rcpt)})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		after, err := rw.Scan(out, rcpt)
		if err != nil {
			t.Errorf("%s: rescan: %v", name, err)
			continue
		}
		action := map[string]string{}
		for _, f := range rep.Findings {
			if action[f.URL] == "" || action[f.URL] == ActionKept {
				action[f.URL] = f.Action
			}
		}
		still := map[string]bool{}
		for _, f := range after.Findings {
			still[f.URL] = true
		}
		for _, r := range lab.Resources {
			neutralised := action[r.URL] != "" && action[r.URL] != ActionKept && !still[r.URL]
			objective := false
			for _, why := range r.Reasons {
				objective = objective || strings.Contains(why, "differs-between-recipients")
			}
			switch r.Label {
			case "tracker":
				trackers++
				if neutralised {
					trackersOK++
				} else {
					t.Logf("MISS tracker %s: %s %s (action %q) reasons %v", short(name), r.Kind, r.URL, action[r.URL], r.Reasons)
				}
			case "content":
				content++
				if action[r.URL] == ActionRemoved {
					contentRemoved++
					t.Logf("CONTENT REMOVED %s: %s %s", short(name), r.Kind, r.URL)
				}
			}
			if objective {
				perRcpt++
				if neutralised {
					perRcptOK++
				}
			}
		}
	}
	t.Logf("trackers neutralised %d/%d (%.1f%%); content removed %d/%d (%.2f%%); per-recipient neutralised %d/%d",
		trackersOK, trackers, pct(trackersOK, trackers), contentRemoved, content, pct(contentRemoved, content), perRcptOK, perRcpt)
	if pct(trackersOK, trackers) < 99 {
		t.Errorf("trackers neutralised %d/%d, target 99%%", trackersOK, trackers)
	}
	if perRcptOK != perRcpt {
		t.Errorf("per-recipient URLs neutralised %d/%d, target all", perRcptOK, perRcpt)
	}
	if pct(contentRemoved, content) > 1 {
		t.Errorf("content images removed %d/%d, target at most 1%%", contentRemoved, content)
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}

func short(name string) string {
	if len(name) > 60 {
		return name[:60]
	}
	return name
}

// TestCorpusMemo: on the real mail of the corpus, each message's copies
// for its own recipient and for others get from a Rewriter that has seen
// the campaign exactly what a fresh one gives (issue 4's memo).
func TestCorpusMemo(t *testing.T) {
	labels := corpusLabels(t)
	warm, cold := newTestRewriter(t), memoFreeRewriter(t)
	for name := range labels {
		msg, rcpt := corpusMessage(t, name)
		t.Run(name, func(t *testing.T) { checkMemoAnswers(t, warm, cold, msg, rcpt) })
	}
}
