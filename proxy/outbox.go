package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pixelgate/pixelgate/consent"
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
// no upstream is configured (DESIGN §6 zero config).
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
	if err := removeTempFiles(dir); err != nil {
		return nil, fmt.Errorf("clean outbox: %w", err)
	}
	return &Outbox{dir: dir, now: now}, nil
}

// tempPattern names writeFileAtomic's temporary files.
const tempPattern = ".tmp-*"

// removeTempFiles deletes the temporary files of writeFileAtomic in dir.
func removeTempFiles(dir string) error {
	left, err := filepath.Glob(filepath.Join(dir, tempPattern))
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range left {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Deliver writes the message under a name made of the time and random bytes,
// never of the address (R8), headed by its recipient's key (outboxRcptKey).
func (o *Outbox) Deliver(_ context.Context, env Envelope, msg []byte) error {
	msg = withRcptKey(env, msg)
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return tempFailure("outbox: %v", err)
	}
	name := o.now().UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(rnd[:]) + ".eml"
	if err := writeFileAtomic(filepath.Join(o.dir, name), msg, 0o600); err != nil {
		return tempFailure("outbox: %v", err)
	}
	return nil
}

func (o *Outbox) Describe() string { return "outbox " + o.dir }
func (o *Outbox) Close() error     { return nil }

// writeFileAtomic writes data to a temporary file in the same directory,
// fsyncs it, renames it into place and fsyncs the directory, so a crash
// leaves either the whole file or nothing.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
