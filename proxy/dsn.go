package proxy

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
	"github.com/pixelgate/pixelgate/proxy/upstream"
)

// dsnRecipient is a recipient whose copy the upstream refused for good.
type dsnRecipient struct {
	addr  string
	reply *smtp.SMTPError
}

// sendDSN tells the sender which recipients' copies were refused after the
// others were delivered: a delivery status notification (RFC 3464) in a
// multipart/report (RFC 6522), from the null sender so it can never cause
// another (RFC 5321 §6.1; RFC 3834 Auto-Submitted). A message that came
// from the null sender itself gets none (RFC 5321 §6.1: a notification is
// never answered with one); it is logged and counted.
func (r *Relay) sendDSN(s *session, t *transaction, failed []dsnRecipient) error {
	if s.env.From == "" {
		r.cfg.Metrics.Messages.WithLabelValues("refused-no-dsn").Inc()
		return nil
	}
	msg, err := r.composeDSN(s.env.From, t, failed)
	if err != nil {
		return err
	}
	env := upstream.Envelope{From: "", To: s.env.From, UTF8: s.env.UTF8}
	if k, err := r.cfg.RecipientKey(s.env.From); err == nil {
		env.Key = k
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.DeliveryTimeout)
	defer cancel()
	return r.cfg.Delivery.Deliver(ctx, env, msg)
}

// composeDSN builds the notification with go-message: header fields
// encoded as RFC 5322 and RFC 2047 want them, parts delimited by a boundary
// drawn from the relay's injected randomness.
func (r *Relay) composeDSN(to string, t *transaction, failed []dsnRecipient) ([]byte, error) {
	now := r.cfg.Now()
	host := r.cfg.Hostname

	var human strings.Builder
	fmt.Fprintf(&human, "This is the pixelgate relay at %s.\r\n\r\n", host)
	fmt.Fprintf(&human, "Your message was delivered to its other recipients, but the mail\r\n")
	fmt.Fprintf(&human, "service it was handed to refused it for the following %d recipient(s).\r\n", len(failed))
	fmt.Fprintf(&human, "It will not be retried for them:\r\n\r\n")
	for _, f := range failed {
		fmt.Fprintf(&human, "<%s>: %d %s\r\n", f.addr, f.reply.Code, oneLine(strings.TrimPrefix(f.reply.Message, "Upstream: ")))
	}
	fmt.Fprintf(&human, "\r\nThe header of your message follows at the end of this report.\r\n")

	var status strings.Builder
	fmt.Fprintf(&status, "Reporting-MTA: dns; %s\r\n", host)
	fmt.Fprintf(&status, "X-Pixelgate-Transaction: %s\r\n", t.id)
	fmt.Fprintf(&status, "Arrival-Date: %s\r\n", now.Format(time.RFC1123Z))
	for _, f := range failed {
		ec := f.reply.EnhancedCode
		if ec[0] != 5 {
			ec = smtp.EnhancedCode{5, 0, 0}
		}
		fmt.Fprintf(&status, "\r\nFinal-Recipient: rfc822; %s\r\n", f.addr)
		fmt.Fprintf(&status, "Action: failed\r\n")
		fmt.Fprintf(&status, "Status: %d.%d.%d\r\n", ec[0], ec[1], ec[2])
		fmt.Fprintf(&status, "Diagnostic-Code: smtp; %d %s\r\n", f.reply.Code, oneLine(strings.TrimPrefix(f.reply.Message, "Upstream: ")))
	}

	// The original header only (RFC 6522 §3: text/rfc822-headers), with
	// pixelgate's internal fields left out as on every copy.
	orig := t.origHeader
	orig.fields = append(orig.fields[:0:0], orig.fields...)
	orig.removeIf(IsInternalHeader)

	var rnd [12]byte
	if _, err := io.ReadFull(r.cfg.Rand, rnd[:]); err != nil {
		return nil, fmt.Errorf("compose delivery report: boundary: %w", err)
	}
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{{Name: "Mail Delivery System", Address: "MAILER-DAEMON@" + host}})
	h.SetAddressList("To", []*mail.Address{{Address: to}})
	h.SetSubject(fmt.Sprintf("Undelivered Mail Returned to Sender (%d recipient(s))", len(failed)))
	h.SetDate(now)
	h.SetMessageID(fmt.Sprintf("%s.dsn.%x@%s", t.id, t.mid[:6], host))
	h.Set("Auto-Submitted", "auto-replied")
	h.SetContentType("multipart/report", map[string]string{"report-type": "delivery-status", "boundary": "pixelgate-dsn-" + hex.EncodeToString(rnd[:])})

	var out bytes.Buffer
	w, err := message.CreateWriter(&out, h.Header)
	if err != nil {
		return nil, fmt.Errorf("compose delivery report: %w", err)
	}
	for _, p := range []struct{ ctype, content string }{
		{"text/plain; charset=utf-8", human.String()},
		{"message/delivery-status", status.String()},
		{"text/rfc822-headers", string(orig.appendMessage(nil, nil))},
	} {
		var ph message.Header
		ph.Set("Content-Type", p.ctype)
		pw, err := w.CreatePart(ph)
		if err != nil {
			return nil, fmt.Errorf("compose delivery report: %w", err)
		}
		if _, err := io.WriteString(pw, p.content); err != nil {
			return nil, fmt.Errorf("compose delivery report: %w", err)
		}
		if err := pw.Close(); err != nil {
			return nil, fmt.Errorf("compose delivery report: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compose delivery report: %w", err)
	}
	return out.Bytes(), nil
}

// oneLine keeps an upstream's multi-line reply on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
