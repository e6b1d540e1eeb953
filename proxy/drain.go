package proxy

import (
	"context"
	"time"

	"github.com/pixelgate/pixelgate/proxy/upstream"
)

// drainingDeliverer counts the hand-overs in progress so that Shutdown can
// wait for them past its grace: cutting a message the upstream is taking
// makes the client resend one the ESP may have delivered (RFC 5321
// §4.5.3.2.6 gives the upstream 10 minutes for its final reply). Once the
// grace is over no new hand-over starts: those clients get 421 and resend,
// nothing having left.
type drainingDeliverer struct {
	upstream.Deliverer
	r *Relay
}

func (d drainingDeliverer) Deliver(ctx context.Context, env upstream.Envelope, msg []byte) error {
	r := d.r
	r.mu.Lock()
	if r.cutoff {
		r.mu.Unlock()
		return errShuttingDown
	}
	r.delivering++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.delivering--
		r.mu.Unlock()
	}()
	return d.Deliverer.Deliver(ctx, env, msg)
}

// drainDeliveries ends the grace: no hand-over starts any more, and the
// ones in progress (each bounded by DeliveryTimeout) finish and have their
// reply written before Shutdown closes the connections.
func (r *Relay) drainDeliveries(tick <-chan time.Time) {
	r.mu.Lock()
	r.cutoff = true
	// Transactions not delivering now never will; the others end (go-smtp
	// resets the session) right after their reply is written.
	idle := r.inflight - r.delivering
	r.mu.Unlock()
	for {
		if _, n := r.counts(); n == 0 {
			break
		}
		<-tick
	}
	// The replies go out microseconds after the hand-overs return; a
	// second bounds the wait should a transaction end otherwise.
	flush := time.Now().Add(time.Second)
	for time.Now().Before(flush) {
		if n, _ := r.counts(); n <= idle {
			return
		}
		<-tick
	}
}

// counts are the transactions and the hand-overs in progress.
func (r *Relay) counts() (inflight, delivering int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inflight, r.delivering
}
