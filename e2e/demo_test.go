package e2e

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/internal/testsupport"
)

// TestDemoScript runs scripts/demo.sh, the non-container path that does
// what docker-compose.yml does: Redis with AOF and pixelgate on it,
// delivering to the outbox in place of Mailpit. A message sent through it
// lands rewritten in the outbox; SIGTERM stops both processes.
func TestDemoScript(t *testing.T) {
	for _, bin := range []string{"redis-server", "redis-cli", "bash"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (apt-get install redis-server): %v", bin, err)
		}
	}
	demo := t.TempDir()
	cmd := exec.Command("bash", "../scripts/demo.sh", "--smtp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "DEMO_DIR="+demo, "PIXELGATE_BIN="+binary)
	stderr := &testsupport.SyncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-exited
		}
	}()

	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var smtpAddr, redisAddr string
	var seen []string
	deadline := time.After(60 * time.Second)
	for started := false; !started; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("demo.sh ended before serving:\n%s\n%s", strings.Join(seen, "\n"), stderr.String())
			}
			seen = append(seen, line)
			if rest, ok := strings.CutPrefix(line, "demo: redis-server on "); ok {
				redisAddr, _, _ = strings.Cut(rest, " ")
			}
			if rest, ok := strings.CutPrefix(line, "pixelgate: SMTP relay on "); ok {
				smtpAddr, _, _ = strings.Cut(rest, " ")
			}
			// The last of serve's startup lines.
			started = strings.HasPrefix(line, "pixelgate: delivering to ")
		case <-deadline:
			t.Fatalf("demo.sh did not start in 60s:\n%s\n%s", strings.Join(seen, "\n"), stderr.String())
		}
	}
	if !strings.Contains(strings.Join(seen, "\n"), "store Redis redis://"+redisAddr) {
		t.Errorf("pixelgate is not on the demo's Redis %s:\n%s", redisAddr, strings.Join(seen, "\n"))
	}

	msg := campaignMessage("bob@example.org")
	if err := relay(smtpAddr, "bob@example.org", msg); err != nil {
		t.Fatalf("send through the demo: %v\n%s", err, stderr.String())
	}
	files, _ := filepath.Glob(filepath.Join(demo, "pixelgate", "outbox", "*.eml"))
	if len(files) != 1 {
		t.Fatalf("outbox holds %d messages, want 1", len(files))
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	body := bodies(t, raw)
	if strings.Contains(body, "sendgrid.net/wf/open") || !consentLinkRe.MatchString(body) {
		t.Errorf("outbox message not rewritten (ESP pixel kept or no consent link):\n%s", body)
	}
	if aof, _ := filepath.Glob(filepath.Join(demo, "redis", "appendonly*")); len(aof) == 0 {
		t.Error("Redis in the demo writes no append-only file")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("demo.sh did not stop on SIGTERM")
	}
	for line := range lines {
		seen = append(seen, line)
	}
	if !strings.Contains(strings.Join(seen, "\n"), "demo: stopped") {
		t.Errorf("demo.sh did not report stopping:\n%s", strings.Join(seen, "\n"))
	}
	if c, err := net.DialTimeout("tcp", redisAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("redis-server still listens on %s after the demo stopped", redisAddr)
	}
}
