package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/mailrewrite"
	"github.com/pixelgate/pixelgate/mailrewrite/learn"
	"github.com/pixelgate/pixelgate/proxy/upstream"
)

// IsInternalHeader reports whether a header field is pixelgate's own
// (X-Pixelgate-*): instructions to pixelgate that must not leave it,
// whichever front they came through.
func IsInternalHeader(name string) bool {
	return len(name) >= len(internalHeaderPrefix) && strings.EqualFold(name[:len(internalHeaderPrefix)], internalHeaderPrefix)
}

const internalHeaderPrefix = "x-pixelgate-"

// sendCopy turns the received message into one recipient's copy and hands
// it over synchronously: nil only once the upstream accepted it (R1: every
// copy is rewritten for its own recipient's consent).
func (r *Relay) sendCopy(s *session, t *transaction, rc *recipient) error {
	// Per-copy lines carry the recipient key only when the operator asked
	// (--log-recipient-keys): by default the transaction's summary line
	// says everything, in counts (R8 minimisation).
	log := r.cfg.Logger.With("txn", t.id)
	copyLevel := slog.LevelDebug
	if r.cfg.LogRecipientKeys {
		log = log.With("rk", rc.key.String())
		copyLevel = slog.LevelInfo
	}
	m := r.cfg.Metrics
	campaign := t.campaign

	state, failClosed := rc.consent.wait()
	decisionLabel, class := r.decisionOf(state, failClosed)
	t.sum.decision(class)
	d := r.decision(rc.key, rc.to, state, failClosed, campaign)
	o := r.reportOptions(campaign)
	// The rewritten copy and the final message go in reused buffers: after
	// the read buffer they were the relay's largest garbage.
	// Nothing keeps either once Deliver returned (sendCopy is synchronous).
	rw, err := r.rewriteCopy(r.buffers.get(), t.msg, d, o, t.shared)
	defer func() { r.buffers.put(rw.Msg) }()
	if err != nil {
		if errors.Is(err, ErrUnparseable) {
			m.Messages.WithLabelValues("unparseable").Inc()
			// The reason goes to the client only: it may quote message
			// content, which has no place in logs (R8).
			t.sum.setReason("unparseable")
			return unparseable(err)
		}
		m.Messages.WithLabelValues("internal-error").Inc()
		t.sum.setReason("internal-error")
		log.Error("rewrite failed", "err", err)
		return errInternal
	}
	if t.ledgerState != nil {
		switch t.ledgerState() {
		case consent.CopyDelivered:
			return errAlreadyDelivered
		case consent.CopyBusy:
			return errCopyBusy
		}
	}
	r.countRewrite(decisionLabel, rw.Findings)

	out, err := r.finish(s, t.id, t.origHeader, t.origBody, rw.Msg, r.buffers.get())
	defer func() { r.buffers.put(out) }()
	if err != nil {
		m.Messages.WithLabelValues("internal-error").Inc()
		t.sum.setReason("internal-error")
		log.Error("finishing message failed", "err", err)
		return errInternal
	}

	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.DeliveryTimeout)
	start := time.Now()
	env := s.env
	env.To, env.Key = rc.to, rc.key
	err = r.cfg.Delivery.Deliver(ctx, env, out)
	cancel()
	if err != nil {
		err = r.deliveryFailed(err)
		log.Log(context.Background(), copyLevel, "copy", "decision", class, "code", replyOf(err).Code)
		return err
	}
	m.UpstreamSeconds.Observe(time.Since(start).Seconds())
	m.Messages.WithLabelValues("delivered").Inc()
	// Recorded before anything else: the window in which a crash could
	// make a retry send this copy again is this one store write.
	t.delivered(r, log, rc.key)

	// Bookkeeping after the hand-over runs after the client has its 250:
	// a store hiccup must not make the client resend a delivered message,
	// and the embedded store's write batching must not delay the reply.
	send := consent.Send{Campaign: campaign, CampaignName: t.campaignName,
		Granted: state == consent.Granted && !failClosed, At: r.cfg.Now()}
	r.afterDelivery(log, rc.key, send, rw.AskedConsent, rw.Resources)
	log.Log(context.Background(), copyLevel, "copy", "decision", class, "code", 250, "bytes", len(out))
	return nil
}

// afterDelivery adds the send to the campaign's tally, written in bulk
// (proxy/sendtally.go), and records the consent request (R5) and feeds the original
// copy to the campaign's learner in the background; Shutdown waits for
// both. When too much is pending the work runs inline, which slows the
// client instead of piling up goroutines.
func (r *Relay) afterDelivery(log *slog.Logger, k consent.Key, send consent.Send, asked bool, urls []learn.Resource) {
	r.sends.add(send)
	if !asked && (r.cfg.Learn == nil || len(urls) == 0) {
		return
	}
	work := func() {
		defer r.learnFrom(log, send.Campaign, urls)
		if !asked {
			return
		}
		// One write per recipient: R5 evidence must be durable, not a
		// statistic that may be dropped.
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StoreTimeout)
		defer cancel()
		if err := r.cfg.Store.MarkAsked(ctx, k); err != nil {
			log.Warn("mark consent request failed", "err", err)
		}
	}
	select {
	case r.bookkeeping <- struct{}{}:
		r.background.Add(1)
		go func() {
			defer func() { <-r.bookkeeping; r.background.Done() }()
			work()
		}()
	default:
		work()
	}
}

// pendingLookup is a consent lookup under way. It starts when the client
// names the recipient, so that the store's round trip (Redis) overlaps the
// transfer of the message instead of adding to the wait for the reply.
// Consent is still read at send time: milliseconds before the
// hand-over, as before.
type pendingLookup struct {
	done       chan struct{}
	state      consent.State
	failClosed bool
}

func (r *Relay) startLookup(k consent.Key) *pendingLookup {
	p := &pendingLookup{done: make(chan struct{})}
	// Not in r.background: a lookup ends within StoreTimeout on its own,
	// and one cut short by a closing store only fails closed.
	go func() {
		defer close(p.done)
		p.state, p.failClosed = r.lookup(context.Background(), k)
	}()
	return p
}

// wait returns the lookup's answer; without a lookup (no RCPT, which go-smtp
// does not let happen) it fails closed.
func (p *pendingLookup) wait() (consent.State, bool) {
	if p == nil {
		return consent.None, true
	}
	<-p.done
	return p.state, p.failClosed
}

// lookup returns the recipient's consent state within StoreTimeout of
// parent; failClosed is true when the store could not answer, and the
// state is then None (R1).
func (r *Relay) lookup(parent context.Context, k consent.Key) (state consent.State, failClosed bool) {
	ctx, cancel := context.WithTimeout(parent, r.cfg.StoreTimeout)
	defer cancel()
	st, err := r.cfg.Store.Lookup(ctx, []consent.Key{k})
	if err != nil || len(st) != 1 {
		return consent.None, true
	}
	return st[0].State, false
}

// eligibleToAsk treats a store error as "do not ask" (R5 errs on quiet).
func (r *Relay) eligibleToAsk(k consent.Key) bool {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StoreTimeout)
	defer cancel()
	ok, err := r.cfg.Store.EligibleToAsk(ctx, k)
	return err == nil && ok
}

// rewriteConsent maps the stored state to the rewrite's view: anything but
// granted is refusal (R1).
func rewriteConsent(s consent.State) mailrewrite.Consent {
	switch s {
	case consent.Granted:
		return mailrewrite.Granted
	case consent.Refused, consent.Withdrawn:
		return mailrewrite.Refused
	}
	return mailrewrite.Unknown
}

// finish applies the relay's header changes to the rewritten message:
// internal headers out, ESP tracking switches in, Received on top, DKIM
// fixed last so signatures cover the final bytes.
//
// The message is appended to dst.
func (r *Relay) finish(s *session, id string, origHeader rawHeader, origBody, rewritten, dst []byte) ([]byte, error) {
	h, body, err := splitMessage(rewritten)
	if err != nil {
		return nil, fmt.Errorf("rewritten message: %w", err)
	}
	if err := forESP(&h, r.cfg.ESP, r.cfg.ESPOptions); err != nil {
		return nil, err
	}
	h.prepend("Received", r.received(s, id))
	if r.cfg.DKIM != nil || hasDKIM(&h) {
		res, err := r.cfg.DKIM.fixDKIM(origHeader, origBody, &h, body)
		if err != nil {
			r.cfg.Logger.Warn("DKIM signing failed, message sent without that signature", "err", err)
		}
		m := r.cfg.Metrics.DKIM
		m.WithLabelValues("resigned").Add(float64(res.Resigned))
		m.WithLabelValues("removed").Add(float64(res.Removed))
		m.WithLabelValues("signed").Add(float64(res.Signed))
	}
	return h.appendMessage(dst[:0], body), nil
}

// forESP removes pixelgate's own X-Pixelgate-* fields (instructions to
// pixelgate never leave it) and sets the ESP profile's tracking-off fields.
func forESP(h *rawHeader, esp ESP, opt ESPOptions) error {
	h.removeIf(func(name string) bool {
		return IsInternalHeader(name)
	})
	return applyESP(h, esp, opt)
}

func hasDKIM(h *rawHeader) bool {
	for _, f := range h.fields {
		if strings.EqualFold(f.name(), "DKIM-Signature") {
			return true
		}
	}
	return false
}

// received is the trace field (RFC 5321 §4.4) with the RFC 3848 protocol
// name. The recipient is left out ("for" is optional) to keep addresses out
// of what the relay writes itself.
func (r *Relay) received(s *session, id string) string {
	proto := "ESMTP"
	if _, isTLS := s.conn.TLSConnectionState(); isTLS {
		proto += "S"
	}
	if s.user != "" {
		proto += "A"
	}
	helo := sanitizeHelo(s.conn.Hostname())
	return fmt.Sprintf("from %s ([%s])\r\n\tby %s (pixelgate) with %s id %s;\r\n\t%s",
		helo, s.clientIP, r.cfg.Hostname, proto, id, r.cfg.Now().Format(time.RFC1123Z))
}

// sanitizeHelo keeps the client's EHLO argument from injecting header syntax.
func sanitizeHelo(h string) string {
	h = strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' || r == '(' || r == ')' || r == ';' {
			return -1
		}
		return r
	}, h)
	if h == "" {
		return "unknown"
	}
	if len(h) > 255 {
		h = h[:255]
	}
	return h
}

// deliveryFailed counts a failed hand-over and returns the reply.
func (r *Relay) deliveryFailed(err error) error {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		se = upstream.TempFailure("%v", err)
	}
	kind, outcome := "unreachable", "upstream-temporary"
	switch {
	case se.Code/100 == 5:
		kind, outcome = "permanent", "upstream-permanent"
	case se.EnhancedCode == smtp.EnhancedCode{4, 4, 0}:
		kind = "temporary"
	}
	r.cfg.Metrics.UpstreamErrors.WithLabelValues(kind).Inc()
	r.cfg.Metrics.Messages.WithLabelValues(outcome).Inc()
	// Only the code reaches the logs (the summary line): upstreams often
	// quote the address in the reply text.
	return se
}

// unparseable is the 554 5.6.0 reply with the reason (RFC 3463 §3.7).
func unparseable(err error) error {
	// SMTP replies are ASCII lines (RFC 5321 §4.2).
	reason := strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, err.Error())
	if len(reason) > 400 {
		reason = reason[:400]
	}
	return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: strings.ToUpper(reason[:1]) + reason[1:]}
}
