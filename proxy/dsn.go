package proxy

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strings"
	"time"

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

func (r *Relay) composeDSN(to string, t *transaction, failed []dsnRecipient) ([]byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
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
	if err := writePart(mw, "text/plain; charset=utf-8", human.String()); err != nil {
		return nil, err
	}

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
	if err := writePart(mw, "message/delivery-status", status.String()); err != nil {
		return nil, err
	}
	// The original header only (RFC 6522 §3: text/rfc822-headers), with
	// pixelgate's internal fields left out as on every copy.
	h := t.origHeader
	h.fields = append(h.fields[:0:0], h.fields...)
	h.removeIf(func(name string) bool { return strings.HasPrefix(strings.ToLower(name), internalHeaderPrefix) })
	if err := writePart(mw, "text/rfc822-headers", string(h.appendMessage(nil, nil))); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	var out bytes.Buffer
	fmt.Fprintf(&out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", host)
	fmt.Fprintf(&out, "To: <%s>\r\n", to)
	fmt.Fprintf(&out, "Subject: Undelivered Mail Returned to Sender (%d recipient(s))\r\n", len(failed))
	fmt.Fprintf(&out, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&out, "Message-ID: <%s.dsn.%x@%s>\r\n", t.id, t.mid[:6], host)
	fmt.Fprintf(&out, "Auto-Submitted: auto-replied\r\n")
	fmt.Fprintf(&out, "MIME-Version: 1.0\r\n")
	fmt.Fprintf(&out, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", mw.Boundary())
	out.Write(body.Bytes())
	return out.Bytes(), nil
}

func writePart(mw *multipart.Writer, ctype, content string) error {
	w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {ctype}})
	if err != nil {
		return fmt.Errorf("compose delivery report: %w", err)
	}
	if _, err := w.Write([]byte(content)); err != nil {
		return fmt.Errorf("compose delivery report: %w", err)
	}
	return nil
}

// oneLine keeps an upstream's multi-line reply on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
