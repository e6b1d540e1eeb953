package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Readiness (GET /readyz): the process can do its job when the store
// answers, the place it delivers to accepts messages and the disk it writes
// to has room for one more. Load balancers and container runtimes call this
// every few seconds, so the upstream check reuses a pooled connection when
// one is idle instead of opening a new session each time.

// ReadyCheck is one condition of readiness, named for the operator.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Readiness runs a fixed list of checks. Its detailed answer names internal
// addresses and paths, so it belongs to the admin side (log, dashboard),
// never to the public /readyz body.
type Readiness struct {
	checks []ReadyCheck
	log    *slog.Logger

	mu   sync.Mutex
	last string // outcome of the previous run, to log changes only
}

// NewReadiness returns a Readiness over checks that logs to log each time
// the outcome changes: probes come every few seconds, and a line per probe
// would bury everything else while a replica is down.
func NewReadiness(log *slog.Logger, checks ...ReadyCheck) *Readiness {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Readiness{checks: checks, log: log, last: "ready"}
}

// Ready runs every check, not only up to the first failure, so that one
// look shows every cause; the error names each failing check.
func (r *Readiness) Ready(ctx context.Context) error {
	var errs []error
	for _, c := range r.checks {
		if err := c.Check(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
		}
	}
	err := errors.Join(errs...)
	outcome := "ready"
	if err != nil {
		outcome = err.Error()
	}
	r.mu.Lock()
	changed := outcome != r.last
	r.last = outcome
	r.mu.Unlock()
	if changed {
		if err != nil {
			r.log.Warn("not ready", "err", err)
		} else {
			r.log.Info("ready again")
		}
	}
	return err
}

// Ready reports whether the upstream answers: NOOP on an idle pooled
// connection, or a full new session (greeting, STARTTLS, AUTH) that then
// joins the pool, so a wrong password shows here before mail bounces.
func (u *Upstream) Ready(ctx context.Context) error {
	if c := u.get(); c != nil {
		// The probe's deadline bounds the NOOP: the command timeout is
		// RFC 5321's 5 minutes, far longer than a health check waits.
		c.until, _ = ctx.Deadline()
		err := c.Noop()
		c.until = time.Time{}
		if err == nil {
			u.put(c)
			return nil
		}
		_ = c.Close()
	}
	c, err := u.dial(ctx)
	if err != nil {
		return fmt.Errorf("upstream %s: %w", u.display, err)
	}
	u.put(c)
	return nil
}

// Ready reports whether a message could be written to the outbox now: the
// directory exists and takes a file. Whether the disk has room for a whole
// message is DiskRoom's question.
func (o *Outbox) Ready(context.Context) error {
	f, err := os.CreateTemp(o.dir, ".ready-")
	if err != nil {
		return fmt.Errorf("outbox %s not writable: %w", o.dir, err)
	}
	name := f.Name()
	err = f.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("outbox %s: %w", o.dir, err)
	}
	return nil
}

// StoreHeadroom is the free space kept for the embedded store beyond the
// messages themselves: bbolt grows its file in steps of up to 16 MiB (its
// default allocation size) and every commit writes the changed pages and
// the freelist to new space, so one step free lets the consent, send and
// open records of the next message still be written.
const StoreHeadroom int64 = 16 << 20

// DiskRoom is a readiness check on the filesystem holding Dir: it needs at
// least Need bytes available, or a message accepted with 250 could fail
// half-written. Creating an empty file proves nothing on a full disk, so
// this asks the filesystem.
type DiskRoom struct {
	Dir  string
	Need int64
	// Avail returns the bytes that an unprivileged writer may still use on
	// the filesystem holding dir; nil means statfs(2). Tests inject a full
	// disk here.
	Avail func(dir string) (uint64, error)
}

// Ready reports whether Dir's filesystem has Need bytes available.
func (d DiskRoom) Ready(context.Context) error {
	avail := d.Avail
	if avail == nil {
		avail = statfsAvail
	}
	n, err := avail(d.Dir)
	if err != nil {
		return fmt.Errorf("free space of %s: %w", d.Dir, err)
	}
	if d.Need > 0 && n < uint64(d.Need) {
		return fmt.Errorf("%s has %s free, less than the %s that accepting one largest message needs",
			d.Dir, mebibytes(n), mebibytes(uint64(d.Need)))
	}
	return nil
}

// statfsAvail counts the blocks available to unprivileged users (f_bavail),
// not the free ones (f_bfree): the reserved blocks are the system's, for
// root to repair a full disk, even when pixelgate runs as root.
func statfsAvail(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

func mebibytes(n uint64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}
