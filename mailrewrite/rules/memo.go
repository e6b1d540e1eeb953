package rules

import (
	"strings"
)

// urlKey is what a rule lookup depends on (see urlParts): the normalised
// host, the escaped path, the raw query and, for redirects, the escaped
// fragment. Lookups of http and https URLs with equal parts have equal
// answers. The rule data never change after Parse, so a remembered answer
// (package memo) is the answer.
type urlKey struct {
	host, path, query, fragment string
}

func (k urlKey) Size() int {
	return len(k.host) + len(k.path) + len(k.query) + len(k.fragment)
}

// Clone copies the key's strings, which may point into a larger string of
// the caller's (a message body), so that a kept key holds only itself.
func (k urlKey) Clone() urlKey {
	return urlKey{strings.Clone(k.host), strings.Clone(k.path), strings.Clone(k.query), strings.Clone(k.fragment)}
}
