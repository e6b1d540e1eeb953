package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// SendTallyConfig bounds the relay's send tally. Zero fields take the
// defaults documented on each.
type SendTallyConfig struct {
	// FlushInterval is how often the tally is written to the store under
	// steady traffic (default 1 s). A campaign's first send time is known
	// to this precision: a write carries its latest send time.
	FlushInterval time.Duration
	// Quiet: the tally is also written once no message has been delivered
	// for this long (default 20 ms; negative: never), so figures appear at
	// once when mail trickles in, while steady traffic, which never leaves
	// such a gap, is written by FlushInterval and MaxPending alone. This
	// rule writes at most once per Quiet, whatever the traffic.
	Quiet time.Duration
	// MaxPending sends waiting make the tally write before the interval is
	// up (default 512).
	MaxPending int
	// MaxCampaigns is how many (campaign, consent) counts the tally holds
	// (default 4096); a send for one more is dropped and counted. Keep it
	// above MaxPending: a working store then never lets it fill, since a
	// write comes before that many sends are pending.
	MaxCampaigns int
	// MaxFailures is how many failed writes a count survives (default 10);
	// then it is dropped and counted. Send counts are statistics: an
	// outage must not grow memory without bound.
	MaxFailures int
	// Ticks, when set, replaces the FlushInterval ticker (tests).
	Ticks <-chan time.Time
}

func (c *SendTallyConfig) defaults() {
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.Quiet == 0 {
		c.Quiet = 20 * time.Millisecond
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 512
	}
	if c.MaxCampaigns <= 0 {
		c.MaxCampaigns = 4096
	}
	if c.MaxFailures <= 0 {
		c.MaxFailures = 10
	}
}

// tallyWriters bounds the writes of one flush that run at once; running
// them together lets the embedded store commit them as one.
const tallyWriters = 8

// sendTally adds up delivered messages per campaign and consent and writes
// them with one RecordSend per (campaign, granted): under load,
// the embedded store's commit (write and fdatasync) then carries a second
// of messages instead of a few. Only counts are held: no recipient (R8).
type sendTally struct {
	cfg     SendTallyConfig
	store   consent.Store
	timeout time.Duration // per store write
	log     *slog.Logger
	metrics *RelayMetrics

	mu      sync.Mutex
	pending map[tallyKey]*tallyCount
	sends   int    // messages in pending
	seq     uint64 // messages ever added, to see whether any came meanwhile
	failing bool   // the last write failed: only the ticker retries
	closed  bool   // sends are written one by one
	final   bool   // the last flush is over: nothing is written from the tally

	start    sync.Once
	kick     chan struct{} // the pending bound was reached
	wake     chan struct{} // a send arrived in an empty tally
	stop     chan struct{}
	done     chan struct{} // closed when the loop has returned
	flushing chan struct{} // one flush at a time
}

type tallyKey struct {
	campaign string
	granted  bool
}

type tallyCount struct {
	name     string // latest non-empty campaign name
	sends    int
	at       time.Time // latest send
	failures int       // failed writes of these counts
}

func newSendTally(cfg SendTallyConfig, store consent.Store, timeout time.Duration, log *slog.Logger, m *RelayMetrics) *sendTally {
	cfg.defaults()
	return &sendTally{cfg: cfg, store: store, timeout: timeout, log: log, metrics: m,
		pending: make(map[tallyKey]*tallyCount),
		kick:    make(chan struct{}, 1), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}), flushing: make(chan struct{}, 1)}
}

// add counts one delivered message. After close, the send is written at
// once: a transaction cut by Shutdown still has its count recorded.
func (t *sendTally) add(s consent.Send) {
	t.start.Do(func() { go t.run() })
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		if t.write(context.Background(), s) != nil {
			t.metrics.SendTally.WithLabelValues("dropped").Inc()
		}
		return
	}
	k := tallyKey{s.Campaign, s.Granted}
	c := t.pending[k]
	if c == nil {
		if len(t.pending) >= t.cfg.MaxCampaigns {
			t.mu.Unlock()
			t.metrics.SendTally.WithLabelValues("dropped").Inc()
			return
		}
		c = &tallyCount{}
		t.pending[k] = c
	}
	c.merge(s.CampaignName, 1, s.At)
	first := t.sends == 0
	t.sends++
	t.seq++
	// While the store fails, only the ticker retries: a write at every
	// message would add load to a store that cannot take it.
	full := t.sends >= t.cfg.MaxPending && !t.failing
	t.mu.Unlock()
	if full {
		signal(t.kick)
	}
	if first {
		signal(t.wake)
	}
}

// signal wakes the loop without waiting: one pending signal is enough.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (c *tallyCount) merge(name string, sends int, at time.Time) {
	if name != "" && (c.name == "" || !at.Before(c.at)) {
		c.name = name
	}
	if at.After(c.at) {
		c.at = at
	}
	c.sends += sends
}

// run writes the tally at each tick, when MaxPending is reached, and after
// a Quiet gap in the traffic.
func (t *sendTally) run() {
	defer close(t.done)
	ticks := t.cfg.Ticks
	if ticks == nil {
		tk := time.NewTicker(t.cfg.FlushInterval)
		defer tk.Stop()
		ticks = tk.C
	}
	quiet := time.NewTimer(t.cfg.Quiet)
	quiet.Stop()
	defer quiet.Stop()
	var seen uint64 // seq when the quiet timer was set
	for {
		select {
		case <-t.stop:
			return
		case <-ticks:
		case <-t.kick:
		case <-t.wake:
			if t.cfg.Quiet > 0 {
				seen = t.state().seq
				quiet.Reset(t.cfg.Quiet)
			}
			continue
		case <-quiet.C:
			st := t.state()
			if st.sends == 0 || st.failing {
				continue
			}
			if st.seq != seen { // traffic goes on: look again later
				seen = st.seq
				quiet.Reset(t.cfg.Quiet)
				continue
			}
		}
		t.flush(context.Background(), false)
	}
}

type tallyState struct {
	sends   int
	seq     uint64
	failing bool
}

func (t *sendTally) state() tallyState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return tallyState{t.sends, t.seq, t.failing}
}

// flush writes what is pending. A failed count goes back into the tally
// for the next flush, unless it has failed MaxFailures times or this is
// the last flush; then it is dropped, counted and logged.
func (t *sendTally) flush(ctx context.Context, last bool) {
	select {
	case t.flushing <- struct{}{}:
	default:
		select {
		case t.flushing <- struct{}{}:
		case <-ctx.Done():
			t.dropAll("the previous write did not end in time")
			return
		}
	}
	defer func() { <-t.flushing }()

	t.mu.Lock()
	batch := t.pending
	t.pending = make(map[tallyKey]*tallyCount, len(batch))
	t.sends = 0
	t.mu.Unlock()
	if len(batch) == 0 {
		return
	}

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		failed  bool
		writers = make(chan struct{}, tallyWriters)
	)
	for k, c := range batch {
		writers <- struct{}{}
		wg.Go(func() {
			defer func() { <-writers }()
			err := t.write(ctx, consent.Send{Campaign: k.campaign, CampaignName: c.name, Granted: k.granted, At: c.at, Count: c.sends})
			if err == nil {
				return
			}
			mu.Lock()
			failed = true
			mu.Unlock()
			c.failures++
			if last || c.failures >= t.cfg.MaxFailures {
				t.metrics.SendTally.WithLabelValues("dropped").Add(float64(c.sends))
				t.log.Error("campaign send counts dropped after failed writes",
					"campaign", k.campaign, "granted", k.granted, "sends", c.sends, "failures", c.failures)
				return
			}
			t.requeue(k, c)
		})
	}
	wg.Wait()
	t.mu.Lock()
	t.failing = failed
	t.mu.Unlock()
}

// requeue puts back counts whose write failed, merged with what arrived
// meanwhile.
func (t *sendTally) requeue(k tallyKey, c *tallyCount) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := t.pending[k]; now != nil {
		c.merge(now.name, now.sends, now.at)
	} else if t.final || len(t.pending) >= t.cfg.MaxCampaigns {
		t.metrics.SendTally.WithLabelValues("dropped").Add(float64(c.sends))
		return
	}
	t.pending[k] = c
	t.sends += c.sends
}

// write records s, logging and counting a failure (no recipient is in s).
func (t *sendTally) write(ctx context.Context, s consent.Send) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	n := max(s.Count, 1)
	if err := t.store.RecordSend(ctx, s); err != nil {
		t.metrics.SendTally.WithLabelValues("write-failed").Add(float64(n))
		t.log.Warn("writing campaign send counts failed", "campaign", s.Campaign, "sends", n, "err", err)
		return fmt.Errorf("record %d sends of campaign %q: %w", n, s.Campaign, err)
	}
	t.metrics.SendTally.WithLabelValues("written").Add(float64(n))
	return nil
}

// dropAll counts and logs every pending send as lost.
func (t *sendTally) dropAll(why string) {
	t.mu.Lock()
	lost := t.sends
	t.pending = make(map[tallyKey]*tallyCount)
	t.sends = 0
	t.mu.Unlock()
	if lost > 0 {
		t.metrics.SendTally.WithLabelValues("dropped").Add(float64(lost))
		t.log.Error("campaign send counts dropped: "+why, "sends", lost)
	}
}

// close stops the loop and writes what is pending, within ctx or at least
// one store timeout: a shutdown whose grace period was spent on slow
// transactions still records the sends that were delivered. Sends added
// afterwards are written one by one.
func (t *sendTally) close(ctx context.Context) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.mu.Unlock()
	// Start (and at once stop) the loop if no send ever did, so done closes.
	t.start.Do(func() { go t.run() })
	close(t.stop)
	select {
	case <-t.done:
	case <-ctx.Done():
	}
	wait := t.timeout
	if dl, ok := ctx.Deadline(); ok {
		wait = max(wait, time.Until(dl))
	}
	lastCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
	defer cancel()
	t.flush(lastCtx, true)
	t.mu.Lock()
	t.final = true
	t.mu.Unlock()
}
