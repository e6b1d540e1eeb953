package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/pixelgate/pixelgate/consent"
)

// Replies the relay gives about the envelope.
var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required"}
	// errTooManyRcpts: one recipient per transaction, so every recipient
	// gets their own rewrite without a queue. RFC 5321 §4.5.3.1.10 obliges
	// the client to send the rest in a new transaction (Postfix does).
	errTooManyRcpts = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3},
		Message: "Too many recipients"}
	errShuttingDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2},
		Message: "Service shutting down, try again later"}
	errBadRecipient = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3},
		Message: "Bad recipient address syntax"}
	errNeedMail = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1},
		Message: "Need MAIL before RCPT"}
	errInternal = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Internal error, try again later"}
)

// session is one SMTP connection.
type session struct {
	r        *Relay
	conn     *smtp.Conn
	clientIP string
	network  bool // from a network allowed to relay without AUTH
	user     string

	inTx bool
	env  Envelope
	key  consent.Key
	rcpt bool
	// consent is the recipient's consent, looked up from RCPT on.
	consent *pendingLookup
	// sizeHint is the message size the client declared, bounded (0: none).
	sizeHint int64
}

func (r *Relay) newSession(c *smtp.Conn) (smtp.Session, error) {
	s := &session{r: r, conn: c, network: r.allowedNetwork(c.Conn().RemoteAddr())}
	s.clientIP = addrIP(c.Conn().RemoteAddr()).String()
	return s, nil
}

// AuthMechanisms offers AUTH only when accounts exist in config; go-smtp
// advertises it only after TLS (RFC 4954 §4: no plain-text passwords).
func (s *session) AuthMechanisms() []string {
	if s.r.cfg.Credentials == nil {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.r.cfg.Credentials == nil {
		return nil, smtp.ErrAuthUnsupported
	}
	return saslServer(mech, func(user, pass string) error {
		ctx, cancel := context.WithTimeout(context.Background(), s.r.cfg.StoreTimeout)
		defer cancel()
		if err := s.r.cfg.Credentials.Check(ctx, s.clientIP, user, pass); err != nil {
			s.r.cfg.Metrics.AuthFailures.Inc()
			return err
		}
		s.user = user
		clientAuthenticated(s.conn.Conn())
		return nil
	})
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.user == "" && !s.network {
		// Never an open relay: unknown clients must authenticate.
		return errAuthRequired
	}
	if s.inTx {
		s.endTx()
	}
	if !s.r.beginTransaction() {
		return errShuttingDown
	}
	s.inTx = true
	s.env = Envelope{From: from}
	s.sizeHint = 0
	if opts != nil {
		s.env.UTF8 = opts.UTF8
		// The declared SIZE (RFC 1870) sizes the DATA buffer. A claim is
		// not a message: past maxSizeHint the buffer grows as data comes.
		s.sizeHint = min(max(opts.Size, 0), maxSizeHint, AcceptedMessageBytes(s.r.cfg.MaxMessageBytes))
	}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !s.inTx {
		return errNeedMail
	}
	if s.rcpt {
		return errTooManyRcpts
	}
	if !strings.Contains(to, "@") {
		return errBadRecipient
	}
	k, err := s.r.cfg.RecipientKey(to)
	if err != nil {
		return errBadRecipient
	}
	s.env.To, s.key, s.rcpt = to, k, true
	s.consent = s.r.startLookup(k)
	return nil
}

func (s *session) Data(r io.Reader) error {
	msg, err := readData(r, s.sizeHint, s.r.buffers.get())
	// process is synchronous and keeps nothing of msg (rewrite, header
	// and DKIM work make copies; bookkeeping gets strings), so the buffer
	// is free again when Data returns.
	defer s.r.buffers.put(msg)
	if err != nil {
		s.r.cfg.Metrics.Messages.WithLabelValues("refused-content").Inc()
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se
		}
		// The client went away mid-message: nothing was accepted.
		return errInternal
	}
	return s.r.process(s, msg)
}

func (s *session) endTx() {
	if s.inTx {
		s.inTx = false
		s.r.endTransaction()
	}
	s.env, s.key, s.rcpt, s.consent = Envelope{}, consent.Key{}, false, nil
}

func (s *session) Reset() { s.endTx() }

func (s *session) Logout() error {
	s.endTx()
	return nil
}

// logger carries the transaction's recipient key, never the address (R8).
func (s *session) logger(id string) *slog.Logger {
	return s.r.cfg.Logger.With("txn", id, "rk", s.key.String())
}
