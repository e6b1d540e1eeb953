package consent

import (
	"context"
	"log/slog"
	"time"
)

// RunPurge calls st.Purge every interval until ctx ends, so retention (R9)
// is enforced by the running server rather than by a policy document. A
// failed purge is logged and retried at the next tick; nothing is lost by
// waiting.
func RunPurge(ctx context.Context, st Store, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := st.Purge(ctx); err != nil && ctx.Err() == nil {
			log.Warn("retention purge failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
