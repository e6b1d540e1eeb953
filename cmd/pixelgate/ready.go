package main

import "github.com/pixelgate/pixelgate/proxy/upstream"

// readyChecks are what /readyz requires: the store answers, delivery
// accepts a message, and wherever a message is written (the outbox, the
// embedded store's file) the disk has room for one more of the largest
// size plus the store's headroom.
func (d *serveDeps) readyChecks() []upstream.ReadyCheck {
	checks := []upstream.ReadyCheck{{Name: "store", Check: d.store.Ping}, {Name: "delivery", Check: d.delivery.Ready}}
	need := upstream.StoreHeadroom
	if d.outboxDir != "" {
		need += d.maxMessageBytes
		checks = append(checks, upstream.ReadyCheck{Name: "outbox disk", Check: upstream.DiskRoom{Dir: d.outboxDir, Need: need}.Ready})
	}
	if d.embedded {
		// Usually the same filesystem as the outbox, hence the same need.
		checks = append(checks, upstream.ReadyCheck{Name: "data disk", Check: upstream.DiskRoom{Dir: d.dataDir, Need: need}.Ready})
	}
	return checks
}
