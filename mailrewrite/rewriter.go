package mailrewrite

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/pixelgate/pixelgate/internal/lang"
	"github.com/pixelgate/pixelgate/internal/urlpath"
	"github.com/pixelgate/pixelgate/mailrewrite/internal/memo"
	"github.com/pixelgate/pixelgate/mailrewrite/rules"
)

// Options configures a Rewriter. The zero value works.
type Options struct {
	// Rules are the tracker rules; nil means rules.Default().
	Rules *rules.Set
}

// Rewriter rewrites and scans messages. It is safe for concurrent use; its
// only state is a bounded memo of what the rules say about each URL.
type Rewriter struct {
	rules *rules.Set
	// unsubURL and unsubText find the words of unsubscribe links.
	unsubURL, unsubText *wordSet
	// linkMemo and resourceMemo keep what the rules say about each URL
	// across messages, styleMemo what each inline style says.
	linkMemo     memo.Memo[memo.String, *linkFacts]
	resourceMemo memo.Memo[memo.String, *resourceFacts]
	styleMemo    memo.Memo[memo.String, styleInfo]
	// noMemo: tests compare answers with and without linkMemo.
	noMemo bool
}

// New returns a Rewriter.
func New(opts Options) (*Rewriter, error) {
	rs := opts.Rules
	if rs == nil {
		var err error
		if rs, err = rules.Default(); err != nil {
			return nil, fmt.Errorf("load default tracker rules: %w", err)
		}
	}
	return &Rewriter{rules: rs, unsubURL: newWordSet(unsubscribeURLWords), unsubText: newWordSet(unsubscribeTextWords)}, nil
}

// RulesVersion identifies the tracker rules in use.
func (r *Rewriter) RulesVersion() string { return r.rules.Version() }

// ErrInternal marks a bug caught while rewriting: the message is refused
// rather than delivered half rewritten.
var ErrInternal = errors.New("mailrewrite: internal error")

// job is the state of one Rewrite or Scan call.
type job struct {
	r       *Rewriter
	rewrite bool
	id      *identity
	rep     *Report
	urls    URLs

	// wantPixel: this recipient gets one pixelgate pixel (consent, or the
	// R4 deliverability exemption); purpose says which.
	wantPixel bool
	purpose   Purpose
	pixelDone bool

	consentURL    string
	ownPrefix     string // pixelgate's pixel URLs start with it
	consentPrefix string // pixelgate's consent page URLs start with it
	linkPrefix    string // pixelgate's click redirects start with it
	trackClicks   bool   // consenting recipient, click analytics on

	learned         PerRecipientMatcher // Decision.Learned
	skipResources   bool                // ReportOptions.SkipResources
	listUnsubscribe []string            // List-Unsubscribe targets: never touched

	scratch []byte // a link's folded URL or text (unsubscribe), reused

	clickHosts clickHosts
}

// judge classifies one URL found in d.
func (j *job) judge(d *htmlDoc, u string, c carrier) verdict {
	j.collectResource(u, c.kind)
	return j.classify(u, c)
}

// note records a finding.
func (j *job) note(d *htmlDoc, u, kind string, v verdict, action string) {
	f := Finding{Part: d.path, URL: u, Carrier: kind, Class: v.class, Reason: strings.Join(v.reasons, ","),
		Vendor: v.vendor, Action: action}
	if action == ActionIdentifierRemoved || action == ActionUnwrapped {
		f.Rewritten = v.clean
	}
	j.rep.add(f)
}

// pixelTag builds pixelgate's pixel. original is the ESP pixel it replaces:
// it rides in the token only for an open-tracking pixel of a consenting
// recipient, never in a deliverability one (R4: date only).
func (j *job) pixelTag(original string) ([]byte, error) {
	if j.purpose != PurposeOpen {
		original = ""
	}
	u, err := j.urls.PixelURL(j.purpose, original)
	if err != nil {
		return nil, fmt.Errorf("build pixel URL: %w", err)
	}
	j.rep.PixelAdded = true
	j.rep.PixelPurpose = purposeName(j.purpose)
	return pixelHTML(u), nil
}

func purposeName(p Purpose) string {
	if p == PurposeDeliverability {
		return "deliverability"
	}
	return "open"
}

// bodyPart is one leaf the rewrite may change.
type bodyPart struct {
	e       *entity
	kind    string // "html", "amp", "text"
	codec   transferCodec
	content []byte // decoded body
	html    *htmlDoc
	edits   edits // for text parts (HTML parts keep theirs in html)
}

func (p *bodyPart) editList() *edits {
	if p.html != nil {
		return &p.html.edits
	}
	return &p.edits
}

// Rewrite returns the message this recipient may receive (R1, R3, R4, R12).
// Everything not rewritten is byte-identical to msg. On error out is nil:
// never partial output. Parse failures are *ParseError.
func (r *Rewriter) Rewrite(msg []byte, d Decision) (out []byte, rep *Report, err error) {
	return r.AppendRewrite(nil, msg, d, ReportOptions{})
}

// AppendRewrite is Rewrite appending the message to dst, so that a caller
// rewriting message after message can reuse one buffer (the relay), with
// ReportOptions saying which parts of the Report it reads. dst must not overlap
// msg.
func (r *Rewriter) AppendRewrite(dst, msg []byte, d Decision, o ReportOptions) (out []byte, rep *Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, rep, err = nil, nil, fmt.Errorf("%w: %v", ErrInternal, p)
		}
	}()
	if d.URLs == nil {
		return nil, nil, errors.New("mailrewrite: Decision.URLs is nil")
	}
	j := &job{r: r, rewrite: true, id: newIdentity(d.Recipient), rep: newReport(r), urls: d.URLs}
	if o.CountOnly {
		j.rep.countOnly = true
	} else {
		// Marketing mail carries a few dozen remote resources.
		j.rep.Findings = make([]Finding, 0, 64)
	}
	j.skipResources = o.SkipResources
	switch {
	case d.Consent == Granted:
		j.wantPixel, j.purpose = true, PurposeOpen
	case d.Deliverability:
		j.wantPixel, j.purpose = true, PurposeDeliverability
	}
	if j.consentURL, err = d.URLs.ConsentURL(); err != nil {
		return nil, nil, fmt.Errorf("build consent URL: %w", err)
	}
	j.consentPrefix, j.ownPrefix, j.linkPrefix = ownPrefixes(j.consentURL)
	j.trackClicks = d.TrackClicks && d.Consent == Granted

	root, err := parseMessage(msg)
	if err != nil {
		return nil, nil, err
	}
	j.learned, j.listUnsubscribe = d.Learned, listUnsubscribeURLs(msg, root)
	parts, err := j.collect(msg, root)
	if err != nil {
		return nil, nil, err
	}
	if err := j.scanParts(parts); err != nil {
		return nil, nil, err
	}
	if err := j.addPixel(parts); err != nil {
		return nil, nil, err
	}
	ask := func() bool { return false }
	if d.Ask != nil {
		asked, decided := false, false
		ask = func() bool {
			if !decided {
				asked, decided = d.Ask(), true
			}
			return asked
		}
	}
	j.addFooters(parts, ask, lineEnding(msg), j.messageLanguage(msg, root, parts, d.DefaultLanguage))

	var top edits
	// spliced: parts whose edits went straight into top, with the range of
	// their edits there.
	type splice struct {
		p        *bodyPart
		from, to int
	}
	var spliced []splice
	lastEnd := 0
	for _, p := range parts {
		es := *p.editList()
		if len(es) == 0 {
			continue
		}
		j.rep.PartsRewritten = append(j.rep.PartsRewritten, p.e.leafPath())
		if p.codec.identity() && p.e.bodyStart >= lastEnd {
			// The part's content is the message's own bytes: its edits
			// apply to the message directly, saving a copy of the body
			// per message. The parts come in document order
			// and each one's edits are sorted and disjoint, so top
			// stays sorted.
			sp := splice{p: p, from: len(top)}
			for _, e := range es {
				top = append(top, edit{p.e.bodyStart + e.start, p.e.bodyStart + e.end, e.repl})
			}
			sp.to = len(top)
			spliced = append(spliced, sp)
			lastEnd = p.e.end
			continue
		}
		body := p.codec.encode(es.apply(p.content))
		if startsDelimiter(body, p.e.enclosing) {
			return nil, nil, errBoundaryInBody(p)
		}
		top.add(p.e.bodyStart, p.e.end, body)
		lastEnd = p.e.end
	}
	if len(top) == 0 {
		return append(dst, msg...), j.rep, nil
	}
	out = top.appendApply(dst, msg)
	base := len(dst)
	for _, sp := range spliced {
		// Where the part's body landed in out: moved by the edits before
		// it, grown by its own.
		start, end := base+sp.p.e.bodyStart+top[:sp.from].growth(), base+sp.p.e.end+top[:sp.to].growth()
		if startsDelimiter(out[start:end], sp.p.e.enclosing) {
			return nil, nil, errBoundaryInBody(sp.p)
		}
	}
	return out, j.rep, nil
}

// errBoundaryInBody: only hostile input gets here (text that joins into a
// boundary once a tracker between its halves is gone); it is refused rather
// than delivered with a different structure.
func errBoundaryInBody(p *bodyPart) error {
	return parseErr(p.e.leafPath(), p.e.bodyStart, "rewritten body would contain a MIME boundary line")
}

// Scan reports what a rewrite for a recipient without consent would find
// and do, without changing anything. recipient may be "" (unknown): the
// identity checks are then skipped.
func (r *Rewriter) Scan(msg []byte, recipient string) (rep *Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			rep, err = nil, fmt.Errorf("%w: %v", ErrInternal, p)
		}
	}()
	j := &job{r: r, id: newIdentity(recipient), rep: newReport(r)}
	root, err := parseMessage(msg)
	if err != nil {
		return nil, err
	}
	j.listUnsubscribe = listUnsubscribeURLs(msg, root)
	parts, err := j.collect(msg, root)
	if err != nil {
		return nil, err
	}
	if err := j.scanParts(parts); err != nil {
		return nil, err
	}
	return j.rep, nil
}

// ScanHTML is Scan for a bare HTML document (a template file).
func (r *Rewriter) ScanHTML(doc []byte, recipient string) (rep *Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			rep, err = nil, fmt.Errorf("%w: %v", ErrInternal, p)
		}
	}()
	j := &job{r: r, id: newIdentity(recipient), rep: newReport(r)}
	p := &bodyPart{kind: "html", content: doc, html: newHTMLDoc("1", doc, false)}
	if err := j.scanParts([]*bodyPart{p}); err != nil {
		return nil, err
	}
	return j.rep, nil
}

// ownPrefixes derives where pixelgate's consent pages, pixels and click
// redirects live from the consent URL: all three routes of package urlpath
// hang off one root on one origin.
func ownPrefixes(consentURL string) (consent, pixel, link string) {
	u, err := url.Parse(consentURL)
	if err != nil || u.Host == "" {
		return "", "", ""
	}
	origin := u.Scheme + "://" + u.Host
	dir := u.EscapedPath()
	if i := strings.LastIndexByte(dir, '/'); i >= 0 {
		dir = dir[:i+1]
	}
	base := origin + urlpath.Root(dir)
	return origin + dir, base + urlpath.PixelPrefix, base + urlpath.LinkPrefix
}

// collect decodes the leaves the rewrite works on: inline text/html,
// text/x-amp-html and text/plain parts. Attachments, message/rfc822 parts
// and everything else stay as they are.
func (j *job) collect(msg []byte, root *entity) ([]*bodyPart, error) {
	var parts []*bodyPart
	var walk func(e *entity) error
	walk = func(e *entity) error {
		if len(e.children) > 0 || strings.HasPrefix(e.mediaType, "multipart/") {
			for _, c := range e.children {
				if err := walk(c); err != nil {
					return err
				}
			}
			return nil
		}
		if e.isAttachment() || e.headerOnly {
			return nil
		}
		var kind string
		switch e.mediaType {
		case "text/html":
			kind = "html"
		case "text/x-amp-html":
			kind = "amp"
		case "text/plain":
			kind = "text"
		default:
			return nil
		}
		body := msg[e.bodyStart:e.end]
		if !canDecode(e.cte) {
			if kind == "text" {
				return nil // a footer is not worth guessing an encoding
			}
			return parseErr(e.leafPath(), e.start, "unsupported Content-Transfer-Encoding %q for %s", e.cte, e.mediaType)
		}
		if kind != "text" && !asciiCompatible(e.charset()) {
			return parseErr(e.leafPath(), e.start, "charset %q is not ASCII-compatible; cannot look for trackers safely", e.charset())
		}
		codec := newCodec(e.cte, body, lineEnding(msg))
		content, err := codec.decode(body, e.leafPath(), e.bodyStart)
		if err != nil {
			return err
		}
		p := &bodyPart{e: e, kind: kind, codec: codec, content: content}
		if kind != "text" {
			p.html = newHTMLDoc(e.leafPath(), content, kind == "amp")
		}
		parts = append(parts, p)
		return nil
	}
	if err := walk(root); err != nil {
		return nil, err
	}
	return parts, nil
}

// asciiCompatible: the HTML scanner reads bytes, so the charset must encode
// ASCII as ASCII. UTF-16/32 and UTF-7 do not.
func asciiCompatible(cs string) bool {
	return !strings.HasPrefix(cs, "utf-16") && !strings.HasPrefix(cs, "utf-32") &&
		!strings.HasPrefix(cs, "ucs-") && cs != "utf-7" && cs != "unicode-1-1-utf-7"
}

func (j *job) scanParts(parts []*bodyPart) error {
	j.clickHosts.parts = parts
	for _, p := range parts {
		if p.html == nil {
			continue
		}
		if err := j.scanHTML(p.html); err != nil {
			return err
		}
	}
	return nil
}

// addPixel puts pixelgate's pixel before </body> of the first HTML part
// when no ESP pixel was swapped for it: exactly one per message.
func (j *job) addPixel(parts []*bodyPart) error {
	if !j.wantPixel || j.pixelDone {
		return nil
	}
	for _, p := range parts {
		if p.kind != "html" {
			continue
		}
		px, err := j.pixelTag("")
		if err != nil {
			return err
		}
		p.html.edits.insert(insertionPoint(p.html), px)
		j.pixelDone = true
		return nil
	}
	return nil
}

// insertionPoint is where added markup goes: before </body>, else before
// </html>, else at the end of what the tokenizer could read.
func insertionPoint(d *htmlDoc) int {
	switch {
	case d.bodyClose >= 0:
		return d.bodyClose
	case d.htmlClose >= 0:
		return d.htmlClose
	}
	return d.tail
}

// addFooters fills the placeholders, or adds the consent footer link to
// every HTML and text part when the message has neither placeholder nor an
// earlier pixelgate footer (R3).
func (j *job) addFooters(parts []*bodyPart, ask func() bool, eol, lang string) {
	filled := 0
	for _, p := range parts {
		es := p.editList()
		isHTML := p.html != nil
		cs, cte := p.e.charset(), p.e.cte
		url := j.consentURL
		if isHTML {
			url = escapeAttr(url)
		}
		filled += j.fill(p.content, PlaceholderConsentURL, es, func(at int) []byte {
			if !isHTML {
				return encodeText(url, cs, cte)
			}
			if at > 0 && p.content[at-1] == '<' && url != "" {
				// "<" + "https:..." would open a tag that swallows
				// what follows; a zero-width space keeps it text.
				return []byte("&#8203;" + url)
			}
			return []byte(url)
		})
		j.fill(p.content, PlaceholderConsentRequest, es, func(int) []byte {
			if !ask() {
				return nil
			}
			j.rep.ConsentRequested = true
			if isHTML {
				return htmlRequest(lang, j.consentURL)
			}
			return encodeText(textRequest(lang, j.consentURL), cs, cte)
		})
	}
	if filled > 0 || j.keepsLink(parts, footerMarker) || j.keepsLink(parts, j.consentPrefix) {
		return
	}
	for _, p := range parts {
		es := p.editList()
		cs, cte := p.e.charset(), p.e.cte
		if p.html != nil {
			es.insert(insertionPoint(p.html), htmlFooter(lang, j.consentURL))
		} else {
			pos := len(p.content)
			f := textFooter(lang, j.consentURL, eol)
			if !bytes.HasSuffix(p.content, []byte("\n")) {
				f = eol + f
			}
			es.insert(pos, encodeText(f, cs, cte))
		}
		j.rep.FooterAdded = true
	}
}

// messageLanguage is the language of what pixelgate adds: the campaign's
// X-Pixelgate-Language header, the message's Content-Language (RFC 3282),
// a part's Content-Language, the first <html lang>, then def; the first
// that the footer has texts for wins.
func (j *job) messageLanguage(msg []byte, root *entity, parts []*bodyPart, def string) string {
	var cands []string
	hdr, _, _ := splitHeader(msg, root.start, root.end)
	cands = append(cands, headerValue(hdr, LanguageHeader), headerValue(hdr, "Content-Language"))
	for _, p := range parts {
		if h, _, ok := splitHeader(msg, p.e.start, p.e.end); ok && p.e != root {
			cands = append(cands, headerValue(h, "Content-Language"))
		}
	}
	for _, p := range parts {
		if p.html != nil {
			cands = append(cands, p.html.lang)
		}
	}
	return lang.FirstOf(append(cands, def)...)
}

// headerValue is the first field named name in hdr, unfolded.
func headerValue(hdr []byte, name string) string {
	v, lower := "", strings.ToLower(name)
	forEachField(hdr, func(n, value []byte) {
		if v == "" && asciiEqualFold(n, lower) {
			v = strings.TrimSpace(string(value))
		}
	})
	return v
}

// keepsLink reports whether s (an earlier footer's marker or a consent
// page URL) is still in some part once this rewrite's edits are applied:
// then the message already gives the recipient the link (R3), and a second
// rewrite adds nothing.
func (j *job) keepsLink(parts []*bodyPart, s string) bool {
	if s == "" {
		return false
	}
	for _, p := range parts {
		if !containsRare(p.content, []byte(s)) {
			continue
		}
		if bytes.Contains(p.editList().apply(p.content), []byte(s)) {
			return true
		}
	}
	return false
}

// fill replaces every occurrence of placeholder in content and returns
// how many it replaced (one inside markup already removed is not).
func (j *job) fill(content []byte, placeholder string, es *edits, repl func(at int) []byte) int {
	n := 0
	off := 0
	for {
		i := bytes.Index(content[off:], []byte(placeholder))
		if i < 0 {
			return n
		}
		start := off + i
		end := start + len(placeholder)
		r := repl(start)
		switch {
		case es.put(start, end, r):
			j.rep.PlaceholdersFilled++
			n++
		default:
			// Inside a tag the rewrite already changed: the new tag
			// copied the placeholder; fill it there.
			for k := range *es {
				e := &(*es)[k]
				if e.start <= start && start < e.end && bytes.Contains(e.repl, []byte(placeholder)) {
					c := bytes.Count(e.repl, []byte(placeholder))
					e.repl = bytes.ReplaceAll(e.repl, []byte(placeholder), r)
					j.rep.PlaceholdersFilled += c
					n += c
					break
				}
			}
		}
		off = end
	}
}

func newReport(r *Rewriter) *Report {
	return &Report{RulesVersion: r.rules.Version()}
}
