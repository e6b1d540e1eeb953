package e2e

import (
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
)

// TestSecretsNeverPrinted: the passwords in --upstream and --redis-url show
// nowhere an operator or a log collector reads: startup lines, logs (which
// name the failing upstream), /readyz, check-config.
func TestSecretsNeverPrinted(t *testing.T) {
	const secret, redisSecret = "S3cret-Upstream-PW", "S3cret-Redis-PW"
	rd := redistest.Start(t)
	if err := rd.Do("CONFIG", "SET", "requirepass", redisSecret); err != nil {
		t.Fatal(err)
	}
	redisURL := "redis://:" + redisSecret + "@" + rd.Addr() + "/0"
	// A port nothing listens on: the upstream is down, so /readyz fails and
	// the log says why.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	upstream := "smtp://relay-user:" + secret + "@" + addr + "?tls=none"
	dir := t.TempDir()
	r := startReplica(t, "secrets", "--data-dir", dir, "--upstream", upstream, "--redis-url", redisURL, "--log-format", "json")
	// serve is on the password-protected Redis (the startup line says so).
	r.waitStdout(t, regexp.MustCompile(`store Redis redis://\S+`))
	status, body := r.get(t, "/readyz")
	if status != http.StatusServiceUnavailable || strings.Contains(body, addr) {
		t.Errorf("/readyz with the upstream down: %d %q; want 503 without the internal address", status, body)
	}
	code, checkOut := runCLI(t, "check-config", "--data-dir", dir, "--upstream", upstream, "--redis-url", redisURL)
	if code != 0 {
		t.Errorf("check-config: exit %d:\n%s", code, checkOut)
	}
	r.stop(t)
	if !strings.Contains(r.stderr.String(), addr) {
		t.Errorf("the log does not name the failing upstream %s:\n%s", addr, r.stderr.String())
	}
	for what, text := range map[string]string{
		"startup lines": r.stdout.String(), "logs": r.stderr.String(), "/readyz": body, "check-config": checkOut,
	} {
		for _, s := range []string{secret, redisSecret} {
			if strings.Contains(text, s) {
				t.Errorf("a password appears in %s:\n%s", what, text)
			}
		}
	}
}
