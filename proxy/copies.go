package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/mailrewrite"
	"github.com/pixelgate/pixelgate/mailrewrite/learn"
)

// Copy is one recipient's rewritten copy of a message, made for a front
// that hands copies to the ESP by other means than this relay's SMTP
// client (the ESP HTTP API front, proxy/espapi). It is made exactly as the
// relay makes its own copies (R1: each copy is rewritten for its own
// recipient's consent), and the front reports back with CopyDelivered.
type Copy struct {
	// Key is the recipient's pseudonymous key (R6), for the delivery
	// ledger and logs; the address stays with the caller.
	Key consent.Key
	// Msg is the rewritten message.
	Msg []byte
	// Decision is the class of the consent decision: "granted",
	// "not-granted" or "fail-closed" (the store could not answer, R1).
	Decision string

	granted                bool
	asked                  bool
	resources              []learn.Resource
	campaign, campaignName string
}

// Ledger is the delivery ledger the relay uses, for fronts that must split
// a client's call and keep a retried call from sending a copy twice.
func (r *Relay) Ledger() consent.Ledger { return r.cfg.Store.Ledger() }

// RewriteFor looks up the consent of the recipient at addr and rewrites
// msg for them. A message the engine cannot parse is reported with an
// error wrapping ErrUnparseable.
func (r *Relay) RewriteFor(ctx context.Context, msg []byte, addr, campaign, campaignName string) (*Copy, error) {
	return r.rewriteFor(ctx, msg, addr, campaign, campaignName, nil)
}

// Batch makes the copies of one message for several recipients, as the
// relay makes those of a many-recipient transaction: the engine's work is
// shared by the recipients of one consent class wherever that gives each
// their own copy byte for byte (shared.go).
type Batch struct {
	r                      *Relay
	msg                    []byte
	campaign, campaignName string
	shared                 *sharedRewrite
}

// NewBatch prepares the copies of msg; msg must not change while the
// batch is in use.
func (r *Relay) NewBatch(msg []byte, campaign, campaignName string) *Batch {
	return &Batch{r: r, msg: msg, campaign: campaign, campaignName: campaignName, shared: newSharedRewrite(r, msg, campaign)}
}

// RewriteFor is the relay's RewriteFor for one recipient of the batch.
// Safe for concurrent use.
func (b *Batch) RewriteFor(ctx context.Context, addr string) (*Copy, error) {
	return b.r.rewriteFor(ctx, b.msg, addr, b.campaign, b.campaignName, b.shared)
}

func (r *Relay) rewriteFor(ctx context.Context, msg []byte, addr, campaign, campaignName string, shared *sharedRewrite) (*Copy, error) {
	k, err := r.cfg.RecipientKey(addr)
	if err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	state, failClosed := r.lookup(ctx, k)
	label, class := r.decisionOf(state, failClosed)
	d := r.decision(k, addr, state, failClosed, campaign)
	rw, err := r.rewriteCopy(nil, msg, d, r.reportOptions(campaign), shared)
	if err != nil {
		if errors.Is(err, ErrUnparseable) {
			return nil, err
		}
		return nil, fmt.Errorf("rewrite for one recipient: %w", err)
	}
	r.countRewrite(label, rw.Findings)
	return &Copy{Key: k, Msg: rw.Msg, Decision: class,
		granted: state == consent.Granted && !failClosed, asked: rw.AskedConsent,
		resources: rw.Resources, campaign: campaign, campaignName: campaignName}, nil
}

// CopyDelivered does what the relay does once the ESP accepted a copy: the
// campaign's send tally, the R5 consent request mark, learning from the
// copy. None of it delays the caller beyond a full bookkeeping queue.
func (r *Relay) CopyDelivered(log *slog.Logger, c *Copy) {
	send := consent.Send{Campaign: c.campaign, CampaignName: c.campaignName, Granted: c.granted, At: r.cfg.Now()}
	r.afterDelivery(log, c.Key, send, c.asked, c.resources)
}

// decisionOf names a consent lookup's result for metrics (label) and for
// the transaction summary (class), and counts a fail-closed one.
func (r *Relay) decisionOf(state consent.State, failClosed bool) (label, class string) {
	switch {
	case failClosed:
		r.cfg.Metrics.FailClosed.Inc()
		return decisionFailClosed, decisionFailClosed
	case state == consent.Granted:
		return state.String(), decisionGranted
	}
	return state.String(), decisionNotGranted
}

// decision is what the rewrite engine needs to make one recipient's copy.
func (r *Relay) decision(k consent.Key, addr string, state consent.State, failClosed bool, campaign string) mailrewrite.Decision {
	return mailrewrite.Decision{
		Recipient:      addr,
		Consent:        rewriteConsent(state),
		Campaign:       campaign,
		Deliverability: r.cfg.Deliverability,
		// Whether the recipient may be asked (R5) costs a store call: the
		// rewrite asks only when the message has the request placeholder.
		Ask: func() bool {
			return state == consent.None && !failClosed && r.eligibleToAsk(k)
		},
		TrackClicks:     r.cfg.TrackClicks,
		URLs:            r.cfg.URLs(k, addr, campaign),
		Learned:         r.learnedFor(campaign),
		DefaultLanguage: r.cfg.DefaultLanguage,
	}
}

func (r *Relay) reportOptions(campaign string) mailrewrite.ReportOptions {
	return mailrewrite.ReportOptions{
		CountOnly: true, // the relay keeps counts only (metrics)
		// A campaign the learner has frozen needs no list of its URLs.
		SkipResources: r.cfg.Learn == nil || !r.cfg.Learn.Learning(campaign),
	}
}

// countRewrite adds one copy's decision and findings to the metrics.
func (r *Relay) countRewrite(label string, findings map[mailrewrite.FindingCount]int) {
	m := r.cfg.Metrics
	m.Recipients.WithLabelValues(label).Inc()
	for k, n := range findings {
		vendor := k.Vendor
		if vendor == "" {
			vendor = "none"
		}
		m.Findings.WithLabelValues(k.Reason, vendor, k.Action).Add(float64(n))
	}
}

// MessageCampaign reads the campaign of a whole message that came through
// an API instead of SMTP (Mailgun's messages.mime) as the relay reads it
// for SMTP mail, after the caller's own campaign fields (first). A header
// the relay cannot read is reported with an error wrapping ErrUnparseable.
func (r *Relay) MessageCampaign(msg []byte, first ...string) (id, name string, err error) {
	h, _, err := splitMessage(msg)
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrUnparseable, err)
	}
	id, name = campaignOf(&h, r.cfg.CampaignHeader, first...)
	return id, name, nil
}

// FinishForESP does to a rewritten whole message what the relay does
// before its SMTP client sends one: pixelgate's own X-Pixelgate-* fields
// go (instructions to pixelgate never leave it), and the ESP profile's
// tracking-off fields are set (R1, R12: the ESP adds no pixel or redirect
// of its own).
func FinishForESP(msg []byte, esp ESP) ([]byte, error) {
	h, body, err := splitMessage(msg)
	if err != nil {
		return nil, fmt.Errorf("rewritten message: %w", err)
	}
	if err := forESP(&h, esp, ESPOptions{}); err != nil {
		return nil, err
	}
	return h.bytes(body), nil
}
