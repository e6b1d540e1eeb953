package proxy

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/proxy/upstream"
)

// Replies the relay gives about the envelope.
var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required"}
	// errTooManyRcpts: past --max-recipients. RFC 5321 §4.5.3.1.10 obliges
	// the client to send the rest in a new transaction (Postfix and Exim
	// do, at once, over the same or a new connection).
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
	env  upstream.Envelope
	// rcpts are the transaction's distinct recipients, in RCPT order.
	rcpts []*recipient
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
	s.env = upstream.Envelope{From: from}
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
	if len(s.rcpts) >= s.r.cfg.MaxRecipients {
		return errTooManyRcpts
	}
	if !strings.Contains(to, "@") {
		return errBadRecipient
	}
	k, err := s.r.cfg.RecipientKey(to)
	if err != nil {
		return errBadRecipient
	}
	for _, rc := range s.rcpts {
		if rc.key == k {
			// The same recipient named twice gets one copy
			// (RFC 5321 §3.3 lets a server drop duplicates).
			return nil
		}
	}
	// The lookup runs while the client names the others and sends the
	// message.
	s.rcpts = append(s.rcpts, &recipient{to: to, key: k, consent: s.r.startLookup(k)})
	return nil
}

func (s *session) Data(r io.Reader) error {
	// One log line per message, whatever its fate (R8: counts, no
	// address, no recipient key).
	sum := &txnSummary{id: s.r.nextID(), start: s.r.cfg.Now(), rcpts: len(s.rcpts)}
	err := s.data(r, sum)
	sum.log(context.Background(), s.r.cfg.Logger, s.r.cfg.Now(), err)
	return err
}

func (s *session) data(r io.Reader, sum *txnSummary) error {
	cr := &countingReader{r: r}
	msg, err := readData(cr, s.sizeHint, s.r.buffers.get(), s.r.cfg.BareLF)
	// process is synchronous and keeps nothing of msg (rewrite, header
	// and DKIM work make copies; bookkeeping gets strings), so the buffer
	// is free again when Data returns.
	defer s.r.buffers.put(msg)
	if err != nil {
		sum.size, sum.reason = cr.n, readReason(err)
		s.r.cfg.Metrics.Messages.WithLabelValues("refused-content").Inc()
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se
		}
		// The client went away mid-message: nothing was accepted.
		return errInternal
	}
	sum.size = int64(len(msg))
	return s.r.process(s, msg, sum)
}

func (s *session) endTx() {
	if s.inTx {
		s.inTx = false
		s.r.endTransaction()
	}
	s.env, s.rcpts = upstream.Envelope{}, nil
}

func (s *session) Reset() { s.endTx() }

func (s *session) Logout() error {
	s.endTx()
	return nil
}

// recipient is one RCPT of the transaction: its address (only for the
// rewrite and the upstream envelope, never logged: R8), key and consent.
type recipient struct {
	to      string
	key     consent.Key
	consent *pendingLookup
}
