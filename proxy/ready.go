package proxy

import (
	"context"
	"fmt"
	"os"
)

// Readiness (GET /readyz): the relay can do its job when the place it
// delivers to accepts messages. Load balancers and container runtimes call
// this every few seconds, so the upstream check reuses a pooled connection
// when one is idle instead of opening a new session each time.

// Ready reports whether the upstream answers: NOOP on an idle pooled
// connection, or a full new session (greeting, STARTTLS, AUTH) that then
// joins the pool, so a wrong password shows here before mail bounces.
func (u *Upstream) Ready(ctx context.Context) error {
	if c := u.get(); c != nil {
		if err := c.Noop(); err == nil {
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

// Ready reports whether a message could be written to the outbox now (the
// directory exists, is writable, and the disk accepts a file).
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
