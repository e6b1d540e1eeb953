package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs one pixelgate command in-process with its own streams and an
// environment made of vars only.
func runCmd(t *testing.T, vars map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &environ{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return vars[k] }}
	code = runMain(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func TestCheckConfigHidesSecretsAndShowsOrigins(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pixelgate.conf")
	os.WriteFile(cfg, []byte("esp = mailgun\nupstream = smtp://relay:Sup3rS3cret@smtp.esp.example:587\n"), 0o600)
	code, out, errs := runCmd(t, map[string]string{"PIXELGATE_HTTP_ADDR": "127.0.0.1:9090"}, "",
		"check-config", "--config", cfg, "--data-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Contains(out, "Sup3rS3cret") {
		t.Fatalf("password printed:\n%s", out)
	}
	for _, want := range []string{"smtp://relay:xxxxx@smtp.esp.example:587", "esp ", "mailgun", "config", "127.0.0.1:9090", "env", "smtp-addr", "127.0.0.1:2525", "default", "configuration OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckConfigRefusesBadSettings(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pixelgate.conf")
	os.WriteFile(cfg, []byte("upstrem = smtp://x\n"), 0o600)
	code, _, errs := runCmd(t, nil, "", "check-config", "--config", cfg)
	if code != 2 || !strings.Contains(errs, `unknown setting "upstrem"`) {
		t.Errorf("typo in config: exit %d, %s", code, errs)
	}
	for _, args := range [][]string{
		{"--upstream", "http://x"},
		{"--esp", "nope"},
		{"--esp", "ses"},
		{"--relay-networks", "10.0.0.0/33"},
		{"--public-url", "track.example.com"},
		{"--tls-cert", "/nonexistent.pem"},
	} {
		code, _, errs := runCmd(t, nil, "", append([]string{"check-config", "--data-dir", dir}, args...)...)
		if code != 2 || errs == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}
