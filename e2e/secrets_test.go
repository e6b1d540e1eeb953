package e2e

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestSecretsNeverPrinted: the upstream password given in --upstream shows
// nowhere an operator or a log collector reads: startup lines, logs,
// /readyz (which names the failing upstream), check-config.
func TestSecretsNeverPrinted(t *testing.T) {
	const secret = "S3cret-Upstream-PW"
	// A port nothing listens on: the upstream is down, so /readyz reports it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	upstream := "smtp://relay-user:" + secret + "@" + addr + "?tls=none"
	dir := t.TempDir()
	r := startReplica(t, "secrets", "--data-dir", dir, "--upstream", upstream, "--log-format", "json")
	status, body := r.get(t, "/readyz")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, addr) {
		t.Errorf("/readyz with the upstream down: %d %q; want 503 naming the upstream", status, body)
	}
	code, checkOut := runCLI(t, "check-config", "--data-dir", dir, "--upstream", upstream)
	if code != 0 {
		t.Errorf("check-config: exit %d:\n%s", code, checkOut)
	}
	r.stop(t)
	for what, text := range map[string]string{
		"startup lines": r.stdout.String(), "logs": r.stderr.String(), "/readyz": body, "check-config": checkOut,
	} {
		if strings.Contains(text, secret) {
			t.Errorf("the upstream password appears in %s:\n%s", what, text)
		}
	}
}
