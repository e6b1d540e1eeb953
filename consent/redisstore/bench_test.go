package redisstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

// BenchmarkRedis measures the store's hot paths against a plain GET on the
// same redis-server through the same client, in the same run and at the
// same concurrency (storetest.Callers), so the figures compare as ratios
// (the aim: ≥ 0.8 of GET's ops/s). Each sub-benchmark also reports cpu-µs/op, the CPU
// spent by this process and redis-server per operation: on a shared,
// loaded machine wall-clock ops/s swing with the neighbours' load, CPU per
// operation much less.
func BenchmarkRedis(b *testing.B) {
	srv := redistest.Start(b)
	ctx := b.Context()
	const nkeys = 4096
	clock := storetest.NewClock(storetest.Start())
	st, err := Open(ctx, srv.URL(), Options{StoreOptions: storetest.Options(clock)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	// The reference GET goes through the store's own client (same pool,
	// protocol and timeouts), so only the operation differs.
	rdb := st.rdb
	keys := make([]consent.Key, nkeys)
	for i := range keys {
		keys[i][0], keys[i][1] = byte(i>>8), byte(i)
		// Half the recipients granted, as in storetest.Bench.
		if i%2 == 0 {
			if _, err := st.Grant(ctx, keys[i], consent.Evidence{Source: consent.SourceImport}); err != nil {
				b.Fatal(err)
			}
		}
		if err := rdb.Set(ctx, "ref:"+strconv.Itoa(i), "1|1772443800000000000", 0).Err(); err != nil {
			b.Fatal(err)
		}
	}
	run := func(name string, op func(ctx context.Context, i uint64) error) {
		b.Run(name, func(b *testing.B) {
			stop := cpuMeter(b, srv.Pid())
			storetest.RunParallel(b, op)
			stop()
		})
	}
	run("GET", func(ctx context.Context, i uint64) error {
		return rdb.Get(ctx, "ref:"+strconv.FormatUint(i%nkeys, 10)).Err()
	})
	// The same GET through the autopipeliner the store's hot paths use:
	// what the ratios would be if the reference batched too.
	run("GET-autopipelined", func(ctx context.Context, i uint64) error {
		return st.hot.Get(ctx, "ref:"+strconv.FormatUint(i%nkeys, 10)).Err()
	})
	run("Lookup", func(ctx context.Context, i uint64) error {
		_, err := st.Lookup(ctx, keys[i%nkeys:i%nkeys+1])
		return err
	})
	run("RecordOpen", func(ctx context.Context, i uint64) error {
		_, err := st.RecordOpen(ctx, consent.Open{Key: keys[i%nkeys], Campaign: "bench", At: clock.Now()})
		return err
	})
}

// BenchmarkContract is the shared storetest benchmark on Redis, for
// comparison with the embedded store's figures.
func BenchmarkContract(b *testing.B) {
	srv := redistest.Start(b)
	storetest.Bench(b, func(t testing.TB, o consent.StoreOptions) consent.Store {
		st, err := Open(b.Context(), srv.URL(), Options{StoreOptions: o})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// cpuMeter starts measuring the CPU of this process and of pid; the
// returned func reports it per operation as cpu-µs/op.
func cpuMeter(b *testing.B, pid int) func() {
	self0, srv0 := selfCPU(), procCPU(pid)
	return func() {
		if b.N == 0 {
			return
		}
		used := selfCPU() - self0 + procCPU(pid) - srv0
		b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/op")
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads utime+stime of pid from /proc (Linux; 0 elsewhere).
func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the ")" that ends the command name: utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (USER_HZ = 100).
	_, rest, ok := strings.Cut(string(raw), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}
