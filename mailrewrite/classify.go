package mailrewrite

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pixelgate/pixelgate/mailrewrite/internal/memo"
	"github.com/pixelgate/pixelgate/mailrewrite/learn"
	"github.com/pixelgate/pixelgate/mailrewrite/rules"
)

// Reason codes. Every finding carries at least one; they are what
// `rewrite --explain` and `scan` print and what metrics count (operator guide §11).
const (
	ReasonRule         = "rule"            // "rule:<rule id>": the tracker rules matched
	ReasonOpenEndpoint = "open-endpoint"   // generic open-pixel path shape with a per-message token
	ReasonTiny         = "tiny"            // "tiny:WxH": declared size of a pixel
	ReasonHidden       = "hidden"          // hidden by its own style or attribute
	ReasonHiddenParent = "hidden-parent"   // inside a hidden element
	ReasonIdentity     = "identity"        // "identity-<form>": the recipient's address is in the URL
	ReasonToken        = "recipient-token" // a query value shaped like a per-recipient token
	ReasonUnparseable  = "unparseable-url" // remote, but not a URL we can reason about: fail closed
	ReasonAlwaysPixel  = "amp-pixel"       // amp-pixel / amp-analytics exist only to report
	ReasonOwnPixel     = "pixelgate-pixel" // pixelgate's own pixel
	ReasonSpacer       = "static-spacer"   // a tiny image identical for every recipient
	ReasonStatic       = "static-image"    // hidden or small, but a static image identical for every recipient
	ReasonSigned       = "signed-url"      // an identifier in a signed URL: removed whole, never broken
	ReasonContent      = "content"         // nothing suggests tracking
	// ReasonImageUnwrapped: a tracker URL that carries the real image in
	// its query; the image takes its place (R1, as links are unwrapped, R12).
	ReasonImageUnwrapped = "image-unwrapped"
	// ReasonInnerTracker: the image inside a tracking wrapper is itself a
	// tracker: both go.
	ReasonInnerTracker = "inner-tracker"
	// ReasonClickHost: an unsized image with an open-endpoint or id-shaped
	// path on a host the same message uses for click redirects: the
	// newsletter platform's open pixel.
	ReasonClickHost = "click-host-pixel"
)

// Classes of remote resource.
const (
	ClassTracker      = "tracker"       // removed (or swapped for pixelgate's pixel)
	ClassPerRecipient = "per-recipient" // content kept, identifier removed
	ClassContent      = "content"       // kept as is
	ClassOwn          = "pixelgate"     // pixelgate's own pixel
)

// carrier describes where a URL sits, with what the markup says about its
// size and visibility. Only element carriers (images and the like) have a
// size; CSS backgrounds are judged by their URL.
type carrier struct {
	kind         string
	sized        bool // the carrier is an image-like element
	w, h         int  // declared size, -1 unknown
	hidden       bool
	hiddenParent bool
}

// verdict is the classification of one remote URL.
type verdict struct {
	class   string
	reasons []string
	vendor  string
	// openPixel: an ESP open pixel, the one a consenting recipient's
	// pixelgate pixel takes the place of.
	openPixel bool
	// clean is the URL without its per-recipient parts (ClassPerRecipient),
	// or the image a tracking wrapper carries (unwrapped).
	clean string
	// unwrapped: a tracker whose image stays, at clean, without it.
	unwrapped bool
}

// replacement returns the URL that takes the place of a resource that
// stays in another form, and the action that is: an identifier taken out,
// or a tracking wrapper unwrapped to its image. ok is false when the
// resource stays as it is or goes.
func (v verdict) replacement() (clean, action string, ok bool) {
	switch {
	case v.unwrapped:
		return v.clean, ActionUnwrapped, true
	case v.class == ClassPerRecipient:
		return v.clean, ActionIdentifierRemoved, true
	}
	return "", "", false
}

// maxImageUnwrap bounds wrappers inside wrappers; deeper nesting is
// removed whole.
const maxImageUnwrap = 3

// imageCarrier: the carrier shows an image, so a wrapper's inner URL can
// take its place (a stylesheet wrapped in a tracker has no such use).
func imageCarrier(kind string) bool {
	return kind != "link-stylesheet" && kind != "css-import"
}

// isRemote: only http(s) and scheme-relative URLs make a mail client reach
// the network; cid: and data: never do.
func isRemote[T string | []byte](raw T) bool {
	i := 0
	for i < len(raw) && isSpaceASCII(raw[i]) {
		i++
	}
	if i < len(raw) && raw[i] >= utf8.RuneSelf {
		// Leading Unicode space, as strings.TrimSpace takes it off: rare.
		s := strings.TrimSpace(string(raw))
		return hasPrefixFold(s, "//") || hasPrefixFold(s, "http://") || hasPrefixFold(s, "https://")
	}
	s := raw[i:]
	return hasPrefixFold(s, "//") || hasPrefixFold(s, "http://") || hasPrefixFold(s, "https://")
}

// classify decides what one remote URL is.
func (j *job) classify(raw string, c carrier) verdict {
	return j.classifyAt(raw, c, 0)
}

// classifyAt is classify of a URL found depth tracking wrappers deep.
func (j *job) classifyAt(raw string, c carrier, depth int) verdict {
	raw = strings.TrimSpace(raw)
	if strings.ContainsAny(raw, "\t\r\n") {
		// The URL parser of browsers drops tabs and line breaks (WHATWG
		// URL §4.4), so a URL split across lines still loads.
		raw = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, raw)
	}
	if j.ownPrefix != "" && strings.HasPrefix(raw, j.ownPrefix) {
		return verdict{class: ClassOwn, reasons: []string{ReasonOwnPixel}, vendor: "pixelgate"}
	}
	var v verdict
	rf := j.resourceFactsOf(raw)
	u := rf.u
	if u == nil {
		return verdict{class: ClassTracker, reasons: []string{ReasonUnparseable}}
	}
	strong := false // a reason that makes it a tracker whatever the markup says
	if rf.rule != "" {
		v.reasons = append(v.reasons, rf.rule)
		v.vendor = rf.vendor
		v.openPixel = rf.openRule
		strong = true
	}
	if rf.openShape {
		v.reasons = append(v.reasons, ReasonOpenEndpoint)
		v.openPixel = true
		strong = true
	}
	if !strong && c.sized && c.w < 0 && c.h < 0 && rf.pixelPath && j.isClickHost(u.Hostname()) {
		// Newsletter platforms serve the open pixel, unsized, from the
		// host of the message's click redirects (R1).
		v.reasons = append(v.reasons, ReasonClickHost)
		v.openPixel = true
		strong = true
	}
	if strong && rf.inner != "" && imageCarrier(c.kind) {
		return j.unwrapImage(v, rf.inner, c, depth)
	}
	weak := false  // size/visibility: a tracker unless the URL is a static spacer
	pixel := false // a true pixel (both sides at most 2): nothing to see in it
	if c.sized && isTiny(c.w, c.h) {
		v.reasons = append(v.reasons, ReasonTiny+":"+dimString(c.w)+"x"+dimString(c.h))
		weak = true
		pixel = isPixel(c.w, c.h)
	}
	if c.hidden {
		v.reasons = append(v.reasons, ReasonHidden)
		weak = true
	}
	if c.hiddenParent {
		v.reasons = append(v.reasons, ReasonHiddenParent)
		weak = true
	}
	form := j.id.match(raw)
	if form != "" {
		v.reasons = append(v.reasons, ReasonIdentity+"-"+form)
	}
	base := raw
	if lp, ok := j.learnedParts(u); ok {
		v.reasons = append(v.reasons, ReasonLearned+":"+learn.PartsString(lp))
		base = learn.RemoveParts(raw, lp)
	}
	learnt := base != raw
	clean, tokens := rf.clean, rf.tokens
	if form != "" || learnt {
		clean, tokens = stripRecipientParts(base, j.id, form != "", rf.params, true)
	}
	if tokens {
		v.reasons = append(v.reasons, ReasonToken)
	}
	switch {
	case strong:
		v.class = ClassTracker
	case weak && form == "" && !tokens && !learnt && rf.spacer:
		v.class = ClassContent
		v.reasons = append(v.reasons, ReasonSpacer)
	case weak && !pixel && form == "" && !tokens && !learnt && rf.static:
		// Hidden (a responsive duplicate, a block a media query shows)
		// or a small icon, at a URL with nothing in it that could tell
		// one reader from another: the markup alone is no evidence of
		// tracking (R1), and removing it loses content.
		v.class = ClassContent
		v.reasons = append(v.reasons, ReasonStatic)
	case weak:
		v.class = ClassTracker
	case form != "" || tokens || learnt:
		switch {
		case clean == raw || j.id.match(clean) != "":
			// The identifier is where it cannot be taken out (the host):
			// the resource goes.
			v.class = ClassTracker
		case rf.signed:
			// Taking the identifier out would break the signature: the
			// resource goes whole rather than broken (R1).
			v.class = ClassTracker
			v.reasons = append(v.reasons, ReasonSigned)
		default:
			v.class, v.clean = ClassPerRecipient, clean
		}
	default:
		v.class = ClassContent
		if len(v.reasons) == 0 {
			v.reasons = contentOnly // most images: no slice to make
		} else {
			v.reasons = append(v.reasons, ReasonContent)
		}
	}
	return v
}

// unwrapImage decides about a tracker URL carrying the real image: the
// image, judged itself where the wrapper stood, takes its place; when it
// is a tracker too, or wrappers nest too deep, everything goes (R1).
func (j *job) unwrapImage(v verdict, inner string, c carrier, depth int) verdict {
	v.class = ClassTracker
	if depth >= maxImageUnwrap {
		return v
	}
	iv := j.classifyAt(inner, c, depth+1)
	switch {
	case iv.unwrapped, iv.class == ClassPerRecipient:
		v.clean = iv.clean
	case iv.class == ClassContent:
		v.clean = cssSafeURL(inner)
	default:
		v.reasons = append(v.reasons, ReasonInnerTracker)
		return v
	}
	// The wrapper goes for everyone, a consenting recipient included:
	// pixelgate's own pixel is the one that reports an open.
	v.unwrapped, v.openPixel = true, false
	v.reasons = append(v.reasons, ReasonImageUnwrapped)
	return v
}

// cssSafeURL percent-encodes the bytes that could end the URL where it is
// written (a quoted attribute, a CSS url()): the inner URL comes decoded
// from the wrapper's query, and must stay one URL, never become markup
// that loads something else.
func cssSafeURL(s string) string {
	if !strings.ContainsAny(s, "\"'()\\<>` ") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\'', '(', ')', '\\', '<', '>', '`', ' ':
			b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c), 16)))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// contentOnly is the reasons of a resource with nothing against it. It is
// shared and never written: its length is its capacity, so an append makes
// a copy.
var contentOnly = []string{ReasonContent}

// resourceFacts is what the rules say about one remote resource URL (as
// classify cleaned it), the same for every recipient: the Rewriter keeps
// it across messages like linkFacts. Shared: never changed.
type resourceFacts struct {
	raw       string   // the URL, as classify cleaned it
	u         *url.URL // nil: not a URL we can reason about
	rule      string   // the "rule:<id>" reason when a tracker rule matched
	vendor    string
	openRule  bool // the rule is an ESP open pixel
	openShape bool // generic open-endpoint path shape
	// pixelPath: the path names an open endpoint or holds an id-shaped
	// segment (idShapedPath), and does not name a photo (pixelPath).
	pixelPath bool
	// inner is the image a tracker URL carries in its query ("" none).
	inner  string
	params []string
	// clean and tokens: the URL without its per-recipient parameters, as
	// found with neither an identity nor learnt parts in it.
	clean  string
	tokens bool
	spacer bool // a static spacer image by its URL
	static bool // a static image every recipient gets alike (isSharedStatic)
	signed bool // the query carries a signature: never altered
}

// srcString is an attribute's URL as a string: the resource memo's own copy
// when it knows the URL exactly as written, so a campaign's known images
// cost no copy.
func (j *job) srcString(b []byte) string {
	if !j.r.noMemo {
		if f, ok := memo.GetBytes(&j.r.resourceMemo, b); ok {
			return f.raw
		}
	}
	return string(b)
}

func (j *job) resourceFactsOf(raw string) *resourceFacts {
	if f, ok := j.r.resourceMemo.Get(memo.String(raw)); ok && !j.r.noMemo {
		return f
	}
	f := &resourceFacts{raw: raw, clean: raw}
	if u, ok := j.r.rules.ParseURL(raw); ok {
		f.u = u
		if m, ok := j.r.rules.MatchTracker(u); ok {
			f.rule, f.vendor, f.openRule = ReasonRule+":"+m.RuleID, m.Vendor, m.Kind == "open"
		}
		f.openShape = j.r.rules.OpenEndpointShape(u)
		f.pixelPath = pixelPath(u)
		if f.rule != "" || f.openShape {
			if in, ok := j.r.rules.InnerImage(u); ok {
				f.inner = in.String()
			}
		}
		f.params = j.r.rules.IdentifyingParams(u)
		f.clean, f.tokens = stripRecipientParts(raw, nil, false, f.params, true)
		f.spacer = isStaticSpacer(u)
		f.static = isSharedStatic(u)
		f.signed = signed(raw)
	}
	j.r.resourceMemo.Put(memo.String(raw), f)
	return f
}

// isPixel: an image no reader can see (0 or at most 2 px each way, or a
// single such side declared). Removing it loses nothing, so its size alone
// keeps it a tracker; larger small images are icons and bullets.
func isPixel(w, h int) bool {
	switch {
	case w == 0 || h == 0:
		return true
	case w > 0 && h > 0:
		return w <= 2 && h <= 2
	}
	return max(w, h) <= 2
}

// isTiny: a tracking pixel declares itself 1×1 or 0×0; the rule also takes
// a single tiny dimension and small areas, but not a thin divider line such
// as 1×23 or 600×1, which is layout (≤ 2 or area ≤ 25).
func isTiny(w, h int) bool {
	switch {
	case w == 0 || h == 0:
		return true
	case w > 0 && h > 0:
		return (w <= 2 && h <= 2) || (w*h <= 25 && max(w, h) <= 12)
	case w > 0:
		return w <= 2
	case h > 0:
		return h <= 2
	}
	return false
}

func dimString(n int) string {
	if n < 0 {
		return "?"
	}
	return itoa(n)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// spacerNames are file names of the transparent layout images of table-era
// HTML. A tiny image with such a name, no query and no token anywhere is
// the same URL for every recipient: it cannot tell who opened (R1).
var spacerNames = map[string]bool{
	"spacer": true, "transparent": true, "blank": true, "clear": true, "trans": true,
	"space": true, "spc": true, "empty": true, "shim": true, "clearpixel": true,
	"spacer_transparent": true, "transparent_pixel": true,
}

func isStaticSpacer(u *url.URL) bool {
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return false
	}
	for _, l := range strings.Split(u.Hostname(), ".") {
		if isTokenValue(l) {
			return false
		}
	}
	segs := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	for _, s := range segs[:len(segs)-1] {
		if isTokenValue(s) {
			return false
		}
	}
	name := strings.ToLower(segs[len(segs)-1])
	base, ext, ok := strings.Cut(name, ".")
	if !ok || (ext != "gif" && ext != "png") {
		return false
	}
	return spacerNames[base]
}

// presentationParams only choose how an image is served (size, format,
// quality, a cache version), the same for every recipient.
var presentationParams = map[string]bool{
	"w": true, "h": true, "width": true, "height": true, "fit": true, "crop": true, "fm": true, "auto": true,
	"q": true, "quality": true, "format": true, "dpr": true, "v": true, "ver": true, "version": true, "rev": true,
}

// isSharedStatic: u names a static image file the same way for everyone:
// an image extension, no user info or fragment, no query beyond
// presentation parameters, and no host label or path segment shaped like
// an identifier. Such a URL cannot tell who opened the message (R1).
func isSharedStatic(u *url.URL) bool {
	if u.User != nil || u.Fragment != "" {
		return false
	}
	// A host label may be a CDN's distribution id (d3k81ch9hvuctc),
	// the same for everyone: only a long token there counts.
	for _, l := range strings.Split(u.Hostname(), ".") {
		if isTokenValue(l) {
			return false
		}
	}
	path := u.EscapedPath()
	if !rules.ImageFile(path) {
		return false
	}
	for _, s := range strings.Split(strings.Trim(path, "/"), "/") {
		if isTokenValue(s) || rules.IsToken(s) {
			return false
		}
	}
	for q := u.RawQuery; q != ""; {
		var p string
		p, q, _ = strings.Cut(q, "&")
		k, _, _ := strings.Cut(p, "=")
		if !presentationParams[strings.ToLower(k)] {
			return false
		}
	}
	return true
}

// recipientParams are query parameter names ESPs use for a recipient or
// message id; with a value of some length they are per-recipient. The name
// is the evidence: a value's shape alone is not, since campaign codes,
// creative ids and file ids (an ad server's id=, a file host's id=) look
// just as random and are the same for every recipient (R1 asks for what
// identifies the reader, not for what looks random).
var recipientParams = map[string]bool{
	"e": true, "em": true, "email": true, "mail": true, "uid": true, "userid": true, "user_id": true,
	"subscriber": true, "subscriberid": true, "subscriber_id": true, "sid": true, "rid": true,
	"recipient": true, "recipient_id": true, "rcpt": true, "contact": true, "contactid": true,
	"contact_id": true, "mid": true, "msgid": true, "hash": true, "upn": true, "ecid": true,
	"_hsenc": true, "mc_eid": true, "vero_id": true, "lid": true,
}

// signatureParams sign a URL: the server refuses it once any other byte of
// it changes (signed CDN and image-proxy URLs, S3 and GCS presigned URLs,
// Facebook's oh=). Such a URL is never altered: it stays whole or, when it
// does carry the reader's identity, goes whole.
var signatureParams = map[string]bool{
	"sig": true, "signature": true, "hmac": true, "x-amz-signature": true, "x-goog-signature": true,
	"key-pair-id": true, "policy": true, "oh": true, "_nc_sig": true, "sign": true,
}

// signed reports whether a URL's query carries a signature parameter.
func signed(raw string) bool {
	_, q, ok := strings.Cut(raw, "?")
	if !ok {
		return false
	}
	q, _, _ = strings.Cut(q, "#")
	for q != "" {
		var p string
		p, q, _ = strings.Cut(q, "&")
		k, _, _ := strings.Cut(p, "=")
		var buf [24]byte
		if lk := lowerASCII(buf[:], k); lk != nil && signatureParams[string(lk)] {
			return true
		}
	}
	return false
}

// stripRecipientParts removes the query parameters and path segments that
// carry the recipient's identity or a per-recipient token, leaving every
// other byte of the URL as it was. changed reports whether anything was
// taken out because of a token or a parameter the link rules name
// (identity matches are reported by the caller through identity.match).
func stripRecipientParts(raw string, id *identity, hasID bool, ruleParams []string, heuristic bool) (clean string, tokens bool) {
	rest, frag, hasFrag := strings.Cut(raw, "#")
	base, query, hasQuery := strings.Cut(rest, "?")
	removed := false
	if hasQuery {
		// Most URLs keep every parameter: decide first, copy only then.
		var kept []string
		for i, q := 0, query; q != "" || i == 0; i++ {
			var p string
			p, q, _ = strings.Cut(q, "&")
			drop, tok := dropParam(p, id, hasID, ruleParams, heuristic)
			tokens = tokens || tok
			switch {
			case drop && !removed:
				removed = true
				kept = strings.Split(query, "&")[:i:i]
			case !drop && removed:
				kept = append(kept, p)
			}
			if q == "" {
				break
			}
		}
		if removed {
			query = strings.Join(kept, "&")
		}
	}
	if hasID {
		// Path segments after the host: only the identity is taken out
		// there; a long hex or base64 segment is usually the image's own
		// content hash, the same for everyone.
		schemeEnd := strings.Index(base, "//")
		if schemeEnd >= 0 {
			if slash := strings.IndexByte(base[schemeEnd+2:], '/'); slash >= 0 {
				pathStart := schemeEnd + 2 + slash
				segs := strings.Split(base[pathStart:], "/")
				kept := segs[:0:0]
				for _, s := range segs {
					if s != "" && id.match(s) != "" {
						removed = true
						continue
					}
					kept = append(kept, s)
				}
				base = base[:pathStart] + strings.Join(kept, "/")
			}
		}
	}
	if !removed {
		return raw, false
	}
	out := base
	if hasQuery && query != "" {
		out += "?" + query
	}
	if hasFrag {
		out += "#" + frag
	}
	return out, tokens
}

// dropParam decides about one "key=value" query parameter: drop it when
// it holds the identity (hasID: the URL does), a parameter the link rules
// name, or (heuristic) an id value under a name ESPs use for the recipient.
func dropParam(p string, id *identity, hasID bool, ruleParams []string, heuristic bool) (drop, token bool) {
	if hasID && id.match(p) != "" {
		return true, false
	}
	k, v, _ := strings.Cut(p, "=")
	dk := k
	if strings.ContainsAny(k, "%+") {
		if u, err := url.QueryUnescape(k); err == nil {
			dk = u
		}
	}
	if len(ruleParams) > 0 && (contains(ruleParams, dk) || contains(ruleParams, k)) {
		return true, true
	}
	if !heuristic {
		return false, false
	}
	var buf [24]byte
	lk := lowerASCII(buf[:], dk)
	if lk == nil || !recipientParams[string(lk)] {
		return false, false
	}
	dv := v
	if strings.ContainsAny(v, "%+") {
		if u, err := url.QueryUnescape(v); err == nil {
			dv = u
		}
	}
	if len(dv) >= 6 && isIDChars(dv) {
		return true, true
	}
	return false, false
}

// isTokenValue: long, opaque and mixing letters with digits, the shape of
// per-recipient ids (Brevo's ?e=, Klaviyo's upn=) rather than of words,
// numbers or file names.
func isTokenValue(v string) bool {
	if len(v) < 16 || len(v) > 2048 || !isIDChars(v) {
		return false
	}
	// Random ids switch between upper case, lower case and digits all the
	// time; words and dates ("Newsletter-23_01_18") hardly do.
	var letter, digit bool
	switches, prev := 0, byte(0)
	for i := 0; i < len(v); i++ {
		c := v[i]
		var cls byte
		switch {
		case '0' <= c && c <= '9':
			digit, cls = true, 'd'
		case 'a' <= c && c <= 'z':
			letter, cls = true, 'l'
		case 'A' <= c && c <= 'Z':
			letter, cls = true, 'u'
		}
		if cls != 0 && prev != 0 && cls != prev {
			switches++
		}
		prev = cls
	}
	if !letter || !digit || switches*8 < len(v) {
		return false
	}
	lv := strings.ToLower(v)
	for _, ext := range []string{".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".css", ".html"} {
		if strings.HasSuffix(lv, ext) {
			return false
		}
	}
	return true
}

func isIDChars(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case c == '-' || c == '_' || c == '.' || c == '~' || c == '=' || c == '+' || c == '/' || c == '%':
		default:
			return false
		}
	}
	return true
}
