package e2e

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	d := startDemo(t, cmd)
	seen, lines, exited, stderr := d.seen, d.lines, d.exited, d.stderr
	smtpAddr, redisAddr := d.smtpAddr, d.redisAddr
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

	if err := d.stop(); err != nil {
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

// demo is a running scripts/demo.sh (or `make demo`) after serve started.
type demo struct {
	cmd                           *exec.Cmd
	seen                          []string // stdout lines so far
	lines                         chan string
	exited                        chan error
	stderr                        *testsupport.SyncBuffer
	smtpAddr, httpAddr, redisAddr string
}

// stop sends SIGTERM to the demo's whole process group (make, bash,
// redis-server and pixelgate), as Ctrl-C in a terminal would.
func (d *demo) stop() error { return syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM) }

// startDemo starts cmd in its own process group and reads its output until
// serve has printed its startup lines; the demo is stopped at the end of
// the test if it still runs.
func startDemo(t *testing.T, cmd *exec.Cmd) *demo {
	t.Helper()
	d := &demo{cmd: cmd, lines: make(chan string, 100), exited: make(chan error, 1), stderr: &testsupport.SyncBuffer{}}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = d.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = d.stop()
			<-d.exited
		}
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		close(d.lines)
	}()
	deadline := time.After(60 * time.Second)
	for started := false; !started; {
		select {
		case line, ok := <-d.lines:
			if !ok {
				t.Fatalf("demo ended before serving:\n%s\n%s", strings.Join(d.seen, "\n"), d.stderr.String())
			}
			d.seen = append(d.seen, line)
			if rest, ok := strings.CutPrefix(line, "demo: redis-server on "); ok {
				d.redisAddr, _, _ = strings.Cut(rest, " ")
			}
			if rest, ok := strings.CutPrefix(line, "pixelgate: SMTP relay on "); ok {
				d.smtpAddr, _, _ = strings.Cut(rest, " ")
			}
			if rest, ok := strings.CutPrefix(line, "pixelgate: HTTP on "); ok {
				d.httpAddr, _, _ = strings.Cut(rest, ",")
			}
			// The last of serve's startup lines.
			started = strings.HasPrefix(line, "pixelgate: delivering to ")
		case <-deadline:
			t.Fatalf("demo did not start in 60s:\n%s\n%s", strings.Join(d.seen, "\n"), d.stderr.String())
		}
	}
	return d
}

// TestMakeDemoPorts: `make demo` takes its three ports from make
// variables, so it runs beside anything already on 8080, 2525 or 6380.
func TestMakeDemoPorts(t *testing.T) {
	for _, bin := range []string{"redis-server", "redis-cli", "bash", "make"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed: %v", bin, err)
		}
	}
	httpPort, smtpPort, redisPort := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	cmd := exec.Command("make", "-s", "-C", "..", "demo", "DEMO_HTTP_PORT="+httpPort, "DEMO_SMTP_PORT="+smtpPort, "DEMO_REDIS_PORT="+redisPort)
	cmd.Env = append(os.Environ(), "DEMO_DIR="+t.TempDir(), "PIXELGATE_BIN="+binary)
	d := startDemo(t, cmd)
	if d.httpAddr != "127.0.0.1:"+httpPort || d.smtpAddr != "127.0.0.1:"+smtpPort || d.redisAddr != "127.0.0.1:"+redisPort {
		t.Fatalf("make demo listens on HTTP %s, SMTP %s, Redis %s; want ports %s, %s, %s:\n%s",
			d.httpAddr, d.smtpAddr, d.redisAddr, httpPort, smtpPort, redisPort, strings.Join(d.seen, "\n"))
	}
	if !strings.Contains(strings.Join(d.seen, "\n"), "public URL http://127.0.0.1:"+httpPort) {
		t.Errorf("the public URL does not follow the HTTP port:\n%s", strings.Join(d.seen, "\n"))
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("make demo did not stop on SIGTERM")
	}
}

// The demo's data directory holds secrets (keys/): git must ignore it, so
// it is never committed by accident.
func TestDemoDirIgnored(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	if err := exec.Command("git", "-C", "..", "rev-parse", "--is-inside-work-tree").Run(); err != nil {
		t.Skip("not a git checkout")
	}
	for _, p := range []string{"demo/pixelgate/keys/token.key", "demo/redis/appendonlydir/x.aof", "demo/pixelgate/outbox/1.eml"} {
		if err := exec.Command("git", "-C", "..", "check-ignore", "-q", "--no-index", p).Run(); err != nil {
			t.Errorf("git does not ignore %s: %v", p, err)
		}
	}
}
