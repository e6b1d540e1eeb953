package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pairCopy is one recipient's copy of a campaign whose tokens no rule
// knows: a short id on a sender-domain image and a subscriber id on a link.
func pairCopy(id, sid string) string {
	return "From: news@shop.example\r\nTo: someone@example.com\r\nSubject: Sale\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>" +
		`<img src="https://cdn.shop.example/logo.png">` +
		`<img src="https://img.shop.example/hero.jpg?u=` + id + `" width="600">` +
		`<a href="https://www.shop.example/sale?utm_source=nl&amp;sid=` + sid + `">Sale</a>` +
		`<a href="https://www.shop.example/news?lang=` + map[bool]string{true: "de", false: "fr"}[sid == "4711001"] + `">News</a>` +
		"</body></html>\r\n"
}

func TestScanPair(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.eml"), filepath.Join(dir, "b.eml")
	if err := os.WriteFile(a, []byte(pairCopy("a1b2c3d4e5", "4711001")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte(pairCopy("f6e5d4c3b2", "4711002")), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "", "scan", "--pair", a, b)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"3 URLs differ, 2 look per-recipient",
		"per-recipient img query:u in https://img.shop.example/hero.jpg?u=f6e5d4c3b2",
		"per-recipient link query:sid in https://www.shop.example/sale?utm_source=nl&sid=4711002",
		"differs link query:lang in https://www.shop.example/news?lang=fr",
	} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "logo.png") {
		t.Errorf("a URL equal in both copies is listed:\n%s", out)
	}

	code, out, errs = runCLI(t, "", "scan", "--json", "--pair", a, b)
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, errs)
	}
	var doc struct {
		Pair struct {
			Differences []struct {
				Parts []struct {
					Kind int    `json:"kind"`
					Key  string `json:"key"`
				} `json:"parts"`
				PerRecipient bool `json:"per_recipient"`
			} `json:"differences"`
			PerRecipient int `json:"per_recipient"`
		} `json:"pair"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if doc.Pair.PerRecipient != 2 || len(doc.Pair.Differences) != 3 || doc.Pair.Differences[1].Parts[0].Key != "sid" {
		t.Errorf("--json: %+v", doc.Pair)
	}

	if code, _, errs := runCLI(t, "", "scan", "--pair", a); code != 2 {
		t.Errorf("one file with --pair: exit %d (%s), want 2", code, errs)
	}
	if code, _, _ := runCLI(t, "", "scan", "--pair", a, filepath.Join(dir, "missing.eml")); code == 0 {
		t.Error("a missing file is not an error")
	}
}

// scan counts tracked links apart from remote resources, per file and in
// the summary.
func TestScanCountsTrackedLinks(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "a.html")
	html := `<a href="https://www.shop.example/?mc_eid=8f0c0a0b2a&amp;utm_source=nl">a</a>` +
		`<a href="https://u1.ct.sendgrid.net/ls/click?upn=Zx81Kq3Lm5Np7Rs9Tv1Wx3Yz5Ab7Cd9Ef">b</a>`
	if err := os.WriteFile(f, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "", "scan", f)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"0 remote, 0 trackers, 0 per-recipient, 2 tracked links (1 neutralised, 1 opaque)", "2 tracked links (1 opaque redirects)"} {
		if !strings.Contains(out, want) {
			t.Errorf("scan output lacks %q:\n%s", want, out)
		}
	}
}
