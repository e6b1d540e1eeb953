package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// txnSummary is what the relay's one log line per message says: the
// transaction's decision classes and copy outcomes as counts, the reply the
// client got, size and time. It holds no address and no recipient key (R8):
// per-recipient detail is for --log-recipient-keys only.
type txnSummary struct {
	id       string
	start    time.Time
	campaign string
	rcpts    int
	size     int64
	// reason says why the message was refused or deferred as a whole
	// (before any copy went out, or the rewrite could not read it).
	reason string

	mu                                    sync.Mutex // copies are sent in parallel
	granted, notGranted, failClosed       int
	delivered, earlier, deferred, refused int
}

// decision counts one copy's decision class.
func (t *txnSummary) decision(class string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch class {
	case decisionGranted:
		t.granted++
	case decisionFailClosed:
		t.failClosed++
	default:
		t.notGranted++
	}
}

func (t *txnSummary) setReason(r string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reason == "" {
		t.reason = r
	}
}

// Decision classes of a copy, in logs and the recipients metric.
const (
	decisionGranted    = "granted"
	decisionNotGranted = "not-granted"
	decisionFailClosed = "fail-closed"
)

// copies counts the copies' outcomes from process's results.
func (t *txnSummary) copies(results []error, earlier []bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, err := range results {
		switch {
		case earlier[i]:
			t.earlier++
		case err == nil:
			t.delivered++
		case replyOf(err).Code/100 == 5:
			t.refused++
		default:
			t.deferred++
		}
	}
}

// log writes the summary line for the client's reply err (nil: 250).
// Level Warn when the client was told to retry or consent could not be
// read: both mean something on pixelgate's side or upstream.
func (t *txnSummary) log(ctx context.Context, l *slog.Logger, now time.Time, err error) {
	code, enhanced, outcome := 250, "2.0.0", "delivered"
	if err != nil {
		se := replyOf(err)
		code = se.Code
		enhanced = fmtEnhanced(se.EnhancedCode, code)
		outcome = "refused"
		if code/100 == 4 {
			outcome = "deferred"
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil && t.refused > 0 {
		outcome = "delivered-with-dsn"
	}
	level := slog.LevelInfo
	if code/100 == 4 || t.failClosed > 0 {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("txn", t.id),
		slog.String("campaign", t.campaign),
		slog.String("outcome", outcome),
		slog.Int("code", code),
		slog.String("enhanced", enhanced),
		slog.Int("recipients", t.rcpts),
		slog.Group("decision", "granted", t.granted, "not_granted", t.notGranted, "fail_closed", t.failClosed),
		slog.Group("copies", "delivered", t.delivered, "already_delivered", t.earlier, "deferred", t.deferred, "refused", t.refused),
		slog.Int64("bytes", t.size),
		slog.Float64("ms", float64(now.Sub(t.start).Microseconds())/1000),
	}
	if t.reason != "" {
		attrs = append(attrs, slog.String("reason", t.reason))
	}
	l.LogAttrs(ctx, level, "message", attrs...)
}

// fmtEnhanced writes an RFC 3463 code; go-smtp's "not set" means X.0.0.
func fmtEnhanced(ec smtp.EnhancedCode, code int) string {
	if ec == smtp.EnhancedCodeNotSet || ec == smtp.NoEnhancedCode {
		ec = smtp.EnhancedCode{code / 100, 0, 0}
	}
	return fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
}

// readReason names a DATA read failure for the summary line.
func readReason(err error) string {
	switch {
	case errors.Is(err, smtp.ErrDataTooLarge):
		return "too-big"
	case errors.Is(err, errBareNewline):
		return "bare-newline"
	case errors.Is(err, errLineTooLong):
		return "line-too-long"
	}
	return "read-failed"
}

// countingReader counts the bytes of DATA read, for the size of a message
// refused while it was being read.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
