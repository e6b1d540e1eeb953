package upstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/internal/atomicfile"
)

// Envelope is what the relay hands a Deliverer besides the message.
type Envelope struct {
	From string
	To   string
	// Key is To's recipient key (pseudonymous: what the outbox records).
	Key consent.Key
	// UTF8 carries the client's SMTPUTF8 to the upstream. 8-bit bodies
	// need no flag: the upstream client declares BODY=8BITMIME whenever
	// the upstream offers it.
	UTF8 bool
}

// Deliverer takes a finished message. Deliver returns nil only once the
// message is safely handed over (upstream 250, or durably written); any
// error is an *smtp.SMTPError carrying the reply the client should get.
type Deliverer interface {
	Deliver(ctx context.Context, env Envelope, msg []byte) error
	// Describe says where messages go, without secrets, for the startup lines.
	Describe() string
	// Ready reports whether a message could be handed over now (/readyz).
	Ready(ctx context.Context) error
	Close() error
}

// Outbox writes each message to DIR/*.eml: what recipients would get when
// no upstream is configured (the zero-config default, operator guide §1).
type Outbox struct {
	dir string
	now func() time.Time
}

// NewOutbox creates dir when needed and removes the temporary files a crash
// left behind: each is a whole message, addresses included, that was
// never renamed into place, so the client was never told it was accepted
// and will send it again (R8: nothing personal kept without a purpose).
func NewOutbox(dir string, now func() time.Time) (*Outbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create outbox: %w", err)
	}
	if err := atomicfile.RemoveLeftovers(dir); err != nil {
		return nil, fmt.Errorf("clean outbox: %w", err)
	}
	return &Outbox{dir: dir, now: now}, nil
}

// Deliver writes the message under a name made of the time and random bytes,
// never of the address (R8), headed by its recipient's key (OutboxRcptKey).
func (o *Outbox) Deliver(_ context.Context, env Envelope, msg []byte) error {
	msg = withRcptKey(env, msg)
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return TempFailure("outbox: %v", err)
	}
	name := o.now().UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(rnd[:]) + ".eml"
	if err := atomicfile.Write(filepath.Join(o.dir, name), msg, 0o600); err != nil {
		return TempFailure("outbox: %v", err)
	}
	return nil
}

func (o *Outbox) Describe() string { return "outbox " + o.dir }
func (o *Outbox) Close() error     { return nil }

// OutboxRcptKey heads each outbox file with its envelope recipient's key
// (pseudonymous, R8): the copies of one message differ by recipient, and
// the file must say whose it is.
const OutboxRcptKey = "X-Pixelgate-Rcpt-Key"

func withRcptKey(env Envelope, msg []byte) []byte {
	if env.Key == (consent.Key{}) {
		return msg
	}
	out := make([]byte, 0, len(OutboxRcptKey)+36+len(msg))
	out = append(append(append(out, OutboxRcptKey...), ": "...), env.Key.String()...)
	return append(append(out, "\r\n"...), msg...)
}
