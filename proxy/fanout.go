package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/proxy/upstream"
)

// A transaction with many recipients (RFC 5321 §4.5.3.1.10: a relay takes
// at least 100) becomes one upstream transaction per recipient, each with
// that recipient's rewrite (R1), sent at DATA with bounded concurrency.
// SMTP gives one reply per transaction after DATA, so the delivery ledger
// (consent.Ledger, shared by replicas) records each copy the upstream
// accepted: when some copies fail temporarily the client is told 4xx and
// its retry, through any replica, sends only the copies still missing.

// Replies about the transaction as a whole.
var (
	errLedgerUnavailable = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Delivery ledger unavailable, nothing was sent: try again later"}
	errCopyBusy = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "This message is being delivered by another transaction: try again later"}
	// errAlreadyDelivered: the ledger says an earlier attempt delivered the
	// copy; it is counted as delivered, never sent again.
	errAlreadyDelivered = errors.New("copy delivered by an earlier attempt")
)

// transaction is one client transaction after DATA: the message as received
// and what all its copies share.
type transaction struct {
	id                     string
	msg                    []byte
	origHeader             rawHeader
	origBody               []byte
	campaign, campaignName string
	// mid names the message in the delivery ledger.
	mid consent.MessageID
	// holder is this transaction's claim in the ledger; empty when the
	// ledger is only read (one recipient: its outcome is all or nothing).
	holder string
	// ledgerState, for one recipient, waits for the ledger's answer, read
	// while the copy is rewritten; nil when the copies were claimed first.
	ledgerState func() consent.CopyState
	// sum gathers the transaction's log line.
	sum *txnSummary
	// shared makes the copies of a many-recipient message from one
	// rewrite per consent class (shared.go); nil for one recipient.
	shared *sharedRewrite
}

// messageID is the message's identity in the delivery ledger: the same on
// a client's retry, different for another message. An MTA retries with
// the bytes of its queue file, so the message as received identifies it;
// when it has a Message-ID (RFC 5322 §3.6.4, set once by the author) the
// header section is left out, so a client that rewrites trace or date
// fields on retry is still recognised, while the body digest keeps two
// messages that reuse an id apart. The sender is in too. SHA-256 of all
// that is not an address hash (R6): nothing in it can be tested against a
// list of addresses without the message.
func messageID(from string, h *rawHeader, body, msg []byte) consent.MessageID {
	d := sha256.New()
	io.WriteString(d, "pixelgate delivery ledger v1\x00")
	io.WriteString(d, from)
	d.Write([]byte{0})
	if id := strings.TrimSpace(h.get("Message-ID")); id != "" {
		io.WriteString(d, "id\x00"+id+"\x00")
		d.Write(body)
	} else {
		io.WriteString(d, "whole\x00")
		d.Write(msg)
	}
	var m consent.MessageID
	copy(m[:], d.Sum(nil))
	return m
}

// process hands one copy per recipient to the upstream and gives the
// client the transaction's one reply (fanoutReply).
func (r *Relay) process(s *session, msg []byte, sum *txnSummary) error {
	m := r.cfg.Metrics
	origHeader, origBody, err := splitMessage(msg)
	if err != nil {
		m.Messages.WithLabelValues("unparseable").Inc()
		sum.reason = "unparseable"
		return unparseable(fmt.Errorf("%w: %v", ErrUnparseable, err))
	}
	t := &transaction{id: sum.id, msg: msg, origHeader: origHeader, origBody: origBody, sum: sum}
	t.campaign, t.campaignName = campaignOf(&t.origHeader, r.cfg.CampaignHeader)
	sum.campaign = t.campaign
	t.mid = messageID(s.env.From, &t.origHeader, origBody, msg)
	log := r.cfg.Logger.With("txn", t.id)

	if len(s.rcpts) == 1 {
		return r.processOne(s, t, log)
	}
	t.shared = newSharedRewrite(r, msg, t.campaign)
	states, err := r.claimCopies(t, s.rcpts)
	if err != nil {
		sum.reason = "ledger-unavailable"
		log.Warn("delivery ledger unavailable: transaction deferred", "err", err)
		return errLedgerUnavailable
	}
	results := make([]error, len(s.rcpts))
	already := make([]bool, len(s.rcpts))
	earlier := 0
	slots := make(chan struct{}, r.cfg.CopyConcurrency)
	var wg sync.WaitGroup
	for i, rc := range s.rcpts {
		switch states[i] {
		case consent.CopyDelivered:
			// Accepted upstream by an earlier attempt: never twice.
			earlier++
			already[i] = true
			m.Messages.WithLabelValues("already-delivered").Inc()
			continue
		case consent.CopyBusy:
			results[i] = errCopyBusy
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			results[i] = r.sendCopy(s, t, rc)
		})
	}
	wg.Wait()
	sum.copies(results, already)
	r.releaseCopies(log, t, s.rcpts, results)
	return r.fanoutReply(log, s, t, results, earlier)
}

// processOne sends a one-recipient transaction's copy. The ledger is read
// while the copy is rewritten, so its round trip costs no time of its own;
// sendCopy waits for the answer before the hand-over.
func (r *Relay) processOne(s *session, t *transaction, log *slog.Logger) error {
	answer := make(chan consent.CopyState, 1) // never blocks: sendCopy may not wait
	// The session's recipient list is reset for the next transaction,
	// perhaps before this read ends: the goroutine gets its own.
	rcpts := []*recipient{s.rcpts[0]}
	go func() {
		st, _ := r.claimCopies(t, rcpts) // one recipient: never an error
		answer <- st[0]
	}()
	t.ledgerState = sync.OnceValue(func() consent.CopyState { return <-answer })
	results := []error{r.sendCopy(s, t, s.rcpts[0])}
	already := []bool{false}
	earlier := 0
	if errors.Is(results[0], errAlreadyDelivered) {
		// Accepted upstream by an earlier attempt: never twice.
		results[0], already[0], earlier = nil, true, 1
		r.cfg.Metrics.Messages.WithLabelValues("already-delivered").Inc()
	}
	t.sum.copies(results, already)
	return r.fanoutReply(log, s, t, results, earlier)
}

// claimCopies asks the ledger which copies to send. One recipient is only
// checked (a read): its copy is sent or not as a whole, and the client's
// reply says which; a copy delivered by an earlier many-recipient attempt
// is still skipped. A store that cannot answer then fails open, as before
// the ledger existed. Many recipients are claimed, so that two replicas
// serving the same retry at once never both send a copy; if the ledger
// cannot answer nothing is sent and the client retries (a duplicate is
// worse than a delay, and the client keeps the message).
func (r *Relay) claimCopies(t *transaction, rcpts []*recipient) ([]consent.CopyState, error) {
	keys := make([]consent.Key, len(rcpts))
	for i, rc := range rcpts {
		keys[i] = rc.key
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StoreTimeout)
	defer cancel()
	if len(rcpts) == 1 {
		st, err := r.cfg.Store.Ledger().Check(ctx, t.mid, keys)
		if err != nil {
			r.cfg.Metrics.LedgerErrors.Inc()
			return []consent.CopyState{consent.CopyFree}, nil
		}
		return st, nil
	}
	var rnd [12]byte
	if _, err := io.ReadFull(r.cfg.Rand, rnd[:]); err != nil {
		return nil, fmt.Errorf("ledger holder: %w", err)
	}
	t.holder = hex.EncodeToString(rnd[:])
	st, err := r.cfg.Store.Ledger().Claim(ctx, t.mid, keys, t.holder, r.claimHold(len(rcpts)))
	if err != nil {
		r.cfg.Metrics.LedgerErrors.Inc()
		return nil, err
	}
	return st, nil
}

// claimHold covers the sending of n copies, CopyConcurrency at a time, each
// within DeliveryTimeout, and a little more: it is how long a retry waits
// (4xx) when this replica dies holding the claim.
func (r *Relay) claimHold(n int) time.Duration {
	rounds := (n + r.cfg.CopyConcurrency - 1) / r.cfg.CopyConcurrency
	return time.Duration(rounds)*r.cfg.DeliveryTimeout + r.cfg.DeliveryTimeout/4
}

// delivered records a copy the upstream accepted. It runs right after the
// upstream's 250, so the window in which a crash leaves a delivered copy
// unrecorded (and a retry sends it again: RFC 5321 §6.1 prefers that to a
// loss) is this one store write.
func (t *transaction) delivered(r *Relay, log *slog.Logger, k consent.Key) {
	if t.holder == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StoreTimeout)
	defer cancel()
	if err := r.cfg.Store.Ledger().Delivered(ctx, t.mid, []consent.Key{k}); err != nil {
		r.cfg.Metrics.LedgerErrors.Inc()
		// The claim stays until its hold ends: a retry before then is
		// deferred, one after it could send this copy again.
		log.Warn("delivery ledger: delivered copy not recorded", "err", err)
	}
}

// releaseCopies gives back the claims of copies not delivered, so that the
// client's retry may send them at once.
func (r *Relay) releaseCopies(log *slog.Logger, t *transaction, rcpts []*recipient, results []error) {
	if t.holder == "" {
		return
	}
	var keys []consent.Key
	for i, err := range results {
		if err != nil && err != errCopyBusy {
			keys = append(keys, rcpts[i].key)
		}
	}
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StoreTimeout)
	defer cancel()
	if err := r.cfg.Store.Ledger().Release(ctx, t.mid, keys, t.holder); err != nil {
		r.cfg.Metrics.LedgerErrors.Inc()
		// Not a loss: the claims end with their hold.
		log.Warn("delivery ledger: release failed, retries wait for the claim to end", "err", err)
	}
}

// fanoutReply is the transaction's one reply after DATA:
//   - every copy accepted (now or by an earlier attempt): 250;
//   - some copy failed temporarily: 4xx; the retry sends only the copies
//     not accepted (the ledger), those refused permanently included, so
//     they are reported once the outcome is final;
//   - every copy refused permanently and none delivered: the upstream's
//     5xx (a single recipient gets exactly the upstream's reply);
//   - some refused permanently, the others delivered: 250 and a delivery
//     status notification (RFC 3464) to the sender naming the refused
//     recipients with the upstream's reply, as any MTA that accepted a
//     message must do (RFC 5321 §6.1); if the notification cannot be
//     handed over, 4xx instead, so nothing is lost.
func (r *Relay) fanoutReply(log *slog.Logger, s *session, t *transaction, results []error, earlier int) error {
	if len(results) == 1 {
		return results[0]
	}
	var temp, perm []int
	for i, err := range results {
		if err == nil {
			continue
		}
		if replyOf(err).Code/100 == 5 {
			perm = append(perm, i)
		} else {
			temp = append(temp, i)
		}
	}
	n := len(results)
	delivered := n - len(temp) - len(perm)
	switch {
	case len(temp) == 0 && len(perm) == 0:
		return nil
	case len(temp) > 0:
		first := replyOf(results[temp[0]])
		r.cfg.Metrics.Messages.WithLabelValues("partial-deferred").Inc()
		return &smtp.SMTPError{Code: 451, EnhancedCode: tempEnhanced(first.EnhancedCode),
			Message: fmt.Sprintf("%d of %d recipients not accepted yet (%d %s); retry: the %d accepted will not be sent again",
				len(temp)+len(perm), n, first.Code, first.Message, delivered)}
	case delivered == 0:
		return results[perm[0]]
	}
	failed := make([]dsnRecipient, len(perm))
	for j, i := range perm {
		failed[j] = dsnRecipient{addr: s.rcpts[i].to, reply: replyOf(results[i])}
	}
	if err := r.sendDSN(s, t, failed); err != nil {
		t.sum.setReason("dsn-not-sent")
		// The code only: an upstream's reply text may quote the sender.
		log.Warn("delivery status notification not sent: transaction deferred", "refused", len(perm), "code", replyOf(err).Code)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
			Message: fmt.Sprintf("%d of %d recipients refused permanently and the report to the sender could not be sent: retry", len(perm), n)}
	}
	r.cfg.Metrics.Messages.WithLabelValues("partial-refused-dsn").Inc()
	return nil
}

// replyOf is err as an SMTP reply; anything else is a temporary failure.
func replyOf(err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	return upstream.TempFailure("%v", err)
}

// tempEnhanced keeps a temporary enhanced code, or says 4.4.0.
func tempEnhanced(ec smtp.EnhancedCode) smtp.EnhancedCode {
	if ec[0] == 4 {
		return ec
	}
	return smtp.EnhancedCode{4, 4, 0}
}
