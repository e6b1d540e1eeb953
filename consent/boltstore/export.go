package boltstore

import (
	"bytes"
	"context"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pixelgate/pixelgate/consent"
)

// Export implements consent.Store (R11).
func (s *Store) Export(ctx context.Context, k consent.Key) (consent.Export, error) {
	x := consent.Export{Key: k.String()}
	err := s.view(ctx, "export recipient data", func(tx *bolt.Tx) error {
		st := decodeStatus(tx.Bucket(bStatus).Get(k[:]))
		x.State = st.State.String()
		h, err := readHistory(tx, k)
		if err != nil {
			return err
		}
		for _, e := range h {
			e.Event.State = e.State
			x.History = append(x.History, consent.ExportEvent{Event: e.Event, StateName: e.State.String()})
		}
		c := tx.Bucket(bOpens).Cursor()
		for ok, v := c.Seek(k[:]); ok != nil && bytes.HasPrefix(ok, k[:]); ok, v = c.Next() {
			e := decodeOpenEntry(v)
			x.Opens = append(x.Opens, consent.ExportCampaign{Campaign: string(ok[len(k):]), FirstOpen: e.FirstOpen, Opens: e.Opens, Clicks: e.Clicks})
		}
		if d := tx.Bucket(bDeliv).Get(k[:]); d != nil {
			x.LastDeliverable = fromUnixKey(d).Format(time.DateOnly)
		}
		x.LastAskedConsent = fromNanos(tx.Bucket(bAsked).Get(k[:]))
		return nil
	})
	sort.SliceStable(x.Opens, func(i, j int) bool { return x.Opens[i].Campaign < x.Opens[j].Campaign })
	return x, err
}

// Erase implements consent.Store: everything about the key goes, except a
// tombstone that keeps it withdrawn for ever (R11, R3).
func (s *Store) Erase(ctx context.Context, k consent.Key, ev consent.Evidence) error {
	at := ev.At
	if at.IsZero() {
		at = s.now()
	}
	return s.update(ctx, "erase recipient data", func(tx *bolt.Tx) error {
		if err := eraseOpens(tx, k); err != nil {
			return err
		}
		for _, b := range [][]byte{bHistory, bAsked, bDeliv} {
			if err := tx.Bucket(b).Delete(k[:]); err != nil {
				return err
			}
		}
		return setStatus(tx, k, status{State: consent.Withdrawn, Tomb: true, Since: at.UTC()})
	})
}

func eraseOpens(tx *bolt.Tx, k consent.Key) error {
	c := tx.Bucket(bOpens).Cursor()
	for ok, _ := c.Seek(k[:]); ok != nil && bytes.HasPrefix(ok, k[:]); ok, _ = c.Seek(k[:]) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}
