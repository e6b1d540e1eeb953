package e2e

import (
	"fmt"
	"io"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// The relay takes many recipients per transaction from real senders with
// their default settings: a private Postfix instance, swaks, Python's
// smtplib; and a retry after pixelgate died between two copies sends only
// the copies still missing.

func readers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("reader%02d@example.net", i)
	}
	return out
}

// waitCopies waits (bounded) until the sink holds n messages.
func waitCopies(t *testing.T, sink *smtpsink.Sink, n int, within time.Duration) []smtpsink.Message {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(sink.Messages()) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return sink.Messages()
}

// checkCopies: each address in want got exactly one copy addressed to it
// alone; granted ones carry exactly one pixelgate pixel, the others none,
// and no copy carries the ESP's pixel.
func checkCopies(t *testing.T, msgs []smtpsink.Message, want []string, granted map[string]bool) {
	t.Helper()
	got := map[string]int{}
	for _, m := range msgs {
		if len(m.To) != 1 {
			t.Fatalf("upstream transaction for %d recipients, want one per copy", len(m.To))
		}
		got[m.To[0]]++
		body := bodies(t, m.Data)
		pixels := strings.Count(body, "/o/")
		if want := map[bool]int{true: 1, false: 0}[granted[m.To[0]]]; pixels != want {
			t.Errorf("%s (granted %v): %d pixelgate pixels, want %d", m.To[0], granted[m.To[0]], pixels, want)
		}
		if strings.Contains(body, espPixel) {
			t.Errorf("%s: the ESP's pixel went through", m.To[0])
		}
	}
	for _, a := range want {
		if got[a] != 1 {
			t.Errorf("%s received %d copies, want 1", a, got[a])
		}
	}
	if len(got) != len(want) {
		t.Errorf("copies for %d recipients, want %d", len(got), len(want))
	}
}

func startRelayToSink(t *testing.T, sink *smtpsink.Sink, dir string, extra ...string) *replica {
	t.Helper()
	return startReplica(t, "relay", append([]string{"--data-dir", dir, "--upstream", "smtp://" + sink.Addr + "?tls=none"}, extra...)...)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestPostfixDefaultsFiftyRecipients: Postfix as installed (default
// recipient limits: smtp_destination_recipient_limit 50), relayhost =
// pixelgate, relays one message to 50 recipients; all 50 copies arrive,
// each rewritten for its recipient.
func TestPostfixDefaultsFiftyRecipients(t *testing.T) {
	const postfix = "/usr/sbin/postfix"
	if _, err := os.Stat(postfix); err != nil {
		t.Skip("postfix is not installed (Debian package postfix; .ci/run installs it): Postfix interoperability not tested")
	}
	if os.Geteuid() != 0 {
		t.Skip("a private Postfix instance must be started as root (postfix start): Postfix interoperability not tested")
	}
	sink, err := smtpsink.Start(smtpsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	data := t.TempDir()
	pg := startRelayToSink(t, sink, data)
	to := readers(50)
	granted := map[string]bool{to[4]: true, to[17]: true, to[49]: true}
	for a := range granted {
		if code, out := runCLI(t, "consent", "grant", "--data-dir", data, a); code != 0 {
			t.Fatalf("grant: %s", out)
		}
	}

	// The private instance: its own config, queue and data directories
	// (postfix's user must reach them), smtpd on a free loopback port,
	// relayhost = pixelgate, everything else Postfix's defaults.
	dir, err := os.MkdirTemp("", "pixelgate-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "conf")
	for _, d := range []string{conf, filepath.Join(dir, "queue"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "postfix", filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Skipf("cannot give the postfix user its data directory (%v: %s): Postfix interoperability not tested", err, out)
	}
	port := freePort(t)
	pgHost, pgPort, _ := net.SplitHostPort(pg.smtpAddr)
	mainCf := strings.Join([]string{
		"compatibility_level = 3.6",
		"queue_directory = " + filepath.Join(dir, "queue"),
		"data_directory = " + filepath.Join(dir, "data"),
		"maillog_file = " + filepath.Join(dir, "maillog"),
		"maillog_file_prefixes = " + dir,
		"inet_interfaces = 127.0.0.1",
		"inet_protocols = ipv4",
		"myhostname = sender.test",
		"mydestination =",
		"mynetworks = 127.0.0.0/8",
		"alias_maps =",
		"alias_database =",
		"smtpd_relay_restrictions = permit_mynetworks, reject",
		"smtp_tls_security_level = none",
		"relayhost = [" + pgHost + "]:" + pgPort,
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(conf, "main.cf"), []byte(mainCf), 0o644); err != nil {
		t.Fatal(err)
	}
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Skipf("no /etc/postfix/master.cf to start from (%v): Postfix interoperability not tested", err)
	}
	var lines []string
	for _, l := range strings.Split(string(master), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "smtp" && f[1] == "inet" {
			l = "127.0.0.1:" + strconv.Itoa(port) + " inet n - n - - smtpd"
		}
		lines = append(lines, l)
	}
	if err := os.WriteFile(filepath.Join(conf, "master.cf"), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	// No chroot: the instance's directories are not set up for one.
	if out, err := exec.Command("/usr/sbin/postconf", "-c", conf, "-F", "*/*/chroot = n").CombinedOutput(); err != nil {
		t.Fatalf("postconf: %v: %s", err, out)
	}
	if out, err := exec.Command(postfix, "-c", conf, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
		t.Fatalf("postfix start: %v: %s\n%s", err, out, log)
	}
	defer func() {
		if out, err := exec.Command(postfix, "-c", conf, "stop").CombinedOutput(); err != nil {
			t.Errorf("postfix stop: %v: %s", err, out)
		}
	}()

	addr := "127.0.0.1:" + strconv.Itoa(port)
	var c *smtp.Client
	for deadline := time.Now().Add(10 * time.Second); c == nil; time.Sleep(100 * time.Millisecond) {
		if c, err = smtp.Dial(addr); err != nil && time.Now().After(deadline) {
			t.Fatalf("postfix smtpd on %s: %v", addr, err)
		}
	}
	defer c.Close()
	if err := c.Mail("news@shop.example"); err != nil {
		t.Fatal(err)
	}
	for _, a := range to {
		if err := c.Rcpt(a); err != nil {
			t.Fatalf("postfix RCPT %s: %v", a, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, strings.Replace(campaignMessage("list@shop.example"), "\r\n", "\r\nMessage-ID: <fifty@shop.example>\r\n", 1))
	if err := w.Close(); err != nil {
		t.Fatalf("postfix refused the message: %v", err)
	}
	c.Quit()

	msgs := waitCopies(t, sink, len(to), 60*time.Second)
	log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
	if len(msgs) < len(to) {
		t.Fatalf("sink holds %d of %d copies after 60 s; Postfix log:\n%s", len(msgs), len(to), log)
	}
	checkCopies(t, msgs, to, granted)
	if strings.Contains(string(log), "status=deferred") || strings.Contains(string(log), "452 4.5.3") {
		t.Errorf("Postfix deferred recipients:\n%s", log)
	}
}

// TestMailToolsManyRecipients: swaks and Python's smtplib.sendmail (which
// reports refused recipients in a dict instead of failing) deliver to
// every recipient of one call.
func TestMailToolsManyRecipients(t *testing.T) {
	sink, err := smtpsink.Start(smtpsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	pg := startRelayToSink(t, sink, t.TempDir())
	host, port, _ := net.SplitHostPort(pg.smtpAddr)

	t.Run("swaks", func(t *testing.T) {
		swaks, err := exec.LookPath("swaks")
		if err != nil {
			t.Skip("swaks is not installed (.ci/run installs it)")
		}
		to := readers(10)
		before := len(sink.Messages())
		out, err := exec.Command(swaks, "--server", host, "--port", port, "--from", "news@shop.example",
			"--to", strings.Join(to, ","), "--header", "Message-ID: <swaks@shop.example>").CombinedOutput()
		if err != nil {
			t.Fatalf("swaks: %v\n%s", err, out)
		}
		checkCopies(t, waitCopies(t, sink, before+len(to), 10*time.Second)[before:], to, nil)
	})
	t.Run("python smtplib", func(t *testing.T) {
		py, err := exec.LookPath("python3")
		if err != nil {
			t.Skip("python3 is not installed")
		}
		to := make([]string, 8)
		for i := range to {
			to[i] = fmt.Sprintf("py%d@example.net", i)
		}
		before := len(sink.Messages())
		script := `import smtplib, sys
to = sys.argv[3:]
msg = "From: news@shop.example\r\nSubject: hi\r\nMessage-ID: <py@shop.example>\r\n\r\nHello\r\n"
with smtplib.SMTP(sys.argv[1], int(sys.argv[2])) as s:
    refused = s.sendmail("news@shop.example", to, msg)
print("refused:", refused)
sys.exit(1 if refused else 0)
`
		out, err := exec.Command(py, append([]string{"-c", script, host, port}, to...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("smtplib: %v\n%s", err, out)
		}
		checkCopies(t, waitCopies(t, sink, before+len(to), 10*time.Second)[before:], to, nil)
	})
}

// TestRetryAfterKillBetweenCopies: pixelgate dies (SIGKILL) after the first
// copy was accepted and while the second is in flight; the client's retry,
// to the restarted pixelgate on the same data directory, sends only the
// copies not delivered, once the dead process's claim has ended.
func TestRetryAfterKillBetweenCopies(t *testing.T) {
	to := readers(3)
	var killed atomic.Bool
	inFlight := make(chan struct{})
	var once sync.Once
	sink, err := smtpsink.Start(smtpsink.Options{Behaviour: func(m *smtpsink.Message) smtpsink.Action {
		if !killed.Load() && m.To[0] == to[1] {
			once.Do(func() { close(inFlight) })
			// Never accepted: the relay dies before the answer.
			return smtpsink.Action{Delay: 2 * time.Second, Drop: true}
		}
		return smtpsink.Action{}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	data := t.TempDir()
	args := []string{"--copy-concurrency", "1", "--delivery-timeout", "1s"}
	pg := startRelayToSink(t, sink, data, args...)
	msg := strings.Replace(campaignMessage("list@shop.example"), "\r\n", "\r\nMessage-ID: <kill@shop.example>\r\n", 1)

	done := make(chan error, 1)
	go func() { done <- relayMany(pg.smtpAddr, to, msg) }()
	select {
	case <-inFlight:
	case <-time.After(20 * time.Second):
		t.Fatal("the second copy never reached the sink")
	}
	if err := pg.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-pg.exited
	killed.Store(true)
	if err := <-done; err == nil {
		t.Fatal("the client was told 250 by a relay that died mid-transaction")
	}
	if got := sink.Messages(); len(got) != 1 || got[0].To[0] != to[0] {
		t.Fatalf("before the retry the sink holds %d copies, want the first only", len(got))
	}

	pg2 := startRelayToSink(t, sink, data, args...)
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if last = relayMany(pg2.smtpAddr, to, msg); last == nil || !strings.HasPrefix(last.Error(), "end of DATA: 451") {
			break
		}
	}
	if last != nil {
		t.Fatalf("retry: %v", last)
	}
	checkCopies(t, sink.Messages(), to, nil)
}

// relayMany hands one message for many recipients to a pixelgate SMTP
// listener as a sender on a relay network does (no AUTH, no STARTTLS).
func relayMany(addr string, to []string, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail("news@shop.example"); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	for _, a := range to {
		if err := c.Rcpt(a); err != nil {
			return fmt.Errorf("RCPT: %w", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	return c.Quit()
}
