package proxy

import (
	"context"
	"log/slog"

	"github.com/pixelgate/pixelgate/mailrewrite"
	"github.com/pixelgate/pixelgate/mailrewrite/learn"
)

// learnedFor returns what the campaign's earlier copies showed to vary per
// recipient, for the Decision. A store error does not let those values
// through: the last known shapes, or the strict rules, apply (R12, fail
// closed; the learn store counts and logs it).
func (r *Relay) learnedFor(campaign string) mailrewrite.PerRecipientMatcher {
	if r.cfg.Learn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StoreTimeout)
	defer cancel()
	return r.cfg.Learn.ForCopy(ctx, campaign)
}

// learnFrom feeds the original copy's URLs to the campaign's learner. It
// runs with the rest of the bookkeeping, after the client has its 250, and
// costs one cached read once the campaign has been seen enough.
func (r *Relay) learnFrom(log *slog.Logger, campaign string, c []learn.Resource) {
	if r.cfg.Learn == nil || len(c) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StoreTimeout)
	defer cancel()
	if err := r.cfg.Learn.Observe(ctx, campaign, c); err != nil {
		log.Warn("learning from the campaign's copy failed", "err", err)
	}
}
