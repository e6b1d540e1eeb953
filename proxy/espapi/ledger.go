package espapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// A call that must be split into several upstream calls (a Postmark batch
// longer than the ESP takes, content that cannot be factored into one
// template) can fail half-way. The delivery ledger, shared with the SMTP
// relay and by replicas, records each recipient's copy the ESP accepted,
// so the client's retry of the same call sends only the copies missing.

// ledgerRun is one call's use of the ledger.
type ledgerRun struct {
	s      *Server
	mid    consent.MessageID
	holder string
}

// callID names a client call in the ledger: the same on a retry (the same
// bytes, or ledgerBody, to the same ESP path with the same credential),
// different for another call. It is a digest: no address or key can be read from it.
func callID(c *call) consent.MessageID {
	d := sha256.New()
	io.WriteString(d, "pixelgate esp api ledger v1\x00")
	io.WriteString(d, string(c.esp)+"\x00"+upstreamPath(c)+"\x00")
	for _, h := range forwardedHeaders[:3] {
		io.WriteString(d, c.r.Header.Get(h)+"\x00")
	}
	if c.ledgerBody != nil {
		d.Write(c.ledgerBody)
	} else {
		d.Write(c.body)
	}
	var m consent.MessageID
	copy(m[:], d.Sum(nil))
	return m
}

// claim takes the copies of keys for this call. It returns each key's
// state: CopyClaimed (send it), CopyDelivered (an earlier attempt did:
// never again), CopyBusy (another call holds it now).
func (s *Server) claim(ctx context.Context, c *call, keys []consent.Key, parts int) (*ledgerRun, []consent.CopyState, error) {
	var nonce [12]byte
	if _, err := io.ReadFull(s.cfg.Rand, nonce[:]); err != nil {
		return nil, nil, fmt.Errorf("ledger holder: %w", err)
	}
	run := &ledgerRun{s: s, mid: callID(c), holder: "esp-api-" + hex.EncodeToString(nonce[:])}
	// Held for as long as the parts may take, with a margin; a crash lets
	// the hold lapse so a retry can send.
	hold := time.Duration(parts+1) * s.cfg.UpstreamTimeout
	states, err := s.cfg.Relay.Ledger().Claim(ctx, run.mid, keys, run.holder, hold)
	if err != nil {
		return nil, nil, &apiError{status: http.StatusServiceUnavailable, retryAfter: 30, reason: "ledger-unavailable",
			msg: "pixelgate: the delivery ledger is unavailable; nothing was sent, try again later"}
	}
	return run, states, nil
}

// delivered records the ESP's acceptance at once: the window in which a
// crash could make a retry send these copies again is this one write.
func (l *ledgerRun) delivered(ctx context.Context, keys []consent.Key) error {
	if len(keys) == 0 {
		return nil
	}
	return l.s.cfg.Relay.Ledger().Delivered(context.WithoutCancel(ctx), l.mid, keys)
}

// release lets a retry send the copies that were not delivered.
func (l *ledgerRun) release(ctx context.Context, keys []consent.Key) error {
	if len(keys) == 0 {
		return nil
	}
	return l.s.cfg.Relay.Ledger().Release(context.WithoutCancel(ctx), l.mid, keys, l.holder)
}

// claimTodo claims keys for this call (parts upstream calls long) and
// returns the indexes of the copies to send now and how many an earlier
// attempt delivered. A copy another request holds right now fails the
// whole call: sending the rest would turn the client's retry into a
// partial send it cannot see.
func (s *Server) claimTodo(ctx context.Context, c *call, keys []consent.Key, parts int) (*ledgerRun, []int, int, error) {
	run, states, err := s.claim(ctx, c, keys, parts)
	if err != nil {
		return nil, nil, 0, err
	}
	var todo []int
	earlier := 0
	for i, st := range states {
		switch st {
		case consent.CopyClaimed:
			todo = append(todo, i)
		case consent.CopyDelivered:
			earlier++
		default:
			_ = run.release(ctx, keys)
			return nil, nil, 0, &apiError{status: http.StatusConflict, retryAfter: 30, reason: "copy-busy",
				msg: "pixelgate: this call is being delivered by another request right now; try again later"}
		}
	}
	c.sum.earlier = earlier
	return run, todo, earlier, nil
}

// settle records one upstream call's outcome: the copies the ESP accepted
// as delivered, the others released for the retry. A ledger failure here
// cannot undo what the ESP did, so it is logged, not returned.
func (l *ledgerRun) settle(ctx context.Context, log *slog.Logger, accepted, failed []consent.Key) {
	if err := l.delivered(ctx, accepted); err != nil {
		log.Warn("ledger: marking delivered copies failed; a retry may send them again", "err", err)
	}
	if err := l.release(ctx, failed); err != nil {
		log.Warn("ledger: releasing failed copies failed; a retry waits for the hold to lapse", "err", err)
	}
}

// splitResult is what a split call's upstream calls came to.
type splitResult struct {
	// replies are the ESP's answers to the calls made, in group order.
	replies []*reply
	// failed is the first answer that was not a success, if any: the
	// client gets it, and its retry sends only what is still missing.
	failed *reply
	// earlier counts copies an earlier attempt delivered (not sent again).
	earlier int
}

// sendSplit sends copies in groups of up to size, one upstream call per
// group (body and content type from build), under the delivery ledger:
// copies delivered by an earlier attempt of the same call are left out,
// each group's copies are marked delivered as soon as the ESP accepts
// them, and the copies of failed groups are released for the retry.
func (s *Server) sendSplit(c *call, copies []recipientCopy, size int, build func([]recipientCopy) ([]byte, string, error)) (*splitResult, error) {
	ctx := c.r.Context()
	keys := make([]consent.Key, len(copies))
	for i, cp := range copies {
		keys[i] = cp.copy.Key
	}
	groups := (len(copies) + size - 1) / size
	run, todoIdx, earlier, err := s.claimTodo(ctx, c, keys, groups)
	if err != nil {
		return nil, err
	}
	res := &splitResult{earlier: earlier}
	todo := make([]recipientCopy, len(todoIdx))
	for i, j := range todoIdx {
		todo[i] = copies[j]
	}
	var batches [][]recipientCopy
	for len(todo) > 0 {
		n := min(size, len(todo))
		batches = append(batches, todo[:n])
		todo = todo[n:]
	}
	replies := make([]*reply, len(batches))
	errs := make([]error, len(batches))
	s.parallel(len(batches), func(i int) {
		b := batches[i]
		bk := make([]consent.Key, len(b))
		for j, cp := range b {
			bk[j] = cp.copy.Key
		}
		body, ct, err := build(b)
		if err == nil {
			replies[i], err = s.forward(ctx, c, upstreamPath(c), ct, body)
		}
		if err == nil && replies[i].ok() {
			run.settle(ctx, c.log, bk, nil)
			s.delivered(c, b)
			return
		}
		errs[i] = err
		run.settle(ctx, c.log, nil, bk)
	})
	for i := range batches {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if !replies[i].ok() && res.failed == nil {
			res.failed = replies[i]
		}
		res.replies = append(res.replies, replies[i])
	}
	return res, nil
}
