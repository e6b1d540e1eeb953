package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
)

// invalid marks a call that is wrong in itself; nothing was written.
func invalid(msg string) error { return fmt.Errorf("%w: %s", consent.ErrInvalid, msg) }

// wrapErr marks failures to reach Redis or get an answer in time as
// consent.ErrUnavailable, so callers fail closed on them (R1) and can
// tell them from a programming error.
func wrapErr(err error) error {
	if err == nil || errors.Is(err, consent.ErrUnavailable) {
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", consent.ErrUnavailable, err)
	}
	return err
}

func unavailable(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &ne):
		return true
	}
	// Replies a server gives while it cannot serve: loading, failing over,
	// cluster down, busy script, read-only replica after a failover.
	msg := err.Error()
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "NOREPLICAS"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
