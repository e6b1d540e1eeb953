package pixel

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the recorder behind the pixel and the click redirect.
const (
	defaultRecordQueue   = 4096
	defaultRecordWorkers = 32
)

// recorder makes the store calls of the pixel and the click redirect after
// their answer has gone, from a bounded queue: how long the answer takes
// must not depend on whether the recipient consented, withdrew or is
// unknown, nor on the store's health, or anyone holding a token (a
// forwarded email, the ESP) could tell a withdrawal by timing the answer
// (R3). A hit is never made to wait for room: when the queue is full it
// is dropped and counted. Close drains the queue within a bound and counts
// what is left; a crash loses at most the queue's length plus the calls in
// flight, which the queue-length gauge shows up to the last scrape.
type recorder struct {
	q       chan recordJob
	timeout time.Duration
	logger  *slog.Logger
	// outcome counts the outcome of a recorded hit (the endpoint's hits
	// metric).
	outcome func(string)
	lost    *prometheus.CounterVec
	// pending counts the jobs queued or running: what a crash would lose.
	pending atomic.Int64

	// base is cancelled when Close gives up: the store calls in flight
	// end and what is still queued is counted as lost.
	base    context.Context
	abandon context.CancelFunc
	mu      sync.RWMutex // guards closed against sends after Close
	closed  bool
	wg      sync.WaitGroup
}

// recordJob is one store call; it returns the hit's outcome label.
type recordJob func(context.Context) string

// Reasons a hit's record was lost: the values of the lost metric's label.
const (
	lostQueueFull = "queue-full"
	lostShutdown  = "shutdown"
)

// recorderNames are the names of a recorder's metrics, written out so
// that the operator guide's list can be checked against the code.
type recorderNames struct{ endpoint, lost, queue string }

var (
	pixelRecorder = recorderNames{"pixel", "pixelgate_pixel_records_lost_total", "pixelgate_pixel_record_queue"}
	linkRecorder  = recorderNames{"link", "pixelgate_link_records_lost_total", "pixelgate_link_record_queue"}
)

// newRecorder starts workers that empty a queue of size queue.
func newRecorder(names recorderNames, queue, workers int, timeout time.Duration, logger *slog.Logger,
	reg prometheus.Registerer, outcome func(string)) (*recorder, error) {
	if queue <= 0 {
		queue = defaultRecordQueue
	}
	if workers <= 0 {
		workers = defaultRecordWorkers
	}
	base, abandon := context.WithCancel(context.Background())
	r := &recorder{q: make(chan recordJob, queue), timeout: timeout, logger: logger, outcome: outcome,
		base: base, abandon: abandon}
	r.lost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: names.lost,
		Help: "Hits answered but not recorded: queue-full (the store was too slow or down and the queue was full; the answer never waits) or shutdown (still queued when the drain time ran out).",
	}, []string{"reason"})
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: names.queue,
		Help: "Hits answered and waiting for, or in, their store call; a crash would lose them.",
	}, func() float64 { return float64(r.pending.Load()) })
	if reg != nil {
		for _, c := range []prometheus.Collector{r.lost, queued} {
			if err := reg.Register(c); err != nil {
				abandon()
				return nil, fmt.Errorf("register %s recorder metrics: %w", names.endpoint, err)
			}
		}
	}
	for _, l := range []string{lostQueueFull, lostShutdown} {
		r.lost.WithLabelValues(l)
	}
	r.wg.Add(workers)
	for range workers {
		go r.work()
	}
	return r, nil
}

// add queues a job and returns at once; false when it was dropped.
func (r *recorder) add(j recordJob) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		r.lost.WithLabelValues(lostShutdown).Inc()
		return false
	}
	r.pending.Add(1)
	select {
	case r.q <- j:
		return true
	default:
		r.pending.Add(-1)
		r.lost.WithLabelValues(lostQueueFull).Inc()
		return false
	}
}

func (r *recorder) work() {
	defer r.wg.Done()
	for j := range r.q {
		if r.base.Err() != nil {
			r.lost.WithLabelValues(lostShutdown).Inc()
		} else {
			ctx, cancel := context.WithTimeout(r.base, r.timeout)
			r.outcome(j(ctx))
			cancel()
		}
		r.pending.Add(-1)
	}
}

// Close stops taking hits and waits for the queue to be recorded; when
// ctx ends first, the store calls in flight are cancelled, what is left is
// counted as lost, and ctx's error is returned.
func (r *recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.q)
	r.mu.Unlock()
	if err := waitOrCancel(ctx, &r.wg, r.abandon); err != nil {
		r.logger.Warn("hits still queued at shutdown were not recorded; see the records-lost metric")
		return fmt.Errorf("drain the record queue: %w", err)
	}
	return nil
}
