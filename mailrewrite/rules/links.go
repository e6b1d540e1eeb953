package rules

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// paramRule is one compiled params entry of the link file.
type paramRule struct {
	id  string
	pat *pattern
}

// paramIndex finds identifying-parameter rules by parameter name: a URL has
// few parameters, so one map lookup per parameter is all it costs.
type paramIndex map[string][]paramRule

type redirectRule struct {
	id        string
	pat       *pattern
	params    []string
	pathGroup int
	encoding  string
}

// maxUnwrapDepth bounds nested redirects (a safelink around an ESP link
// around the destination); deeper nesting is left as it is.
const maxUnwrapDepth = 4

// maxDestLen: a destination longer than this is not a link anyone clicks.
const maxDestLen = 8 << 10

func (s *Set) parseLinks(data []byte, seen map[string]bool) error {
	var f linkFile
	if err := decodeStrict(data, &f); err != nil {
		return err
	}
	if err := f.check("pixelgate-links"); err != nil {
		return err
	}
	s.params = paramIndex{}
	for i, r := range f.Params {
		if err := r.check(seen); err != nil {
			return fmt.Errorf("params rule %d (id %q): %w", i, r.ID, err)
		}
		if len(r.Names) == 0 {
			return fmt.Errorf("params rule %d (id %q): names missing", i, r.ID)
		}
		p, err := compileLinkPattern(r.patternJSON)
		if err != nil {
			return fmt.Errorf("params rule %d (id %q): %w", i, r.ID, err)
		}
		s.stats.BySource[r.Source]++
		for _, n := range r.Names {
			if n == "" {
				return fmt.Errorf("params rule %d (id %q): empty name", i, r.ID)
			}
			s.params[n] = append(s.params[n], paramRule{id: r.ID, pat: p})
		}
		if err := checkParamExample(p, r.Names, r.Example); err != nil {
			return fmt.Errorf("params rule %d (id %q): %w", i, r.ID, err)
		}
	}
	pats := make([]*pattern, 0, len(f.Redirects))
	for i, r := range f.Redirects {
		rr, err := r.compile(seen)
		if err != nil {
			return fmt.Errorf("redirects rule %d (id %q): %w", i, r.ID, err)
		}
		s.stats.BySource[r.Source]++
		s.redirects = append(s.redirects, rr)
		pats = append(pats, rr.pat)
	}
	s.redirectIdx = newIndex(pats)
	s.stats.ParamRules, s.stats.RedirectRules = len(f.Params), len(f.Redirects)
	for i, r := range f.Redirects {
		if err := s.checkRedirectExample(r.ID, r.Example, r.ExampleDest); err != nil {
			return fmt.Errorf("redirects rule %d (id %q): %w", i, r.ID, err)
		}
	}
	s.linksVersion = f.Version
	return nil
}

// compileLinkPattern compiles a pattern of the link file, where host "*"
// needs no segments: such params rules are indexed by parameter name, and
// such redirect rules are the few shapes only links are checked against.
func compileLinkPattern(pj patternJSON) (*pattern, error) {
	p, err := compilePattern(pj, true)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// checkParamExample verifies that the example carries every name and that
// the rule applies to it.
func checkParamExample(p *pattern, names []string, example string) error {
	if example == "" {
		return nil
	}
	u, err := exampleURL(example)
	if err != nil {
		return err
	}
	h, path, q := urlParts(u)
	if !p.match(h, path, q) {
		return fmt.Errorf("example %q is not a URL the rule applies to", example)
	}
	for _, n := range names {
		if !u.Query().Has(n) {
			return fmt.Errorf("example %q lacks parameter %q", example, n)
		}
	}
	return nil
}

// checkRedirectExample verifies that the example unwraps, by this rule,
// to the expected destination.
func (s *Set) checkRedirectExample(id, example, dest string) error {
	if example == "" && dest == "" {
		return nil
	}
	u, err := exampleURL(example)
	if err != nil {
		return err
	}
	got, gotID, ok := s.Unwrap(u)
	switch {
	case !ok:
		return fmt.Errorf("example %q does not unwrap", example)
	case gotID != id:
		return fmt.Errorf("example %q is unwrapped by rule %q first", example, gotID)
	case got.String() != dest:
		return fmt.Errorf("example %q unwraps to %q, example_dest says %q", example, got, dest)
	}
	return nil
}

func (r *redirectRuleJSON) compile(seen map[string]bool) (redirectRule, error) {
	if err := r.check(seen); err != nil {
		return redirectRule{}, err
	}
	if !validEncodings[r.Encoding] {
		return redirectRule{}, fmt.Errorf("encoding %q unknown (plain, base64, auto, urldefense-v2, urldefense-v3)", r.Encoding)
	}
	p, err := compileLinkPattern(r.patternJSON)
	if err != nil {
		return redirectRule{}, err
	}
	switch {
	case len(r.Params) > 0 && r.PathGroup != 0:
		return redirectRule{}, fmt.Errorf("params and path_group are exclusive")
	case len(r.Params) == 0 && r.PathGroup == 0:
		return redirectRule{}, fmt.Errorf("params or path_group needed: where is the destination")
	case r.PathGroup != 0 && (p.pathRE == nil || r.PathGroup < 0 || r.PathGroup > p.pathRE.NumSubexp()):
		return redirectRule{}, fmt.Errorf("path_group %d is not a group of path_regexp", r.PathGroup)
	}
	return redirectRule{id: r.ID, pat: p, params: r.Params, pathGroup: r.PathGroup, encoding: r.Encoding}, nil
}

// IdentifyingParams returns the names of u's query parameters that carry a
// per-recipient value by the link rules (R12): for a recipient without
// consent they are removed, campaign-level ones such as utm_* stay. Names
// come back decoded, once each, in the order they appear.
func (s *Set) IdentifyingParams(u *url.URL) []string {
	if !webURL(u) || u.RawQuery == "" || len(s.params) == 0 {
		return nil
	}
	h, path, q := urlParts(u)
	k := urlKey{host: h, path: path, query: q}
	if out, ok := s.paramsMemo.Get(k); ok {
		return out
	}
	out := s.identifyingParams(h, path, q)
	kept := out
	if len(out) > 0 {
		kept = make([]string, len(out))
		for i, n := range out {
			kept[i] = strings.Clone(n) // names point into the caller's URL
		}
	}
	s.paramsMemo.Put(k, kept)
	return out
}

// identifyingParams is IdentifyingParams without the memo. The slice it
// returns is full to capacity, so a caller's append never writes into a
// remembered answer.
func (s *Set) identifyingParams(h, path, q string) []string {
	var out []string
	eachQueryPair(q, func(name, _ string) bool {
		if strings.ContainsAny(name, "%+") {
			dn, err := url.QueryUnescape(name)
			if err != nil {
				return true
			}
			name = dn
		}
		for _, r := range s.params[name] {
			if r.pat.match(h, path, q) {
				if !slices.Contains(out, name) {
					out = append(out, name)
				}
				break
			}
		}
		return true
	})
	return out[:len(out):len(out)]
}

// Unwrap returns the destination of a click redirect when the URL itself
// holds it, following nested redirects. It never contacts anything: opaque
// redirects are left to IsClickTracker. dest is always an absolute http(s)
// URL; ruleID is the rule of the outermost redirect unwrapped.
func (s *Set) Unwrap(u *url.URL) (dest *url.URL, ruleID string, ok bool) {
	if !webURL(u) {
		return nil, "", false
	}
	h, path, q := urlParts(u)
	k := urlKey{host: h, path: path, query: q, fragment: u.EscapedFragment()}
	a, hit := s.unwrapMemo.Get(k)
	if !hit {
		a.dest, a.ruleID, _ = s.unwrap(u)
		s.unwrapMemo.Put(k, unwrapAnswer{dest: cloneURL(a.dest), ruleID: a.ruleID})
	}
	if a.dest == nil {
		return nil, "", false
	}
	// A copy: the caller may change its URL, never the remembered one.
	d := *a.dest
	return &d, a.ruleID, true
}

// unwrapAnswer is a remembered Unwrap result; dest nil: not a redirect
// whose destination is in the URL.
type unwrapAnswer struct {
	dest   *url.URL
	ruleID string
}

// cloneURL copies u with strings of its own: the parts of a parsed URL
// point into the string it was parsed from, which a memo must not keep.
func cloneURL(u *url.URL) *url.URL {
	if u == nil {
		return nil
	}
	c := *u
	for _, p := range []*string{&c.Scheme, &c.Opaque, &c.Host, &c.Path, &c.RawPath, &c.RawQuery, &c.Fragment, &c.RawFragment} {
		*p = strings.Clone(*p)
	}
	if u.User != nil {
		name := strings.Clone(u.User.Username())
		if pw, ok := u.User.Password(); ok {
			c.User = url.UserPassword(name, strings.Clone(pw))
		} else {
			c.User = url.User(name)
		}
	}
	return &c
}

// unwrap is Unwrap without the memo.
func (s *Set) unwrap(u *url.URL) (dest *url.URL, ruleID string, ok bool) {
	cur := u
	for depth := 0; depth < maxUnwrapDepth; depth++ {
		next, id, found := s.unwrapOnce(cur)
		if !found {
			break
		}
		if ruleID == "" {
			ruleID = id
		}
		dest, cur = next, next
	}
	return dest, ruleID, dest != nil
}

func (s *Set) unwrapOnce(u *url.URL) (*url.URL, string, bool) {
	if !webURL(u) {
		return nil, "", false
	}
	h, path, q := urlParts(u)
	// The index returns the first matching rule; a rule can match a URL
	// whose value is not a destination (u= is an id for Mailchimp), so
	// every matching rule is tried in priority order.
	var dest *url.URL
	var id string
	s.redirectIdx.each(h, path, q, func(pos int32) bool {
		r := &s.redirects[pos]
		if d, ok := r.extract(path, q, u.EscapedFragment()); ok {
			dest, id = d, r.id
			return false
		}
		return true
	})
	return dest, id, dest != nil
}

func (r *redirectRule) extract(path, rawQuery, fragment string) (*url.URL, bool) {
	if r.pathGroup > 0 {
		m := r.pat.pathRE.FindStringSubmatch(path)
		if m == nil {
			return nil, false
		}
		raw := m[r.pathGroup]
		if r.encoding == "urldefense-v3" {
			// The wrapped URL is the rest of the wrapper, query and
			// fragment included, already escaped as it will be used.
			if rawQuery != "" {
				raw += "?" + rawQuery
			}
			if fragment != "" {
				raw += "#" + fragment
			}
		} else {
			var err error
			if raw, err = url.PathUnescape(raw); err != nil {
				return nil, false
			}
		}
		return decodeDest(raw, r.encoding)
	}
	for _, name := range r.params {
		v, ok := queryValue(rawQuery, name)
		if !ok || v == "" {
			continue
		}
		raw, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		if d, ok := decodeDest(raw, r.encoding); ok {
			return d, true
		}
	}
	return nil, false
}

func decodeDest(raw, encoding string) (*url.URL, bool) {
	switch encoding {
	case "plain":
		return plainDest(raw)
	case "base64":
		return base64Dest(raw)
	case "auto":
		if d, ok := plainDest(raw); ok {
			return d, true
		}
		return base64Dest(raw)
	case "urldefense-v2":
		// Proofpoint v2: "-" replaces "%" and "_" replaces "/".
		s, err := url.PathUnescape(strings.NewReplacer("-", "%", "_", "/").Replace(raw))
		if err != nil {
			return nil, false
		}
		return plainDest(s)
	case "urldefense-v3":
		return urldefenseV3(raw)
	}
	return nil, false
}

// plainDest accepts raw when it is an absolute http(s) URL with a host and
// nothing a browser would not send as is.
func plainDest(raw string) (*url.URL, bool) {
	if len(raw) > maxDestLen || len(raw) < len("http://a.b") {
		return nil, false
	}
	l := strings.ToLower(raw[:8])
	if !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
		return nil, false
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c == 0x7f {
			return nil, false
		}
	}
	if !utf8.ValidString(raw) {
		return nil, false
	}
	d, err := url.Parse(raw)
	if err != nil || (d.Scheme != "http" && d.Scheme != "https") || d.Hostname() == "" || d.User != nil {
		return nil, false
	}
	return d, true
}

func base64Dest(raw string) (*url.URL, bool) {
	// Only strings that can be the base64 of "http" are worth decoding.
	if len(raw) < 12 || (raw[:4] != "aHR0" && raw[:4] != "SFRU") {
		return nil, false
	}
	t := strings.TrimRight(raw, "=")
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(t); err == nil {
			return plainDest(string(b))
		}
	}
	return nil, false
}

// urldefenseV3 decodes Proofpoint's v3 form, "__URL__;B64!!…", where each
// "*" in URL stands for the next character of the base64url-encoded B64.
// Runs ("**" followed by a length) are not recovered: such a link stays.
func urldefenseV3(raw string) (*url.URL, bool) {
	body, rest, ok := strings.Cut(strings.TrimPrefix(raw, "__"), "__;")
	if !ok {
		return nil, false
	}
	if !strings.Contains(body, "*") {
		return plainDest(body)
	}
	if strings.Contains(body, "**") {
		return nil, false
	}
	enc, _, _ := strings.Cut(rest, "!!")
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "="))
	if err != nil || !utf8.Valid(b) {
		return nil, false
	}
	subst := []rune(string(b))
	if strings.Count(body, "*") != len(subst) {
		return nil, false
	}
	var sb strings.Builder
	for _, c := range body {
		if c == '*' {
			c, subst = subst[0], subst[1:]
		}
		sb.WriteRune(c)
	}
	return plainDest(sb.String())
}
