package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cliMessage is a small marketing email: a SendGrid open pixel, a Brevo-style
// per-recipient content image and a plain logo.
const cliMessage = "From: news@shop.example\r\nTo: reader@example.com\r\nSubject: Sale\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n" +
	"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSale today.\r\n" +
	"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
	"<html><body><img src=\"https://cdn.shop.example/logo.png\" width=\"200\">" +
	"<img src=\"https://img.shop.example/p.jpg?e=Xk29FqLmZt8RwP3nVb7CyA\" width=\"300\">" +
	"<img src=\"https://u1.ct.sendgrid.net/wf/open?upn=aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5z\" width=\"1\" height=\"1\">" +
	"</body></html>\r\n--b--\r\n"

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &environ{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	code = runMain(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func TestRewriteCommand(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runCLI(t, cliMessage, "rewrite", "--rcpt", "reader@example.com", "--consent", "refused",
		"--data-dir", dir, "--public-url", "https://pg.example.net", "--explain")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Contains(out, "sendgrid.net") || strings.Contains(out, "e=Xk29") {
		t.Errorf("tracker or identifier left in output:\n%s", out)
	}
	if !strings.Contains(out, "https://cdn.shop.example/logo.png") || !strings.Contains(out, "https://img.shop.example/p.jpg\"") {
		t.Errorf("content images lost:\n%s", out)
	}
	if !strings.Contains(out, "https://pg.example.net/c/") {
		t.Errorf("no consent footer link with the real token URL:\n%s", out)
	}
	if strings.Contains(out, "reader@example.com\"") || strings.Contains(out, "/c/reader") {
		t.Errorf("address leaked into a URL")
	}
	for _, want := range []string{"RESOURCE", "CARRIER", "REASON", "ACTION", "rule:sendgrid", "SendGrid", "removed", "identifier-removed", "recipient-token"} {
		if !strings.Contains(errs, want) {
			t.Errorf("--explain lacks %q:\n%s", want, errs)
		}
	}
	// Without a deployment's keys, throwaway ones: nothing is left behind.
	if _, err := os.Stat(filepath.Join(dir, "keys")); !os.IsNotExist(err) {
		t.Errorf("rewrite made a keys directory in --data-dir: %v", err)
	}
	if !strings.Contains(errs, "throwaway keys") {
		t.Errorf("rewrite did not say its links are sealed with throwaway keys:\n%s", errs)
	}

	// Granted: exactly one pixelgate pixel, in place of SendGrid's.
	code, out, errs = runCLI(t, cliMessage, "rewrite", "--rcpt", "reader@example.com", "--consent", "granted",
		"--data-dir", dir, "--public-url", "https://pg.example.net")
	if code != 0 {
		t.Fatalf("granted: exit %d: %s", code, errs)
	}
	if n := strings.Count(out, "https://pg.example.net/o/"); n != 1 {
		t.Errorf("granted: %d pixelgate pixels, want 1:\n%s", n, out)
	}
}

// Address literals and quoted local parts are valid envelope recipients
// (RFC 5321 §4.1.2, §4.1.3): rewrite takes them; a malformed literal is a
// usage error.
func TestRewriteCommandRFC5321Recipients(t *testing.T) {
	dir := t.TempDir()
	for _, rcpt := range []string{"user@[127.0.0.1]", "user@[IPv6:::1]", `"john doe"@example.org`} {
		code, out, errs := runCLI(t, cliMessage, "rewrite", "--rcpt", rcpt, "--consent", "refused",
			"--data-dir", dir, "--public-url", "https://pg.example.net")
		if code != 0 || strings.Contains(out, "sendgrid.net") || !strings.Contains(out, "https://pg.example.net/c/") {
			t.Errorf("--rcpt %s: exit %d (%s), want the rewritten message", rcpt, code, errs)
		}
	}
	if code, _, _ := runCLI(t, cliMessage, "rewrite", "--rcpt", "user@[127.0.0.256]", "--data-dir", dir); code != 2 {
		t.Errorf("bad address literal: exit %d, want 2", code)
	}
}

func TestRewriteCommandErrors(t *testing.T) {
	dir := t.TempDir()
	broken := "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<img src=\"https://t.example/o.gif\">\r\n"
	code, out, errs := runCLI(t, broken, "rewrite", "--rcpt", "reader@example.com", "--data-dir", dir)
	if code != 1 || out != "" {
		t.Errorf("truncated multipart: exit %d, %d bytes out; want exit 1 and no output", code, len(out))
	}
	if !strings.Contains(errs, "closing delimiter") || !strings.Contains(errs, "byte") {
		t.Errorf("error does not say what and where: %q", errs)
	}
	if code, _, _ := runCLI(t, cliMessage, "rewrite", "--data-dir", dir); code != 2 {
		t.Errorf("missing --rcpt: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, cliMessage, "rewrite", "--rcpt", "a@b.example", "--consent", "maybe", "--data-dir", dir); code != 2 {
		t.Errorf("bad --consent: exit %d, want 2", code)
	}
}

func TestScanCommand(t *testing.T) {
	dir := t.TempDir()
	html := `<html><body><img src="https://open.convertkit-mail4.com/p9unqonzo5iqumomk5uq"><img src="https://cdn.shop.example/a.png" width="300"></body></html>`
	if err := os.WriteFile(filepath.Join(dir, "a.eml"), []byte(cliMessage), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tpl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tpl", "b.html"), []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "", "scan", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	last := out[strings.LastIndex(strings.TrimRight(out, "\n"), "\n")+1:]
	if !strings.HasPrefix(last, "scanned 2 files: 5 remote resources, 2 trackers") || !strings.Contains(last, "1 per-recipient") {
		t.Errorf("summary line: %q\nfull output:\n%s", last, out)
	}

	code, out, errs = runCLI(t, "", "scan", "--json", dir)
	if code != 0 {
		t.Fatalf("--json exit %d: %s", code, errs)
	}
	var doc struct {
		Files []struct {
			File   string `json:"file"`
			Report struct {
				Trackers int `json:"trackers"`
			} `json:"report"`
		} `json:"files"`
		Summary scanSummary `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if len(doc.Files) != 2 || doc.Summary.Trackers != 2 || doc.Summary.ByReason["rule"] != 2 {
		t.Errorf("json: %+v", doc)
	}
	// Every signal's findings, by the action they led to.
	if f := doc.Summary.Findings; f["rule"]["removed"] != 2 || f["recipient-token"]["identifier-removed"] != 1 || f["content"]["kept"] < 1 {
		t.Errorf("findings_by_reason: %v", f)
	}

	if code, _, _ := runCLI(t, "", "scan", filepath.Join(dir, "missing.eml")); code != 2 {
		t.Errorf("missing file: exit %d, want 2", code)
	}
}
