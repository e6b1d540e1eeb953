package main

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	consentLinkRE = regexp.MustCompile(`https://t\.example\.com(/c/[A-Za-z0-9_-]+)`)
	pixelLinkRE   = regexp.MustCompile(`https://t\.example\.com(/o/[A-Za-z0-9_-]+\.gif)`)
	hiddenFieldRE = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)
)

// The whole recipient side through pixelgate serve: an email goes out
// with a consent link and no pixel; the recipient allows open tracking on
// the page; the next email carries pixelgate's pixel; opening it counts.
func TestServeRecipientSide(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, "--data-dir", dir, "--public-url", "https://t.example.com")
	base := "http://" + s.httpAddr
	send := func() string {
		t.Helper()
		before := outboxFiles(t, dir)
		if err := smtpSend(s.smtpAddr, "news@shop.example", "a@example.net", campaignMsg, nil, nil); err != nil {
			t.Fatal(err)
		}
		after := outboxFiles(t, dir)
		if len(after) != len(before)+1 {
			t.Fatalf("outbox: %v", after)
		}
		b, err := os.ReadFile(after[len(after)-1])
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	first := send()
	m := consentLinkRE.FindStringSubmatch(first)
	if m == nil || pixelLinkRE.MatchString(first) {
		t.Fatalf("first email: want a consent link and no pixel:\n%s", first)
	}
	code, page := httpGet(t, base+m[1])
	if code != 200 || !strings.Contains(page, `data-state="none"`) {
		t.Fatalf("consent page: %d\n%s", code, page)
	}
	// The relay seals the masked address into the footer link, so the
	// recipient sees which address the choice applies to; never the address.
	if !strings.Contains(page, "a***@e***.net") || strings.Contains(page, "a@example.net") {
		t.Errorf("consent page should show the masked address a***@e***.net only:\n%s", page)
	}
	if code, css := httpGet(t, base+"/static/base.css"); code != 200 || !strings.Contains(css, ".buttons") {
		t.Fatalf("stylesheet: %d", code)
	}
	form := url.Values{"decision": {"allow"}}
	for _, f := range hiddenFieldRE.FindAllStringSubmatch(page, -1) {
		form.Set(f[1], f[2])
	}
	req, _ := http.NewRequest(http.MethodPost, base+m[1], strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("Allow: status %d", resp.StatusCode)
	}

	second := send()
	p := pixelLinkRE.FindStringSubmatch(second)
	if p == nil {
		t.Fatalf("second email, after Allow: no pixelgate pixel:\n%s", second)
	}
	if code, gif := httpGet(t, base+p[1]); code != 200 || len(gif) != 43 {
		t.Fatalf("pixel: %d, %d bytes", code, len(gif))
	}
	// The open is recorded after the answer (its timing must not tell
	// consent): wait for it, boundedly.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, metrics := httpGet(t, base+"/metrics"); strings.Contains(metrics, `pixelgate_pixel_hits_total{outcome="recorded"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("metrics do not count the recorded open")
		}
	}
	if logs := s.stderr.String(); strings.Contains(logs, "a@example.net") || strings.Contains(logs, strings.TrimPrefix(p[1], "/o/")) {
		t.Errorf("logs hold the address or a token:\n%s", logs)
	}
}

func TestRecipientSideSettings(t *testing.T) {
	ps, err := parsePrefixes(" 10.0.0.0/8, ,fd00::1/64")
	if err != nil || len(ps) != 2 || ps[1].String() != "fd00::/64" {
		t.Fatalf("parsePrefixes: %v %v", ps, err)
	}
	if _, err := parsePrefixes("10.0.0.0/8,nope"); err == nil {
		t.Error("a bad network was accepted")
	}
	if _, err := loadConsentTexts("", nil); err != nil {
		t.Fatalf("embedded texts: %v", err)
	}
	bad := t.TempDir() + "/texts.json"
	if err := os.WriteFile(bad, []byte(`{"controller":{"name":""},"versions":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConsentTexts(bad, nil); err == nil || !strings.Contains(err.Error(), "--consent-texts") {
		t.Errorf("bad texts file: %v", err)
	}
}

func TestCheckConfigRejectsBadRecipientSettings(t *testing.T) {
	code, _, errs := runCmd(t, nil, "", "check-config", "--trusted-proxies", "10.0.0.0/8,nope", "--consent-texts", "/nonexistent/texts.json", "--pixel-forward-concurrency", "0")
	if code != 2 {
		t.Fatalf("check-config exit %d, want 2 (bad settings)", code)
	}
	for _, want := range []string{"--trusted-proxies", "--consent-texts", "--pixel-forward-concurrency"} {
		if !strings.Contains(errs, want) {
			t.Errorf("check-config error lacks %q:\n%s", want, errs)
		}
	}
}

// TestServeConsentTextsInOneLanguage: an operator's --consent-texts file in
// English only starts serve, which warns about the missing language, and a
// French reader gets the embedded French text naming the operator.
func TestServeConsentTextsInOneLanguage(t *testing.T) {
	raw, err := os.ReadFile("../../web/consentpage/texts/default.json")
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	f["controller"].(map[string]any)["name"] = "Acme SAS"
	v := f["versions"].([]any)[0].(map[string]any)
	frTitle := strings.ReplaceAll(v["fr"].(map[string]any)["title"].(string), "{controller}", "Acme SAS")
	delete(v, "fr")
	b, _ := json.Marshal(f)
	dir := t.TempDir()
	path := filepath.Join(dir, "texts.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	s := startServe(t, "--data-dir", dir, "--public-url", "https://t.example.com", "--consent-texts", path)
	if err := smtpSend(s.smtpAddr, "news@shop.example", "a@example.net", campaignMsg, nil, nil); err != nil {
		t.Fatal(err)
	}
	out := outboxFiles(t, dir)
	if len(out) != 1 {
		t.Fatalf("outbox: %v", out)
	}
	msg, err := os.ReadFile(out[0])
	if err != nil {
		t.Fatal(err)
	}
	m := consentLinkRE.FindStringSubmatch(string(msg))
	if m == nil {
		t.Fatalf("no consent link:\n%s", msg)
	}
	code, page := httpGet(t, "http://"+s.httpAddr+m[1]+"?lang=fr")
	if code != 200 || !strings.Contains(page, `<html lang="fr">`) || !strings.Contains(page, html.EscapeString(frTitle)) {
		t.Fatalf("French page %d: want the embedded French title %q:\n%s", code, frTitle, page)
	}
	if logs := s.stderr.String(); !strings.Contains(logs, "lang=fr") || !strings.Contains(logs, "consent texts") {
		t.Errorf("serve did not warn that French falls back:\n%s", logs)
	}
}
