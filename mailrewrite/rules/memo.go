package rules

import (
	"strings"
	"sync"
)

// memoLimit and memoBytes bound each memo: a generation holds at most
// memoLimit URLs and memoBytes bytes of keys, and a memo keeps two
// generations. A remembered answer is never larger than its key (a parsed
// copy of the URL, a destination taken out of it, parameter names), so a
// memo holds at most about 4 × memoBytes whatever the mail says. A
// campaign sends the same HTML to every recipient: its few hundred
// distinct URLs fit, and after the first copy every lookup is a map hit.
const (
	memoLimit = 4096
	memoBytes = 1 << 20
)

// memoMaxKey: longer URLs are looked up every time rather than kept.
const memoMaxKey = 2048

// urlKey is what a rule lookup depends on (see urlParts): the normalised
// host, the escaped path, the raw query and, for redirects, the escaped
// fragment. Lookups of http and https URLs with equal parts have equal
// answers.
type urlKey struct {
	host, path, query, fragment string
}

func (k urlKey) size() int {
	return len(k.host) + len(k.path) + len(k.query) + len(k.fragment)
}

// clone copies the key's strings, which may point into a larger string of
// the caller's (a message body), so that a kept key holds only itself.
func (k urlKey) clone() urlKey {
	return urlKey{strings.Clone(k.host), strings.Clone(k.path), strings.Clone(k.query), strings.Clone(k.fragment)}
}

// memoKey is what a memo is keyed by: comparable, with a size to bound
// what is kept and a copy of its own to keep.
type memoKey[K any] interface {
	comparable
	size() int
	clone() K
}

// rawURL keys the memo of parsed URLs: the URL as written in the mail.
type rawURL string

func (r rawURL) size() int     { return len(r) }
func (r rawURL) clone() rawURL { return rawURL(strings.Clone(string(r))) }

// memo remembers the answers of one pure lookup of the Set for the URLs
// seen lately. The rule data never change after Parse, so a remembered
// answer is the answer. Old entries go a generation at a time: when the
// current generation is full it becomes the previous one and the one
// before is dropped; an entry found in the previous generation moves to
// the current one, so URLs in use stay.
type memo[K memoKey[K], V any] struct {
	mu       sync.Mutex
	cur      map[K]V
	prev     map[K]V
	curBytes int // key bytes in cur
}

func (m *memo[K, V]) get(k K) (V, bool) {
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

func (m *memo[K, V]) put(k K, v V) {
	if k.size() > memoMaxKey {
		return
	}
	k = k.clone()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.putLocked(k, v)
}

func (m *memo[K, V]) putLocked(k K, v V) {
	if len(m.cur) >= memoLimit || m.curBytes+k.size() > memoBytes {
		m.prev, m.cur, m.curBytes = m.cur, nil, 0
	}
	if m.cur == nil {
		m.cur = make(map[K]V, 256)
	}
	if _, ok := m.cur[k]; !ok {
		m.curBytes += k.size()
	}
	m.cur[k] = v
}

// len is the number of URLs the memo holds (for tests of the bound).
func (m *memo[K, V]) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.cur) + len(m.prev)
}

// keyBytes is the size of the keys the memo holds (for tests of the bound).
func (m *memo[K, V]) keyBytes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, g := range []map[K]V{m.cur, m.prev} {
		for k := range g {
			n += k.size()
		}
	}
	return n
}
