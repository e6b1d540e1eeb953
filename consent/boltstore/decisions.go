package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pixelgate/pixelgate/consent"
)

// Lookup implements consent.Store: one read transaction for the batch.
func (s *Store) Lookup(ctx context.Context, keys []consent.Key) ([]consent.Status, error) {
	out := make([]consent.Status, len(keys))
	err := s.view(ctx, "lookup consent", func(tx *bolt.Tx) error {
		b := tx.Bucket(bStatus)
		for i, k := range keys {
			st := decodeStatus(b.Get(k[:]))
			out[i] = consent.Status{State: st.State, Since: st.Since}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Grant implements consent.Store.
func (s *Store) Grant(ctx context.Context, k consent.Key, ev consent.Evidence) (consent.Event, error) {
	return s.decide(ctx, k, consent.Granted, ev)
}

// Refuse implements consent.Store.
func (s *Store) Refuse(ctx context.Context, k consent.Key, ev consent.Evidence) (consent.Event, error) {
	return s.decide(ctx, k, consent.Refused, ev)
}

// Withdraw implements consent.Store.
func (s *Store) Withdraw(ctx context.Context, k consent.Key, ev consent.Evidence) (consent.Event, error) {
	return s.decide(ctx, k, consent.Withdrawn, ev)
}

// decide sets the state and appends the evidence event in one transaction
// (R2: no decision without its evidence).
func (s *Store) decide(ctx context.Context, k consent.Key, state consent.State, ev consent.Evidence) (consent.Event, error) {
	op := "record consent " + state.String()
	if ev.Source == "" {
		return consent.Event{}, fmt.Errorf("%s: %w", op, invalid("evidence has no source"))
	}
	at := ev.At
	if at.IsZero() {
		at = s.now()
	}
	at = at.UTC()
	id, err := consent.NewEventID(at, s.opts.Rand)
	if err != nil {
		return consent.Event{}, fmt.Errorf("%s: %w", op, err)
	}
	ev.At = time.Time{}
	e := consent.Event{ID: id, At: at, State: state, Evidence: ev}
	// Batched like opens: a consent page under load commits many decisions
	// per fsync. fn reads everything it needs from tx, so a re-run is safe.
	err = s.batch(ctx, op, func(tx *bolt.Tx) error {
		hist, err := readHistory(tx, k)
		if err != nil {
			return err
		}
		hist = append(hist, storedEvent{Event: e, State: state})
		if err := writeHistory(tx, k, hist); err != nil {
			return err
		}
		if err := setStatus(tx, k, status{State: state, Since: at}); err != nil {
			return err
		}
		return countDecision(tx, at, ev.Source, state)
	})
	if err != nil {
		return consent.Event{}, err
	}
	return e, nil
}

// setStatus writes a key's status and keeps the per-state counts in step.
func setStatus(tx *bolt.Tx, k consent.Key, st status) error {
	b := tx.Bucket(bStatus)
	old := decodeStatus(b.Get(k[:]))
	if st.State == consent.None {
		if err := b.Delete(k[:]); err != nil {
			return err
		}
	} else if err := b.Put(k[:], st.encode()); err != nil {
		return err
	}
	if old.State == st.State {
		return nil
	}
	cur := tx.Bucket(bCurrent)
	for _, d := range []struct {
		s     consent.State
		delta int64
	}{{old.State, -1}, {st.State, 1}} {
		if d.s == consent.None {
			continue
		}
		c := decodeCounters(cur.Get([]byte{byte(d.s)}))
		c[0] += d.delta
		if err := cur.Put([]byte{byte(d.s)}, c.encode()); err != nil {
			return err
		}
	}
	return nil
}

// countDecision adds one change to the day's statistics of its source.
func countDecision(tx *bolt.Tx, at time.Time, src consent.Source, state consent.State) error {
	k := append(unixKey(consent.Day(at)), src...)
	b := tx.Bucket(bDays)
	c := decodeCounters(b.Get(k))
	switch state {
	case consent.Granted:
		c[0]++
	case consent.Refused:
		c[1]++
	case consent.Withdrawn:
		c[2]++
	}
	return b.Put(k, c.encode())
}

func readHistory(tx *bolt.Tx, k consent.Key) ([]storedEvent, error) {
	raw := tx.Bucket(bHistory).Get(k[:])
	if raw == nil {
		return nil, nil
	}
	var h []storedEvent
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("decode history of %s: %w", k, err)
	}
	return h, nil
}

func writeHistory(tx *bolt.Tx, k consent.Key, h []storedEvent) error {
	raw, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode history: %w", err)
	}
	return tx.Bucket(bHistory).Put(k[:], raw)
}

// History implements consent.Store.
func (s *Store) History(ctx context.Context, k consent.Key) ([]consent.Event, error) {
	var out []consent.Event
	err := s.view(ctx, "read consent history", func(tx *bolt.Tx) error {
		h, err := readHistory(tx, k)
		for _, e := range h {
			e.Event.State = e.State
			out = append(out, e.Event)
		}
		return err
	})
	return out, err
}

// EligibleToAsk implements consent.Store (R5).
func (s *Store) EligibleToAsk(ctx context.Context, k consent.Key) (bool, error) {
	ok := false
	err := s.view(ctx, "check consent request", func(tx *bolt.Tx) error {
		now, quiet := s.now(), s.ret.AskQuiet
		st := decodeStatus(tx.Bucket(bStatus).Get(k[:]))
		switch st.State {
		case consent.Granted, consent.Withdrawn:
			return nil
		case consent.Refused:
			if now.Before(st.Since.Add(quiet)) {
				return nil
			}
		}
		if asked := fromNanos(tx.Bucket(bAsked).Get(k[:])); !asked.IsZero() && now.Before(asked.Add(quiet)) {
			return nil
		}
		ok = true
		return nil
	})
	return ok, err
}

// MarkAsked implements consent.Store.
func (s *Store) MarkAsked(ctx context.Context, k consent.Key) error {
	return s.batch(ctx, "mark consent requested", func(tx *bolt.Tx) error {
		return tx.Bucket(bAsked).Put(k[:], nanos(s.now()))
	})
}

// ConsentStats implements consent.Store.
func (s *Store) ConsentStats(ctx context.Context, from, to time.Time) (consent.ConsentStats, error) {
	out := consent.ConsentStats{Current: map[consent.State]int64{}}
	err := s.view(ctx, "read consent statistics", func(tx *bolt.Tx) error {
		c := tx.Bucket(bDays).Cursor()
		for k, v := c.Seek(unixKey(consent.Day(from))); k != nil; k, v = c.Next() {
			d := fromUnixKey(k)
			if !d.Before(to) {
				break
			}
			if d.Before(from) {
				continue
			}
			n := decodeCounters(v)
			out.Days = append(out.Days, consent.ConsentDay{Day: d, Source: consent.Source(k[8:]),
				Grants: n[0], Refusals: n[1], Withdrawals: n[2]})
		}
		return tx.Bucket(bCurrent).ForEach(func(k, v []byte) error {
			if n := decodeCounters(v)[0]; n > 0 {
				out.Current[consent.State(k[0])] = n
			}
			return nil
		})
	})
	// Keys sort by day then source already; keep the promise explicit.
	sort.SliceStable(out.Days, func(i, j int) bool {
		if !out.Days[i].Day.Equal(out.Days[j].Day) {
			return out.Days[i].Day.Before(out.Days[j].Day)
		}
		return out.Days[i].Source < out.Days[j].Source
	})
	return out, err
}
