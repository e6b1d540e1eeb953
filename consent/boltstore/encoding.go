package boltstore

import (
	"encoding/binary"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// status is a key's current state: state (1) | tombstone (1) | since (8).
type status struct {
	State consent.State
	// Tomb marks an erasure tombstone, kept for ever.
	Tomb  bool
	Since time.Time
}

func (st status) encode() []byte {
	b := make([]byte, 10)
	b[0] = byte(st.State)
	if st.Tomb {
		b[1] = 1
	}
	copy(b[2:], nanos(st.Since))
	return b
}

func decodeStatus(b []byte) status {
	if len(b) != 10 {
		return status{}
	}
	return status{State: consent.State(b[0]), Tomb: b[1] == 1, Since: fromNanos(b[2:])}
}

// nanos encodes a time; the zero time is 0 and comes back as the zero time.
func nanos(t time.Time) []byte {
	if t.IsZero() {
		return make([]byte, 8)
	}
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
}

func fromNanos(b []byte) time.Time {
	if len(b) < 8 || binary.BigEndian.Uint64(b) == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
}

func unixKey(t time.Time) []byte { return binary.BigEndian.AppendUint64(nil, uint64(t.Unix())) }

func fromUnixKey(b []byte) time.Time {
	if len(b) < 8 {
		return time.Time{}
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b)), 0).UTC()
}

// counters are three int64 kept big-endian: hourly opens/machine/clicks and
// daily grants/refusals/withdrawals.
type counters [3]int64

func decodeCounters(b []byte) counters {
	var c counters
	for i := range c {
		if len(b) >= 8*(i+1) {
			c[i] = int64(binary.BigEndian.Uint64(b[8*i:]))
		}
	}
	return c
}

func (c counters) encode() []byte {
	b := make([]byte, 0, 24)
	for _, v := range c {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return b
}

// openEntry is one recipient's opens of one campaign: created (8) | first
// human open (8) | opens (8) | clicks (8). Created starts the retention
// clock (R7: later opens never move it).
type openEntry struct {
	Created, FirstOpen time.Time
	Opens, Clicks      int64
}

func (o openEntry) encode() []byte {
	b := make([]byte, 0, 32)
	b = append(b, nanos(o.Created)...)
	b = append(b, nanos(o.FirstOpen)...)
	b = binary.BigEndian.AppendUint64(b, uint64(o.Opens))
	return binary.BigEndian.AppendUint64(b, uint64(o.Clicks))
}

func decodeOpenEntry(b []byte) openEntry {
	if len(b) != 32 {
		return openEntry{}
	}
	return openEntry{Created: fromNanos(b), FirstOpen: fromNanos(b[8:]),
		Opens: int64(binary.BigEndian.Uint64(b[16:])), Clicks: int64(binary.BigEndian.Uint64(b[24:]))}
}

func openKey(k consent.Key, campaign string) []byte {
	b := make([]byte, 0, len(k)+len(campaign))
	b = append(b, k[:]...)
	return append(b, campaign...)
}

// storedEvent keeps the state an Event's JSON form leaves out.
type storedEvent struct {
	consent.Event
	State consent.State `json:"state"`
}
