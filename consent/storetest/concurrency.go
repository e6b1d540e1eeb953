package storetest

import (
	"math/rand/v2"
	"sync"

	"github.com/pixelgate/pixelgate/consent"
)

// testConcurrency runs many goroutines granting, withdrawing, opening and
// sending at once on a few shared keys, then checks that the final state,
// the histories and every counter agree with what the calls reported.
func testConcurrency(e *env) {
	const (
		workers = 24
		ops     = 60
		nkeys   = 6
		camp    = "conc"
	)
	type tally struct {
		decisions         [nkeys]int
		recorded, repeats [nkeys]int
		machine           int
		sendsG, sendsN    int
	}
	results := make([]tally, workers)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			tl := &results[w]
			for range ops {
				i := rng.IntN(nkeys)
				k := key(i)
				var err error
				switch op := rng.IntN(10); {
				case op < 2:
					_, err = e.st.Grant(e.ctx, k, consent.Evidence{Source: consent.SourceConsentPage})
					tl.decisions[i]++
				case op < 3:
					_, err = e.st.Withdraw(e.ctx, k, consent.Evidence{Source: consent.SourceConsentPage})
					tl.decisions[i]++
				case op < 8:
					var r consent.OpenResult
					machine := op == 7
					r, err = e.st.RecordOpen(e.ctx, consent.Open{Key: k, Campaign: camp, At: e.clock.Now(), Machine: machine})
					switch {
					case r == consent.NotRecorded:
					case machine:
						tl.machine++
					case r == consent.Recorded:
						tl.recorded[i]++
					case r == consent.Repeat:
						tl.repeats[i]++
					}
				default:
					granted := op == 9
					err = e.st.RecordSend(e.ctx, consent.Send{Campaign: camp, Granted: granted, At: e.clock.Now()})
					if granted {
						tl.sendsG++
					} else {
						tl.sendsN++
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.t.Fatal(err)
	}

	var sum tally
	for _, tl := range results {
		for i := range nkeys {
			sum.decisions[i] += tl.decisions[i]
			sum.recorded[i] += tl.recorded[i]
			sum.repeats[i] += tl.repeats[i]
		}
		sum.machine += tl.machine
		sum.sendsG += tl.sendsG
		sum.sendsN += tl.sendsN
	}
	var unique, opens int
	for i := range nkeys {
		k := key(i)
		if sum.recorded[i] > 1 {
			e.t.Errorf("key %d: %d opens reported as first (unique) open", i, sum.recorded[i])
		}
		if sum.repeats[i] > 0 && sum.recorded[i] == 0 {
			e.t.Errorf("key %d: repeats without a first open", i)
		}
		unique += sum.recorded[i]
		opens += sum.recorded[i] + sum.repeats[i]
		h, err := e.st.History(e.ctx, k)
		e.must(err)
		if len(h) != sum.decisions[i] {
			e.t.Errorf("key %d: history has %d events, %d decisions were made", i, len(h), sum.decisions[i])
		}
		s := e.state(k)
		if len(h) > 0 && s.State != h[len(h)-1].State {
			e.t.Errorf("key %d: state %v but the last event is %v", i, s.State, h[len(h)-1].State)
		}
		x := e.export(k)
		var held int64
		for _, o := range x.Opens {
			held += o.Opens
		}
		if held != int64(sum.recorded[i]+sum.repeats[i]) {
			e.t.Errorf("key %d: export holds %d opens, %d were reported recorded", i, held, sum.recorded[i]+sum.repeats[i])
		}
	}
	c, err := e.st.Campaign(e.ctx, camp)
	if err != nil && !(isNotFound(err) && opens == 0 && sum.sendsG+sum.sendsN == 0) {
		e.t.Fatal(err)
	}
	if c.UniqueOpens != int64(unique) || c.Opens != int64(opens) || c.MachineOpens != int64(sum.machine) ||
		c.SendsGranted != int64(sum.sendsG) || c.SendsNotGranted != int64(sum.sendsN) {
		e.t.Errorf("campaign counters %s; calls reported unique %d, opens %d, machine %d, sends %d/%d",
			describe(c), unique, opens, sum.machine, sum.sendsG, sum.sendsN)
	}
	var hourly, hourlyMachine int64
	for _, h := range c.Hourly {
		hourly += h.Opens
		hourlyMachine += h.MachineOpens
	}
	if hourly != c.Opens || hourlyMachine != c.MachineOpens {
		e.t.Errorf("hourly series sums %d/%d, totals %d/%d", hourly, hourlyMachine, c.Opens, c.MachineOpens)
	}
	cs, err := e.st.ConsentStats(e.ctx, Start().Add(-day), Start().Add(day))
	e.must(err)
	var decided, grants, withdrawals int64
	for i := range nkeys {
		if sum.decisions[i] > 0 {
			decided++
		}
	}
	for _, d := range cs.Days {
		grants += d.Grants
		withdrawals += d.Withdrawals
	}
	if cs.Current[consent.Granted]+cs.Current[consent.Withdrawn] != decided {
		e.t.Errorf("current counts %v for %d decided keys", cs.Current, decided)
	}
	var total int
	for _, n := range sum.decisions {
		total += n
	}
	if grants+withdrawals != int64(total) {
		e.t.Errorf("consent stats count %d changes, %d were made", grants+withdrawals, total)
	}
}
