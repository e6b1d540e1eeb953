package upstream

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

const plainMsg = "From: a@shop.example\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nhello\r\n"

func TestUpstreamURLs(t *testing.T) {
	for _, bad := range []string{"http://x", "smtp://", "smtp://h?tls=maybe", "://"} {
		if _, err := ParseUpstream(UpstreamConfig{URL: bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	u, err := ParseUpstream(UpstreamConfig{URL: "smtp://user:s3cret@smtp.esp.example"})
	if err != nil {
		t.Fatal(err)
	}
	if d := u.Describe(); d != "upstream smtp://smtp.esp.example:587" {
		t.Errorf("Describe = %q (must not show the password)", d)
	}
}

func TestUpstreamSTARTTLSAuthAndPool(t *testing.T) {
	cert, clientTLS := testsupport.TLS(t)
	sink := testsupport.StartSink(t, smtpsink.Options{TLS: cert.TLSConfig(), Users: map[string]string{"relay": "pw"}})
	up, err := ParseUpstream(UpstreamConfig{URL: "smtp://relay:pw@" + sink.Addr, TLS: clientTLS, MaxIdle: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	for i := 0; i < 3; i++ {
		if err := up.Deliver(context.Background(), Envelope{From: "a@shop.example", To: "b@example.net"}, []byte(plainMsg)); err != nil {
			t.Fatalf("deliver %d: %v", i, err)
		}
	}
	msgs := sink.Messages()
	if len(msgs) != 3 || !msgs[0].TLS || msgs[0].User != "relay" || !msgs[0].EightBit {
		t.Fatalf("sink got %+v", msgs)
	}
	if n := sink.Connections(); n != 1 {
		t.Errorf("3 messages used %d upstream connections, want 1 (pool)", n)
	}
}

func TestUpstreamRequiresSTARTTLS(t *testing.T) {
	sink := testsupport.StartSink(t, smtpsink.Options{})
	up, _ := ParseUpstream(UpstreamConfig{URL: "smtp://" + sink.Addr})
	err := up.Deliver(context.Background(), Envelope{From: "a@x.example", To: "b@y.example"}, []byte(plainMsg))
	assertReply(t, err, 451, smtp.EnhancedCode{4, 4, 1})
	if len(sink.Messages()) != 0 {
		t.Error("message sent in plain text without ?tls=none")
	}
	up2, _ := ParseUpstream(UpstreamConfig{URL: "smtp://" + sink.Addr + "?tls=none"})
	if err := up2.Deliver(context.Background(), Envelope{From: "a@x.example", To: "b@y.example"}, []byte(plainMsg)); err != nil {
		t.Fatal(err)
	}
}

func assertReply(t *testing.T, err error, code int, ec smtp.EnhancedCode) *smtp.SMTPError {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not an SMTP reply", err)
	}
	if se.Code != code || se.EnhancedCode != ec {
		t.Fatalf("reply %d %v %q, want %d %v", se.Code, se.EnhancedCode, se.Message, code, ec)
	}
	return se
}

func TestUpstreamReplies(t *testing.T) {
	var mu sync.Mutex
	var next smtpsink.Action
	sink := testsupport.StartSink(t, smtpsink.Options{Behaviour: func(*smtpsink.Message) smtpsink.Action { mu.Lock(); defer mu.Unlock(); return next }})
	set := func(a smtpsink.Action) { mu.Lock(); next = a; mu.Unlock() }
	up, _ := ParseUpstream(UpstreamConfig{URL: "smtp://" + sink.Addr + "?tls=none", Timeout: 300 * time.Millisecond, DataTimeout: 300 * time.Millisecond, MaxIdle: 1})
	env := Envelope{From: "a@x.example", To: "b@y.example"}

	set(smtpsink.Action{Reply: &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy"}})
	assertReply(t, up.Deliver(context.Background(), env, []byte(plainMsg)), 451, smtp.EnhancedCode{4, 4, 0})

	set(smtpsink.Action{Reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}})
	se := assertReply(t, up.Deliver(context.Background(), env, []byte(plainMsg)), 550, smtp.EnhancedCode{5, 1, 1})
	if se.Message != "Upstream: no such user" {
		t.Errorf("5xx text %q does not carry the upstream's", se.Message)
	}

	set(smtpsink.Action{Delay: time.Second})
	assertReply(t, up.Deliver(context.Background(), env, []byte(plainMsg)), 451, smtp.EnhancedCode{4, 4, 1})

	set(smtpsink.Action{Drop: true})
	assertReply(t, up.Deliver(context.Background(), env, []byte(plainMsg)), 451, smtp.EnhancedCode{4, 4, 1})

	sink.Close()
	assertReply(t, up.Deliver(context.Background(), env, []byte(plainMsg)), 451, smtp.EnhancedCode{4, 4, 1})
	if n := sink.Count(); n != 0 {
		t.Errorf("sink accepted %d messages", n)
	}
}

func TestUpstreamSMTPUTF8OnlyWhenNeeded(t *testing.T) {
	sink := testsupport.StartSink(t, smtpsink.Options{NoSMTPUTF8: true})
	up, _ := ParseUpstream(UpstreamConfig{URL: "smtp://" + sink.Addr + "?tls=none"})
	// net/smtp asks for SMTPUTF8 whenever offered: ASCII mail still goes.
	if err := up.Deliver(context.Background(), Envelope{From: "a@x.example", To: "b@y.example", UTF8: true}, []byte(plainMsg)); err != nil {
		t.Fatal(err)
	}
	if m := sink.Messages(); len(m) != 1 || m[0].UTF8 {
		t.Fatalf("sink got %+v", m)
	}
	err := up.Deliver(context.Background(), Envelope{From: "a@x.example", To: "jos\u00e9@y.example", UTF8: true}, []byte(plainMsg))
	assertReply(t, err, 553, smtp.EnhancedCode{5, 6, 7})
}

func TestUpstreamReplacesStalePooledConnection(t *testing.T) {
	sink := testsupport.StartSink(t, smtpsink.Options{IdleTimeout: 200 * time.Millisecond})
	up, _ := ParseUpstream(UpstreamConfig{URL: "smtp://" + sink.Addr + "?tls=none", MaxIdle: 1})
	defer up.Close()
	env := Envelope{From: "a@x.example", To: "b@y.example"}
	if err := up.Deliver(context.Background(), env, []byte(plainMsg)); err != nil {
		t.Fatal(err)
	}
	// The upstream closes the idle pooled connection (421 idle timeout).
	time.Sleep(500 * time.Millisecond)
	if err := up.Deliver(context.Background(), env, []byte(plainMsg)); err != nil {
		t.Fatalf("stale pooled connection not replaced: %v", err)
	}
	if n := sink.Count(); n != 2 {
		t.Fatalf("sink accepted %d, want 2 (no loss, no duplicate)", n)
	}
	if n := sink.Connections(); n != 2 {
		t.Errorf("connections %d, want 2", n)
	}
}

// holdFinalReply is a scripted upstream whose answer to the end of data
// waits for release; it reports when the message has arrived.
func holdFinalReply(t *testing.T) (s *scriptServer, arrived <-chan struct{}, release chan<- struct{}) {
	t.Helper()
	arr, rel := make(chan struct{}), make(chan struct{})
	base := esmtp("PIPELINING")
	var once sync.Once
	s = startScript(t, func(cmd string) string {
		if cmd != "." {
			return base(cmd)
		}
		once.Do(func() { close(arr) })
		<-rel
		return "250 2.0.0 queued\r\n"
	})
	t.Cleanup(func() {
		select {
		case <-rel:
		default:
			close(rel)
		}
	})
	return s, arr, rel
}

// TestUpstreamLogsLateFinalReply: an upstream that accepts a message after
// the final-reply timeout has delivered it while the client was told to
// retry; the relay says so in its log.
func TestUpstreamLogsLateFinalReply(t *testing.T) {
	script, arrived, release := holdFinalReply(t)
	var logs testsupport.SyncBuffer
	up, err := ParseUpstream(UpstreamConfig{URL: "smtp://" + script.addr + "?tls=none", Timeout: 5 * time.Second,
		DataTimeout: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	err = up.Deliver(context.Background(), Envelope{From: "n@shop.example", To: "a@example.net"}, []byte(plainMsg))
	<-arrived
	assertReply(t, err, 451, [3]int{4, 4, 1})
	close(release)
	// Eventually logged: the bound only keeps a failure from hanging.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(logs.String(), "upstream accepted a message after the delivery timeout") {
			if strings.Contains(logs.String(), "a@example.net") {
				t.Error("log names the recipient")
			}
			return
		}
	}
	t.Fatalf("late acceptance not logged: %q", logs.String())
}
