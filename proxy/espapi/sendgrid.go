package espapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/pixelgate/pixelgate/proxy"
	"github.com/pixelgate/pixelgate/proxy/espapi/factor"
)

// SendGrid v3 Mail Send (docs.sendgrid.com/api-reference/mail-send/mail-send).
// Each recipient becomes a personalization of their own; the rewritten
// contents travel as one content template plus per-personalization
// substitutions, so the client's one call stays one call.

const (
	// sendgridMaxRecipients: "a limit of 1000 total recipients (to + cc +
	// bcc) per request" (SendGrid mail send errors).
	sendgridMaxRecipients = 1000
	// sendgridMaxSubstitutionBytes: "The total size of your substitutions
	// may not exceed 10,000 bytes per personalization object" (SendGrid
	// mail send errors; the substitution tags page says 50,000: the
	// stricter one holds).
	sendgridMaxSubstitutionBytes = 10000
)

type sgAddress struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

type sgContent struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// sgRequest is what pixelgate reads of a mail send body; the whole body
// is kept as raw fields so unknown ones pass through untouched.
type sgRequest struct {
	raw              map[string]json.RawMessage
	personalizations []map[string]json.RawMessage
	content          []sgContent
	from             sgAddress
	subject          string
	headers          map[string]string
}

func (s *Server) sendgrid(w http.ResponseWriter, c *call) error {
	req, err := parseSendGrid(c.body)
	if err != nil {
		return err
	}
	base, err := sendgridContent(req.content)
	if err != nil {
		return err
	}
	base.language = contentLanguage(req.headers)
	rcpts, err := sendgridRecipients(req)
	if err != nil {
		return err
	}
	c.sum.recipients = len(rcpts)
	campaign := sendgridCampaign(req)
	copies, err := s.rewriteAll(c.r.Context(), base, rcpts, campaign, campaign)
	if err != nil {
		return err
	}
	for _, cp := range copies {
		c.sum.decision(cp.copy.Decision)
	}
	s.sendgridTracking(c, req.raw)
	stripInternalHeaders(req.raw, "headers")

	names, err := newKeyNamer(s.cfg.Rand)
	if err != nil {
		return err
	}
	own := 0
	for _, p := range req.personalizations {
		own = max(own, len(p["substitutions"]))
	}
	lim := factor.Limits{MaxHoles: 500, MaxValueBytes: sendgridMaxSubstitutionBytes - own - 1024}
	key := func(name string) string { return "%" + name + "%" }
	h, ok := factorCopies(copies, lim, names, key)
	if ok {
		body := sendgridBody(req, copies, func(i int) (content, map[string]string) {
			return content{html: h.html, text: h.text, hasHTML: base.hasHTML, hasText: base.hasText}, h.values[i]
		})
		return s.sendOnce(w, c, copies, "application/json", body)
	}
	// The copies differ too much for substitutions: one call per
	// recipient, each with its whole copy, under the delivery ledger.
	c.sum.outcome = "split"
	res, err := s.sendSplit(c, copies, 1, func(cp []recipientCopy) ([]byte, string, error) {
		return sendgridBody(req, cp, func(int) (content, map[string]string) { return cp[0].content, nil }), "application/json", nil
	})
	if err != nil {
		return err
	}
	writeSplitReply(w, c, res, func() *reply {
		// Every copy went out in an earlier attempt: SendGrid's own
		// success answer, with no new message id.
		return &reply{status: http.StatusAccepted, header: http.Header{}}
	})
	return nil
}

func parseSendGrid(body []byte) (*sgRequest, error) {
	if !utf8.Valid(body) {
		return nil, badRequest("not-utf8", "", "the request body is not valid UTF-8 (RFC 8259 §8.1)")
	}
	req := &sgRequest{}
	if err := json.Unmarshal(body, &req.raw); err != nil || req.raw == nil {
		return nil, badRequest("bad-json", "", fmt.Sprintf("the request body is not a JSON object: %v", err))
	}
	field := func(name string, v any) error {
		raw, ok := req.raw[name]
		if !ok || string(raw) == "null" {
			return nil
		}
		if err := json.Unmarshal(raw, v); err != nil {
			return badRequest("bad-field", name, fmt.Sprintf("%s: %v", name, err))
		}
		return nil
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"personalizations", &req.personalizations}, {"content", &req.content}, {"from", &req.from},
		{"subject", &req.subject}, {"headers", &req.headers}} {
		if err := field(f.name, f.v); err != nil {
			return nil, err
		}
	}
	if raw, ok := req.raw["template_id"]; ok && string(raw) != "null" && string(raw) != `""` {
		return nil, badRequest("stored-template", "template_id",
			"template_id: content stored at SendGrid cannot be checked for trackers by pixelgate; send the HTML and text in \"content\" instead")
	}
	if _, ok := req.raw["sections"]; ok {
		return nil, badRequest("sections", "sections",
			"sections: section tags are not supported through pixelgate; put the text into the substitutions or the content")
	}
	if len(req.personalizations) == 0 {
		return nil, badRequest("no-recipient", "personalizations", "You must have at least one personalization.")
	}
	return req, nil
}

// sendgridContent takes the bodies pixelgate can check. Any other type
// (AMP, calendar...) is refused: pixelgate cannot vouch for it (R1).
func sendgridContent(items []sgContent) (content, error) {
	var c content
	for i, it := range items {
		f := fmt.Sprintf("content.%d.type", i)
		switch contentType(it.Type) {
		case "text/html":
			c.html, c.hasHTML = it.Value, true
		case "text/plain":
			c.text, c.hasText = it.Value, true
		default:
			return c, badRequest("content-type", f, fmt.Sprintf("content of type %q cannot be checked for trackers by pixelgate; send text/plain and text/html only", it.Type))
		}
	}
	if !c.hasHTML && !c.hasText {
		return c, badRequest("no-content", "content", "content: at least one text/plain or text/html value is required (pixelgate refuses stored templates)")
	}
	return c, nil
}

// sendgridRecipients lists every recipient of every personalization, each
// with the index of the personalization it came from (recipient.src).
func sendgridRecipients(req *sgRequest) ([]recipient, error) {
	var rcpts []recipient
	for i, p := range req.personalizations {
		var subs map[string]string
		if raw, ok := p["substitutions"]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &subs); err != nil {
				return nil, badRequest("bad-field", fmt.Sprintf("personalizations.%d.substitutions", i), "substitutions must map strings to strings")
			}
		}
		vars := substitutions(subs)
		for _, list := range []string{"to", "cc", "bcc"} {
			raw, ok := p[list]
			if !ok || string(raw) == "null" {
				continue
			}
			var addrs []sgAddress
			if err := json.Unmarshal(raw, &addrs); err != nil {
				return nil, badRequest("bad-field", fmt.Sprintf("personalizations.%d.%s", i, list), fmt.Sprintf("%s must be a list of {\"email\", \"name\"}", list))
			}
			for j, a := range addrs {
				f := fmt.Sprintf("personalizations.%d.%s.%d.email", i, list, j)
				if _, err := mail.ParseAddress(a.Email); err != nil || strings.ContainsAny(a.Email, "<> ") {
					return nil, badRequest("bad-recipient", f, "Does not contain a valid address.")
				}
				rcpts = append(rcpts, recipient{addr: a.Email, name: a.Name, vars: vars, src: i})
			}
		}
	}
	if len(rcpts) == 0 {
		return nil, badRequest("no-recipient", "personalizations.0.to", "The to array is required for all personalization objects, and must have at least one email object with a valid email address.")
	}
	if len(rcpts) > sendgridMaxRecipients {
		return nil, badRequest("too-many-recipients", "personalizations", "There is a limit of 1000 total recipients (to + cc + bcc) per request.")
	}
	return rcpts, nil
}

// sendgridCampaign: pixelgate's header, then the ESP's own grouping
// fields (custom_args campaign, the first category).
func sendgridCampaign(req *sgRequest) string {
	var values []string
	for k, v := range req.headers {
		if strings.EqualFold(k, proxy.DefaultCampaignHeader) {
			values = append(values, v)
		}
	}
	var args map[string]any
	if raw, ok := req.raw["custom_args"]; ok {
		_ = json.Unmarshal(raw, &args)
	}
	for _, k := range []string{"campaign", "campaign_id"} {
		if v, ok := args[k].(string); ok {
			values = append(values, v)
		}
	}
	var cats []string
	if raw, ok := req.raw["categories"]; ok {
		_ = json.Unmarshal(raw, &cats)
	}
	values = append(values, cats...)
	return proxy.CampaignFrom(values, req.from.Email, req.subject)
}

// sendgridTracking switches SendGrid's open and click tracking off for the
// call (R1, R12: the ESP's own pixel and redirects are trackers pixelgate
// does not control), whatever the client asked, and counts what it
// overrode. Subscription tracking and Google Analytics parameters stay.
func (s *Server) sendgridTracking(c *call, raw map[string]json.RawMessage) {
	ts := map[string]json.RawMessage{}
	if r, ok := raw["tracking_settings"]; ok {
		_ = json.Unmarshal(r, &ts)
		if ts == nil {
			ts = map[string]json.RawMessage{}
		}
	}
	for _, setting := range []string{"open_tracking", "click_tracking"} {
		var cur map[string]any
		_ = json.Unmarshal(ts[setting], &cur)
		if on, _ := cur["enable"].(bool); on {
			c.sum.override(setting)
		} else if setting == "click_tracking" {
			if on, _ := cur["enable_text"].(bool); on {
				c.sum.override(setting)
			}
		}
		if cur == nil {
			cur = map[string]any{}
		}
		cur["enable"] = false
		if setting == "click_tracking" {
			cur["enable_text"] = false
		}
		ts[setting] = mustJSON(cur)
	}
	raw["tracking_settings"] = mustJSON(ts)
}

// sendgridBody writes the upstream body: the client's fields untouched
// except personalizations (one per recipient, the client's own fields
// kept), content and tracking settings.
func sendgridBody(req *sgRequest, copies []recipientCopy, of func(i int) (content, map[string]string)) []byte {
	out := make(map[string]json.RawMessage, len(req.raw))
	for k, v := range req.raw {
		out[k] = v
	}
	ps := make([]map[string]json.RawMessage, len(copies))
	var shared content
	for i, cp := range copies {
		orig := req.personalizations[cp.rcpt.src]
		p := make(map[string]json.RawMessage, len(orig)+1)
		for k, v := range orig {
			switch k {
			case "to", "cc", "bcc", "substitutions":
			default:
				p[k] = v
			}
		}
		stripInternalHeaders(p, "headers")
		p["to"] = mustJSON([]sgAddress{{Email: cp.rcpt.addr, Name: cp.rcpt.name}})
		ct, vals := of(i)
		shared = ct
		var subs map[string]string
		if raw, ok := orig["substitutions"]; ok {
			_ = json.Unmarshal(raw, &subs)
		}
		if len(vals) > 0 && subs == nil {
			subs = map[string]string{}
		}
		for k, v := range vals {
			subs[k] = v
		}
		if subs != nil {
			p["substitutions"] = mustJSON(subs)
		}
		ps[i] = p
	}
	out["personalizations"] = mustJSON(ps)
	// RFC-free but SendGrid's rule: text/plain first, then text/html.
	var items []sgContent
	if shared.hasText {
		items = append(items, sgContent{Type: "text/plain", Value: shared.text})
	}
	if shared.hasHTML {
		items = append(items, sgContent{Type: "text/html", Value: shared.html})
	}
	out["content"] = mustJSON(items)
	return mustJSON(out)
}

// stripInternalHeaders removes X-Pixelgate-* from a headers object:
// instructions to pixelgate never leave it.
func stripInternalHeaders(obj map[string]json.RawMessage, field string) {
	raw, ok := obj[field]
	if !ok {
		return
	}
	var hs map[string]json.RawMessage
	if json.Unmarshal(raw, &hs) != nil {
		return
	}
	changed := false
	for k := range hs {
		if proxy.IsInternalHeader(k) {
			delete(hs, k)
			changed = true
		}
	}
	if changed {
		obj[field] = mustJSON(hs)
	}
}
