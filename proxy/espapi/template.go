package espapi

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/pixelgate/pixelgate/proxy/espapi/factor"
)

// holes is one call's per-recipient values for the template's holes: the
// rewritten content of every recipient expressed as one text with keys
// and, per recipient, the value of each key. The ESP fills them in
// (SendGrid substitutions, Mailgun %recipient.NAME%), so each recipient
// receives exactly their own rewritten copy.
type holes struct {
	// html and text are the templates (empty when the call has none).
	html, text string
	// values[i] maps recipient i's keys to their values.
	values []map[string]string
}

// keyNamer makes a call's substitution keys: a random nonce, so no key
// can occur in the content by chance or by a sender's design.
type keyNamer struct{ nonce string }

func newKeyNamer(rand io.Reader) (keyNamer, error) {
	var b [6]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return keyNamer{}, fmt.Errorf("substitution key nonce: %w", err)
	}
	return keyNamer{nonce: hex.EncodeToString(b[:])}, nil
}

// name is the variable name of hole i of a field ("h" or "t").
func (k keyNamer) name(field string, i int) string {
	return fmt.Sprintf("pg%s%s%d", k.nonce, field, i)
}

// factorCopies factors every copy's html and text into templates with
// holes, keyed by key(name). ok is false when the copies differ too much
// to travel as substitutions within lim (the caller splits the call).
func factorCopies(copies []recipientCopy, lim factor.Limits, names keyNamer, key func(name string) string) (holes, bool) {
	h := holes{values: make([]map[string]string, len(copies))}
	for i := range h.values {
		h.values[i] = map[string]string{}
	}
	if len(copies) == 0 {
		return h, true
	}
	field := func(tag string, get func(c content) string) (string, bool) {
		texts := make([][]byte, len(copies))
		for i, c := range copies {
			texts[i] = []byte(get(c.content))
		}
		t, vals, ok := factor.Factor(texts, lim)
		if !ok {
			return "", false
		}
		var b strings.Builder
		for j, lit := range t.Literals {
			if strings.Contains(string(lit), names.nonce) {
				return "", false
			}
			b.Write(lit)
			if j < len(t.Literals)-1 {
				b.WriteString(key(names.name(tag, j)))
			}
		}
		for i := range copies {
			for j, v := range vals[i] {
				h.values[i][key(names.name(tag, j))] = string(v)
			}
		}
		return b.String(), true
	}
	var ok bool
	if copies[0].content.hasHTML {
		if h.html, ok = field("h", func(c content) string { return c.html }); !ok {
			return h, false
		}
	}
	if copies[0].content.hasText {
		if h.text, ok = field("t", func(c content) string { return c.text }); !ok {
			return h, false
		}
	}
	for _, v := range h.values {
		n := 0
		for k, val := range v {
			n += len(k) + len(val)
		}
		if n > lim.MaxValueBytes {
			return h, false
		}
	}
	return h, true
}
