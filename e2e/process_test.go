package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/pixelgate/pixelgate/internal/testsupport"
)

// binary is the pixelgate executable built once by TestMain: the tests run
// the real program as an operator would, in separate processes.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pixelgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "pixelgate")
	goBin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: the go command is not on PATH:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	build := exec.Command(goBin, "build", "-o", binary, "github.com/pixelgate/pixelgate/cmd/pixelgate")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build pixelgate:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// replica is one `pixelgate serve` process.
type replica struct {
	name               string
	smtpAddr, httpAddr string
	cmd                *exec.Cmd
	stdout, stderr     *testsupport.SyncBuffer
	exited             chan error
}

// startReplica runs `pixelgate serve` with args plus loopback listeners on
// free ports, and returns once it printed where it listens.
func startReplica(t *testing.T, name string, args ...string) *replica {
	t.Helper()
	return startReplicaIn(t, "", name, args...)
}

// startReplicaIn is startReplica with dir as the working directory, where
// the zero-config ./data goes.
func startReplicaIn(t *testing.T, dir, name string, args ...string) *replica {
	t.Helper()
	all := append([]string{"serve", "--smtp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--shutdown-grace", "5s"}, args...)
	r := &replica{name: name, cmd: exec.Command(binary, all...), stdout: &testsupport.SyncBuffer{}, stderr: &testsupport.SyncBuffer{}, exited: make(chan error, 1)}
	r.cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")} // no PIXELGATE_* from the caller
	r.cmd.Dir = dir
	r.cmd.Stderr = r.stderr
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	t.Cleanup(func() { r.stop(t) })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			r.stdout.Write([]byte(sc.Text() + "\n"))
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	for r.smtpAddr == "" || r.httpAddr == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("replica %s exited before listening:\n%s", name, r.stderr.String())
			}
			if rest, ok := strings.CutPrefix(line, "pixelgate: SMTP relay on "); ok {
				r.smtpAddr, _, _ = strings.Cut(rest, " ")
			}
			if rest, ok := strings.CutPrefix(line, "pixelgate: HTTP on "); ok {
				r.httpAddr, _, _ = strings.Cut(rest, ",")
			}
		case <-deadline:
			t.Fatalf("replica %s did not start in 30s:\n%s", name, r.stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return r
}

// stop sends SIGTERM, as a container runtime does, and waits.
func (r *replica) stop(t *testing.T) {
	if r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
		t.Errorf("replica %s did not stop on SIGTERM", r.name)
	}
}

// at rewrites a link from an email (built on the shared public URL) to
// this replica, as a load balancer would route it.
func (r *replica) at(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("link %q: %v", link, err)
	}
	u.Scheme, u.Host = "http", r.httpAddr
	return u.String()
}

func (r *replica) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + r.httpAddr + path)
	if err != nil {
		t.Fatalf("GET %s on %s: %v", path, r.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitStdout waits for a line of serve's standard output matching re.
func (r *replica) waitStdout(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindString(r.stdout.String()); m != "" {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("replica %s never printed %s:\n%s", r.name, re, r.stdout.String())
	return ""
}

// runCLI runs one pixelgate command to completion.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("run pixelgate %v: %v", args, err)
	}
	return 0, string(out)
}

// bodies decodes every text part of a message (transfer encodings and
// charsets undone), so links can be found whatever the rewrite kept.
func bodies(t *testing.T, raw []byte) string {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse relayed message: %v", err)
	}
	var all strings.Builder
	err = e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil {
			return err
		}
		if mt, _, _ := part.Header.ContentType(); strings.HasPrefix(mt, "text/") {
			b, err := io.ReadAll(part.Body)
			if err != nil {
				return err
			}
			all.Write(b)
			all.WriteString("\n")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk relayed message: %v", err)
	}
	return all.String()
}

var (
	consentLinkRe = regexp.MustCompile(`https?://[^\s"'<>]+/c/[A-Za-z0-9_-]+`)
	pixelLinkRe   = regexp.MustCompile(`https?://[^\s"'<>]+/o/[A-Za-z0-9_-]+\.gif`)
)
