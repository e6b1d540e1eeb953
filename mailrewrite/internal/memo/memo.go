// Package memo is the bounded, generational memo that the rewrite engine
// keeps its per-URL answers in. A campaign sends the same HTML to every
// recipient: its few hundred distinct URLs fit, and after the first copy
// every lookup is a map hit, while a stream of mail with ever new
// URLs can never make it grow past its bounds.
package memo

import (
	"strings"
	"sync"
)

// Limit and Bytes bound each memo: a generation holds at most Limit keys
// and Bytes bytes of keys, and a memo keeps two generations. Callers keep
// answers made of a few copies of their key at most (a parsed URL, a
// destination taken out of it, parameter names), so a memo holds a few
// times 2 × Bytes (under 10 MB) whatever the mail says.
const (
	Limit = 4096
	Bytes = 1 << 20
)

// MaxKey: longer keys are looked up every time rather than kept.
const MaxKey = 2048

// Key is what a memo is keyed by: comparable, with a size to bound what is
// kept and a copy of its own to keep.
type Key[K any] interface {
	comparable
	Size() int
	Clone() K
}

// String is a key that is one string (a URL as written in the mail).
type String string

func (s String) Size() int     { return len(s) }
func (s String) Clone() String { return String(strings.Clone(string(s))) }

// Memo remembers the answers of one pure lookup for the keys seen lately.
// Old entries go a generation at a time: when the current generation is
// full it becomes the previous one and the one before is dropped; an entry
// found in the previous generation moves to the current one, so keys in
// use stay. The zero value is ready; it is safe for concurrent use.
type Memo[K Key[K], V any] struct {
	mu       sync.Mutex
	cur      map[K]V
	prev     map[K]V
	curBytes int // key bytes in cur
}

// Get returns the remembered answer for k.
func (m *Memo[K, V]) Get(k K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.cur[k]; ok {
		return v, true
	}
	v, ok := m.prev[k]
	if ok {
		m.putLocked(k, v)
	}
	return v, ok
}

// Put remembers v for a copy of k; keys over MaxKey are not kept.
func (m *Memo[K, V]) Put(k K, v V) {
	if k.Size() > MaxKey {
		return
	}
	k = k.Clone()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.putLocked(k, v)
}

func (m *Memo[K, V]) putLocked(k K, v V) {
	if len(m.cur) >= Limit || m.curBytes+k.Size() > Bytes {
		m.prev, m.cur, m.curBytes = m.cur, nil, 0
	}
	if m.cur == nil {
		m.cur = make(map[K]V, 256)
	}
	if _, ok := m.cur[k]; !ok {
		m.curBytes += k.Size()
	}
	m.cur[k] = v
}

// Len is the number of keys the memo holds.
func (m *Memo[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.cur) + len(m.prev)
}

// KeyBytes is the size of the keys the memo holds.
func (m *Memo[K, V]) KeyBytes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, g := range []map[K]V{m.cur, m.prev} {
		for k := range g {
			n += k.Size()
		}
	}
	return n
}

// GetBytes is Get for a String key given as bytes; the lookup makes no
// copy of them (a URL read in place from the message).
func GetBytes[V any](m *Memo[String, V], b []byte) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.cur[String(b)]; ok {
		return v, true
	}
	v, ok := m.prev[String(b)]
	if ok {
		m.putLocked(String(b), v)
	}
	return v, ok
}
