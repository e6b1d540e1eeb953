package proxy

import (
	"bytes"
	"encoding/hex"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/pixelgate/pixelgate/mailrewrite"
)

// A message for many recipients is the same bytes for each of them: what
// differs between their copies is their consent and pixelgate's own URLs
// (the pixel, the consent link, click redirects), which carry each
// recipient's token. So the engine rewrites the message once per consent
// class with place-holders for those URLs, and each recipient's copy is the
// class's result with their URLs filled in: the engine's work is paid once
// per class instead of once per recipient.
//
// A recipient gets a rewrite of their own whenever the shared one might
// differ from it:
//   - the message has base64 or quoted-printable parts (a place-holder
//     would be encoded out of sight there);
//   - the message names the recipient: their address can mark a URL as
//     identifying (the engine's identity check, run on every URL the
//     class's rewrite saw), and the address's local part anywhere in the
//     message is taken as a mention;
//   - the class's rewrite asked whether the recipient may be asked for
//     consent (R5: that is the recipient's own answer);
//   - a URL the factory gives is not plain (it would be escaped apart from
//     its place-holder).
// TestSharedRewriteEqualsOwnRewrite holds the two to byte-for-byte equality
// on the real corpora.

// rewriteCopy is one recipient's rewrite, appended to dst: from the shared
// rewrite of their consent class when that is theirs byte for byte, else
// their own.
func (r *Relay) rewriteCopy(dst, msg []byte, d mailrewrite.Decision, o mailrewrite.ReportOptions, shared *sharedRewrite) (Rewritten, error) {
	if shared != nil {
		if rw, ok := shared.copyFor(dst, d.Recipient, d.URLs, d.Consent, d.Learned); ok {
			if o.SkipResources {
				rw.Resources = nil
			}
			return rw, nil
		}
	}
	return r.cfg.Rewrite(dst, msg, d, o)
}

// sharedRewrite makes the copies of one message for its recipients.
type sharedRewrite struct {
	r        *Relay
	msg      []byte
	campaign string
	// lower is the message in lower case, for the mention check; nil
	// when the message cannot be shared at all.
	lower   []byte
	mu      sync.Mutex
	classes map[mailrewrite.Consent]*classTemplate
}

// classTemplate is one consent class's shared rewrite.
type classTemplate struct {
	once sync.Once
	ok   bool
	rw   Rewritten
	// out is the rewritten message with place-holders; holes are where.
	out   []byte
	holes []hole
	// calls are the URL requests the engine made, in order: hole i's
	// value is the recipient's answer to calls[holes[i].call].
	calls []urlCall
}

type hole struct{ start, end, call int }

type urlCall struct {
	kind    byte // 'p' pixel, 'c' consent, 'l' link
	purpose mailrewrite.Purpose
	arg     string
}

func newSharedRewrite(r *Relay, msg []byte, campaign string) *sharedRewrite {
	s := &sharedRewrite{r: r, msg: msg, campaign: campaign, classes: map[mailrewrite.Consent]*classTemplate{}}
	lower := bytes.ToLower(msg)
	if !encodedParts(lower) {
		s.lower = lower
	}
	return s
}

// encodedParts reports whether a Content-Transfer-Encoding field (in any
// header section, folded or not) names base64 or quoted-printable.
func encodedParts(lower []byte) bool {
	const field = "content-transfer-encoding:"
	for rest := lower; ; {
		i := bytes.Index(rest, []byte(field))
		if i < 0 {
			return false
		}
		rest = rest[i+len(field):]
		// The value runs to the end of the field: a line break not
		// followed by folding white space (RFC 5322 §2.2.3).
		end := 0
		for end < len(rest) {
			if rest[end] == '\n' && (end+1 >= len(rest) || (rest[end+1] != ' ' && rest[end+1] != '\t')) {
				break
			}
			end++
		}
		v := rest[:end]
		if bytes.Contains(v, []byte("base64")) || bytes.Contains(v, []byte("quoted-printable")) {
			return true
		}
	}
}

// copyFor is the recipient's copy from their class's shared rewrite,
// appended to dst; ok is false when they need a rewrite of their own.
func (s *sharedRewrite) copyFor(dst []byte, addr string, urls mailrewrite.URLs, consent mailrewrite.Consent, learned mailrewrite.PerRecipientMatcher) (Rewritten, bool) {
	if s.lower == nil || s.mentions(addr) {
		return Rewritten{}, false
	}
	t := s.class(consent)
	t.once.Do(func() { t.build(s, consent, learned) })
	if !t.ok || mailrewrite.RecipientInURLs(addr, t.rw.Resources) {
		return Rewritten{}, false
	}
	out, ok := t.fill(dst, urls)
	if !ok {
		return Rewritten{}, false
	}
	rw := t.rw
	rw.Msg = out
	return rw, true
}

func (s *sharedRewrite) class(c mailrewrite.Consent) *classTemplate {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.classes[c]
	if t == nil {
		t = &classTemplate{}
		s.classes[c] = t
	}
	return t
}

// mentions: the address's local part occurs in the message.
func (s *sharedRewrite) mentions(addr string) bool {
	local, _, _ := strings.Cut(strings.ToLower(addr), "@")
	return local == "" || bytes.Contains(s.lower, []byte(local))
}

// build rewrites the message for the class with place-holder URLs.
func (t *classTemplate) build(s *sharedRewrite, consent mailrewrite.Consent, learned mailrewrite.PerRecipientMatcher) {
	var nonce [8]byte
	if _, err := io.ReadFull(s.r.cfg.Rand, nonce[:]); err != nil {
		return
	}
	rec := &recordingURLs{prefix: "https://pixelgate-shared.invalid/" + hex.EncodeToString(nonce[:]) + "/"}
	asked := false
	d := mailrewrite.Decision{
		Consent:        consent,
		Campaign:       s.campaign,
		Deliverability: s.r.cfg.Deliverability,
		Ask: func() bool {
			asked = true
			return false
		},
		TrackClicks:     s.r.cfg.TrackClicks,
		URLs:            rec,
		Learned:         learned,
		DefaultLanguage: s.r.cfg.DefaultLanguage,
	}
	// The resources are needed for the identity check of each recipient.
	rw, err := s.r.cfg.Rewrite(nil, s.msg, d, mailrewrite.ReportOptions{CountOnly: true})
	if err != nil || asked {
		return
	}
	holes, ok := findHoles(rw.Msg, rec.prefix, len(rec.calls))
	if !ok {
		return
	}
	t.rw, t.out, t.holes, t.calls, t.ok = rw, rw.Msg, holes, rec.calls, true
	t.rw.Msg = nil
}

// findHoles locates every place-holder; ok only when each call's
// place-holder appears and nothing else looks like one.
func findHoles(out []byte, prefix string, calls int) ([]hole, bool) {
	var holes []hole
	seen := make([]bool, calls)
	for off := 0; ; {
		i := bytes.Index(out[off:], []byte(prefix))
		if i < 0 {
			break
		}
		start := off + i
		j := start + len(prefix)
		k := j
		for k < len(out) && out[k] >= '0' && out[k] <= '9' {
			k++
		}
		if k == j || k >= len(out) || out[k] != 'z' {
			return nil, false
		}
		n, err := strconv.Atoi(string(out[j:k]))
		if err != nil || n >= calls {
			return nil, false
		}
		seen[n] = true
		holes = append(holes, hole{start: start, end: k + 1, call: n})
		off = k + 1
	}
	for _, s := range seen {
		if !s {
			return nil, false
		}
	}
	return holes, true
}

// fill appends the class's message with the recipient's URLs in place.
func (t *classTemplate) fill(dst []byte, urls mailrewrite.URLs) ([]byte, bool) {
	vals := make([]string, len(t.calls))
	for i, c := range t.calls {
		var v string
		var err error
		switch c.kind {
		case 'p':
			v, err = urls.PixelURL(c.purpose, c.arg)
		case 'c':
			v, err = urls.ConsentURL()
		case 'l':
			v, err = urls.LinkURL(c.arg)
		}
		if err != nil || !plainURL(v) {
			return nil, false
		}
		vals[i] = v
	}
	prev := 0
	for _, h := range t.holes {
		dst = append(dst, t.out[prev:h.start]...)
		dst = append(dst, vals[h.call]...)
		prev = h.end
	}
	return append(dst, t.out[prev:]...), true
}

// plainURL: only characters that no escaping the engine does (HTML
// attribute, CSS, text) changes, as for the place-holder it stands for.
func plainURL(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~:/?=%+,;@!$*", c) >= 0:
		default:
			return false
		}
	}
	return v != ""
}

// recordingURLs answers the engine's URL requests with numbered
// place-holders and remembers them.
type recordingURLs struct {
	prefix string
	calls  []urlCall
}

func (u *recordingURLs) next(c urlCall) string {
	u.calls = append(u.calls, c)
	return u.prefix + strconv.Itoa(len(u.calls)-1) + "z"
}

func (u *recordingURLs) PixelURL(p mailrewrite.Purpose, original string) (string, error) {
	return u.next(urlCall{kind: 'p', purpose: p, arg: original}), nil
}

func (u *recordingURLs) ConsentURL() (string, error) { return u.next(urlCall{kind: 'c'}), nil }

func (u *recordingURLs) LinkURL(destination string) (string, error) {
	return u.next(urlCall{kind: 'l', arg: destination}), nil
}
