package mailrewrite

import (
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/mailrewrite/learn"
)

// TestCorpusLearning feeds each newsletter of the shared corpus received
// by two recipients (u1, u2) through the learning path in order, then
// rewrites u2 for a refusing recipient with what was learnt, as every
// later copy of the campaign would be. It counts, on u2: per-recipient
// resources (labels: differs-between-recipients) neutralised, content
// images still present, links that differ between the copies neutralised
// or reported, and the per-recipient link parameters found.
func TestCorpusLearning(t *testing.T) {
	labels := corpusLabels(t)
	firsts, err := filepath.Glob(filepath.Join(corpusDir, "emails", "unspy", "*u1.eml"))
	if err != nil || len(firsts) == 0 {
		t.Skipf("no two-recipient newsletters in the corpus (%v)", err)
	}
	rw := newTestRewriter(t)
	kinds := map[string]bool{}
	var learntResources int
	var perRcpt, perRcptOK, content, contentKept, diffLinks, linksCleaned, linksOpaque, linksUnsub, params, learnedShapes int
	for _, f1 := range firsts {
		n1 := "unspy/" + filepath.Base(f1)
		n2 := strings.TrimSuffix(n1, "u1.eml") + "u2.eml"
		msg1, _ := corpusMessage(t, corpusDir, n1)
		msg2, rcpt2 := corpusMessage(t, corpusDir, n2)
		l, st := newLearning(t)
		var copies [2][]learn.Resource
		for i, m := range [][]byte{msg1, msg2} {
			rep, err := rw.Scan(m, "")
			if err != nil {
				t.Fatalf("%s: %v", n1, err)
			}
			copies[i] = rep.Resources
			l.Observe(st, rep.Resources)
		}
		sh := st.Shapes()
		learnedShapes += sh.Len()
		out, rep, err := rw.Rewrite(msg2, Decision{Recipient: rcpt2, Consent: Refused, Campaign: n1, URLs: testURLs(rcpt2), Learned: sh})
		if err != nil {
			t.Fatalf("%s: %v", n2, err)
		}
		after, err := rw.Scan(out, rcpt2)
		if err != nil {
			t.Fatalf("%s: rescan: %v", n2, err)
		}
		still := map[string]bool{}
		for _, r := range after.Resources {
			still[r.URL] = true
		}
		byURL := map[string]*Finding{}
		for i := range rep.Findings {
			f := &rep.Findings[i]
			if byURL[f.URL] == nil || byURL[f.URL].Action == ActionKept {
				byURL[f.URL] = f
			}
			if f.Carrier != "link" {
				if strings.Contains(f.Reason, ReasonLearned+":") && f.Action != ActionKept {
					learntResources++
				}
				continue
			}
			for _, why := range strings.Split(f.Reason, ",") {
				if strings.HasPrefix(why, ReasonLinkParam+":") || strings.HasPrefix(why, ReasonLearned+":") || strings.HasPrefix(why, ReasonIdentity+"-") {
					params++
					if u, err := url.Parse(f.URL); err == nil {
						kinds[u.Host+" "+why] = true
					}
					break
				}
			}
		}
		for _, r := range labels[n2].Resources {
			objective := false
			for _, why := range r.Reasons {
				objective = objective || strings.Contains(why, "differs-between-recipients")
			}
			f := byURL[r.URL]
			if objective {
				perRcpt++
				if f != nil && f.Action != ActionKept && !still[r.URL] {
					perRcptOK++
				} else {
					t.Errorf("per-recipient resource of %s kept: %s (finding %+v)", short(n2), r.URL, f)
				}
			}
			if r.Label == "content" && r.Kind == "img" {
				content++
				if f != nil && (f.Action == ActionKept || f.Action == ActionIdentifierRemoved) {
					contentKept++
				} else {
					t.Logf("content image of %s gone: %s (finding %+v)", short(n2), r.URL, f)
				}
			}
		}
		for _, d := range learn.Diff(copies[0], copies[1]) {
			if d.A == "" || d.B == "" || d.Carrier != "link" {
				continue
			}
			diffLinks++
			f := byURL[d.B]
			switch {
			case f == nil:
				t.Errorf("link of %s differs between recipients (%s) and was not looked at: %s", short(n2), learn.PartsString(d.Parts), d.B)
			case strings.Contains(f.Reason, ReasonUnsubscribe):
				linksUnsub++
			case f.Action == ActionUnwrapped || f.Action == ActionIdentifierRemoved:
				if strings.Contains(string(out), f.URL) {
					t.Errorf("cleaned link of %s still in the output: %s", short(n2), f.URL)
				}
				linksCleaned++
			case strings.Contains(f.Reason, ReasonLinkOpaque):
				linksOpaque++
			default:
				t.Errorf("link of %s differs between recipients and was kept without a report: %+v", short(n2), f)
			}
		}
	}
	t.Logf("newsletters %d; shapes learnt %d; per-recipient resources neutralised %d/%d (%d resources carry a learnt part); content images kept %d/%d (%.1f%%); "+
		"links differing between copies %d: cleaned or unwrapped %d, opaque redirects reported %d, unsubscribe left alone %d; "+
		"links with per-recipient parameters found %d",
		len(firsts), learnedShapes, perRcptOK, perRcpt, learntResources, contentKept, content, pct(contentKept, content),
		diffLinks, linksCleaned, linksOpaque, linksUnsub, params)
	var found []string
	for k := range kinds {
		found = append(found, k)
	}
	sort.Strings(found)
	t.Logf("per-recipient link parts found:\n  %s", strings.Join(found, "\n  "))
	if perRcpt == 0 || diffLinks == 0 {
		t.Fatal("the corpus has no per-recipient URLs: nothing was measured")
	}
	if pct(contentKept, content) < 99 {
		t.Errorf("content images kept %d/%d, target 99%%", contentKept, content)
	}
}
