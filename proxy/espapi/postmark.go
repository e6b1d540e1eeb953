package espapi

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/proxy"
)

// Postmark's email API (postmarkapp.com/developer/api/email-api). Postmark
// has no per-recipient substitution: a message to one recipient goes on
// as one /email call; a message to several becomes one /email/batch call
// with one element per recipient, each addressed To that recipient alone
// with their own rewritten bodies. Postmark answers a batch 200 with an
// ErrorCode per element, so every batch runs under the delivery ledger:
// the client's retry sends only the copies Postmark did not accept.

const (
	// postmarkMaxRecipients: "Multiple addresses are comma separated. Max
	// 50." (To, Cc and Bcc together, Postmark's email API).
	postmarkMaxRecipients = 50
	// postmarkMaxBatch: "up to 500 messages" per batch call.
	postmarkMaxBatch = 500
	// postmarkMaxBatchBytes: a batch call's payload is limited to 50 MB.
	postmarkMaxBatchBytes = 50 << 20
	// postmarkTooManyBatch is Postmark's ErrorCode for a batch of more than
	// 500 messages (postmarkapp.com/developer/api/overview#error-codes).
	postmarkTooManyBatch = 410
)

// pmFields are the fields pixelgate reads or writes, in Postmark's
// spelling. Postmark's JSON binding does not care about case, so a field
// is recognised in any case; two spellings of one field are refused
// rather than guessing which one Postmark would read.
var pmFields = []string{"From", "To", "Cc", "Bcc", "Subject", "Tag", "HtmlBody", "TextBody", "Headers",
	"TrackOpens", "TrackLinks", "Metadata", "MessageStream", "TemplateId", "TemplateAlias", "TemplateModel"}

// pmMessage is one message of a call (the /email body or one batch
// element) as pixelgate reads it; raw keeps every field, so unknown ones
// and attachments pass through untouched.
type pmMessage struct {
	raw   map[string]json.RawMessage
	base  content
	rcpts []recipient
	// to is the client's own To, for the answer.
	to       string
	campaign string
	// wantOpens, wantLinks: the client asked Postmark to track.
	wantOpens, wantLinks bool
}

// pmResult is one element of Postmark's answer to a batch, and the
// answer to /email.
type pmResult struct {
	To          string          `json:"To"`
	SubmittedAt json.RawMessage `json:"SubmittedAt,omitempty"`
	MessageID   string          `json:"MessageID,omitempty"`
	ErrorCode   int64           `json:"ErrorCode"`
	Message     string          `json:"Message"`
}

func (s *Server) postmarkEmail(w http.ResponseWriter, c *call) error {
	m, err := parsePostmarkEmail(c.body)
	if err != nil {
		return err
	}
	msgs := []*pmMessage{m}
	copies, err := s.postmarkCopies(c, msgs)
	if err != nil {
		return err
	}
	if len(copies) == 1 {
		// One recipient: one /email call, Postmark's answer unchanged.
		body := mustJSON(m.element(copies[0].cp))
		rep, err := s.forward(c.r.Context(), c, "/email", "application/json", body)
		if err != nil {
			return err
		}
		if rep.ok() {
			s.delivered(c, []recipientCopy{copies[0].cp})
		}
		writeReply(w, c, rep)
		return nil
	}
	return s.postmarkSendAndAnswer(w, c, msgs, copies, true)
}

func (s *Server) postmarkBatch(w http.ResponseWriter, c *call) error {
	msgs, err := parsePostmarkBatch(c.body)
	if err != nil {
		return err
	}
	copies, err := s.postmarkCopies(c, msgs)
	if err != nil {
		return err
	}
	return s.postmarkSendAndAnswer(w, c, msgs, copies, false)
}

// postmarkSendAndAnswer sends copies as /email/batch calls and answers
// the client: Postmark's refusal of a whole call unchanged, else one entry
// per client message combining its copies' results, in /email's shape
// when the client called /email (a refused message is then a 422, as
// Postmark answers /email).
func (s *Server) postmarkSendAndAnswer(w http.ResponseWriter, c *call, msgs []*pmMessage, copies []pmCopy, asEmail bool) error {
	res, err := s.postmarkSend(c, msgs, copies)
	if err != nil {
		return err
	}
	if res.failed != nil {
		c.sum.outcome = "partial"
		writeReply(w, c, res.failed)
		return nil
	}
	var answer any = res.results
	status := http.StatusOK
	if asEmail {
		answer = res.results[0]
		if res.results[0].ErrorCode != 0 {
			status = http.StatusUnprocessableEntity
		}
	}
	switch {
	case res.refused > 0:
		c.sum.outcome = "partial"
	case res.sent == 0:
		c.sum.outcome = "already-delivered"
	}
	writeReply(w, c, &reply{status: status, header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}, body: mustJSON(answer)})
	return nil
}

// postmarkTemplate refuses /email/withTemplate and
// /email/batchWithTemplates: their content is stored at Postmark, where
// pixelgate cannot check it for trackers (R1).
func (s *Server) postmarkTemplate(w http.ResponseWriter, c *call) error {
	return pmStoredTemplate("")
}

func pmStoredTemplate(where string) *apiError {
	return badRequest("stored-template", "", where+"templates stored at Postmark cannot be checked for trackers by pixelgate; "+
		"send HtmlBody and TextBody through /email or /email/batch instead")
}

func parsePostmarkEmail(body []byte) (*pmMessage, error) {
	if !utf8.Valid(body) {
		return nil, pmBadJSON("the request body is not valid UTF-8 (RFC 8259 §8.1)")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return nil, pmBadJSON(fmt.Sprintf("the request body is not a JSON object: %v", err))
	}
	return parsePostmarkMessage(raw, "")
}

func parsePostmarkBatch(body []byte) ([]*pmMessage, error) {
	if !utf8.Valid(body) {
		return nil, pmBadJSON("the request body is not valid UTF-8 (RFC 8259 §8.1)")
	}
	var raws []map[string]json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil || raws == nil {
		return nil, pmBadJSON(fmt.Sprintf("the request body is not a JSON array of messages: %v", err))
	}
	if len(raws) == 0 {
		return nil, badRequest("no-recipient", "", "the batch holds no message")
	}
	if len(raws) > postmarkMaxBatch {
		e := badRequest("too-many-messages", "", fmt.Sprintf("the batch holds %d messages; Postmark takes at most %d per call", len(raws), postmarkMaxBatch))
		e.postmarkCode = postmarkTooManyBatch
		return nil, e
	}
	msgs := make([]*pmMessage, len(raws))
	for i, raw := range raws {
		if raw == nil {
			return nil, pmBadJSON(fmt.Sprintf("message %d of the batch is not a JSON object", i))
		}
		m, err := parsePostmarkMessage(raw, fmt.Sprintf("message %d of the batch: ", i))
		if err != nil {
			return nil, err
		}
		msgs[i] = m
	}
	return msgs, nil
}

// pmBadJSON is Postmark's own answer to a body it cannot read.
func pmBadJSON(msg string) *apiError {
	e := badRequest("bad-json", "", msg)
	e.postmarkCode = postmarkInvalidJSON
	return e
}

// parsePostmarkMessage reads one message; where prefixes error messages
// ("message 3 of the batch: ").
func parsePostmarkMessage(raw map[string]json.RawMessage, where string) (*pmMessage, error) {
	if err := pmCanonical(raw, where); err != nil {
		return nil, err
	}
	for _, f := range []string{"TemplateId", "TemplateAlias", "TemplateModel"} {
		if v, ok := raw[f]; ok && string(v) != "null" {
			return nil, pmStoredTemplate(where + f + ": ")
		}
	}
	m := &pmMessage{raw: raw}
	str := func(name string) (string, bool, error) {
		v, ok := raw[name]
		if !ok || string(v) == "null" {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", false, badRequest("bad-field", name, where+name+" must be a string")
		}
		return s, true, nil
	}
	var from, subject, tag string
	var err error
	for _, f := range []struct {
		name string
		v    *string
		has  *bool
	}{{"HtmlBody", &m.base.html, &m.base.hasHTML}, {"TextBody", &m.base.text, &m.base.hasText},
		{"To", &m.to, nil}, {"From", &from, nil}, {"Subject", &subject, nil}, {"Tag", &tag, nil}} {
		var has bool
		if *f.v, has, err = str(f.name); err != nil {
			return nil, err
		}
		if f.has != nil {
			// An empty body is no body: rewriting it would send a part
			// holding nothing but the footer.
			*f.has = has && *f.v != ""
		}
	}
	if !m.base.hasHTML && !m.base.hasText {
		return nil, badRequest("no-content", "", where+"Provide either email TextBody or HtmlBody or both.")
	}
	headers, err := pmHeaders(raw, where)
	if err != nil {
		return nil, err
	}
	m.base.language = headers["content-language"]
	metadata := map[string]json.RawMessage{}
	if v, ok := raw["Metadata"]; ok && string(v) != "null" {
		if err := json.Unmarshal(v, &metadata); err != nil {
			return nil, badRequest("bad-field", "Metadata", where+"Metadata must be an object of strings")
		}
	}
	var metaCampaign string
	for k, v := range metadata {
		if strings.EqualFold(k, "campaign") {
			_ = json.Unmarshal(v, &metaCampaign)
		}
	}
	// The campaign: pixelgate's header, then Postmark's own grouping of
	// messages (Tag, then a "campaign" metadata value). MessageStream is
	// not one: it names a kind of mail ("broadcast"), shared by every
	// campaign sent through it.
	m.campaign = proxy.CampaignFrom([]string{headers[strings.ToLower(proxy.DefaultCampaignHeader)], tag, metaCampaign}, from, subject)
	if m.rcpts, err = pmRecipients(raw, where); err != nil {
		return nil, err
	}
	var opens bool
	_ = json.Unmarshal(raw["TrackOpens"], &opens)
	links, _, _ := str("TrackLinks")
	m.wantOpens = opens
	m.wantLinks = links != "" && !strings.EqualFold(links, "None")
	return m, nil
}

// pmCanonical renames the fields pixelgate reads to Postmark's spelling.
func pmCanonical(raw map[string]json.RawMessage, where string) error {
	for k, v := range raw {
		for _, f := range pmFields {
			if k == f || !strings.EqualFold(k, f) {
				continue
			}
			if _, dup := raw[f]; dup {
				return badRequest("bad-field", f, fmt.Sprintf("%sthe fields %q and %q are one field to Postmark; send it once", where, k, f))
			}
			raw[f] = v
			delete(raw, k)
		}
	}
	return nil
}

// pmHeaders reads Headers ([{"Name","Value"}]), returns them by lower-case
// name, and drops X-Pixelgate-* from raw: instructions to pixelgate never
// leave it.
func pmHeaders(raw map[string]json.RawMessage, where string) (map[string]string, error) {
	out := map[string]string{}
	v, ok := raw["Headers"]
	if !ok || string(v) == "null" {
		return out, nil
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, badRequest("bad-field", "Headers", where+`Headers must be a list of {"Name", "Value"}`)
	}
	kept := items[:0:0]
	for _, it := range items {
		var name, value string
		for k, v := range it {
			var err error
			switch {
			case strings.EqualFold(k, "Name"):
				err = json.Unmarshal(v, &name)
			case strings.EqualFold(k, "Value"):
				err = json.Unmarshal(v, &value)
			}
			if err != nil {
				return nil, badRequest("bad-field", "Headers", where+"a header's Name and Value must be strings")
			}
		}
		lname := strings.ToLower(strings.TrimSpace(name))
		if _, seen := out[lname]; !seen {
			out[lname] = value
		}
		if !proxy.IsInternalHeader(lname) {
			kept = append(kept, it)
		}
	}
	if len(kept) != len(items) {
		raw["Headers"] = mustJSON(kept)
	}
	return out, nil
}

// pmRecipients reads To, Cc and Bcc: comma-separated address lists
// (RFC 5322 §3.4), at most 50 together. An address named twice gets one
// copy.
func pmRecipients(raw map[string]json.RawMessage, where string) ([]recipient, error) {
	var out []recipient
	seen := map[string]bool{}
	for _, f := range []string{"To", "Cc", "Bcc"} {
		v, ok := raw[f]
		if !ok || string(v) == "null" {
			continue
		}
		var list string
		if err := json.Unmarshal(v, &list); err != nil {
			return nil, badRequest("bad-field", f, where+f+" must be a string")
		}
		if strings.TrimSpace(list) == "" {
			continue
		}
		var err error
		if out, err = addAddresses(out, seen, list); err != nil {
			return nil, badRequest("bad-recipient", f, fmt.Sprintf("%sError parsing '%s': not a comma-separated list of email addresses", where, f))
		}
	}
	if len(out) == 0 {
		return nil, badRequest("no-recipient", "To", where+"Zero recipients specified")
	}
	if len(out) > postmarkMaxRecipients {
		return nil, badRequest("too-many-recipients", "To", fmt.Sprintf("%sTo, Cc and Bcc name %d recipients; Postmark takes at most %d per message", where, len(out), postmarkMaxRecipients))
	}
	return out, nil
}

// pmCopy is one recipient's copy of message msg of the call.
type pmCopy struct {
	msg int
	cp  recipientCopy
}

// postmarkCopies makes every recipient's copy of every message, counts
// the decisions and the tracking the client asked for.
func (s *Server) postmarkCopies(c *call, msgs []*pmMessage) ([]pmCopy, error) {
	var jobs []rewriteJob
	var of []int
	var opens, links bool
	for i, m := range msgs {
		for _, rc := range m.rcpts {
			jobs = append(jobs, rewriteJob{base: m.base, rcpt: rc, campaign: m.campaign, campaignName: m.campaign})
			of = append(of, i)
		}
		opens = opens || m.wantOpens
		links = links || m.wantLinks
	}
	c.sum.recipients = len(jobs)
	cps, err := s.rewriteJobs(c.r.Context(), jobs)
	if err != nil {
		return nil, err
	}
	out := make([]pmCopy, len(cps))
	for i, cp := range cps {
		c.sum.decision(cp.copy.Decision)
		out[i] = pmCopy{msg: of[i], cp: cp}
	}
	// Every element goes out with Postmark's tracking off whatever the
	// client asked (element): count the calls where that overrode it.
	if opens {
		c.sum.override("TrackOpens")
	}
	if links {
		c.sum.override("TrackLinks")
	}
	return out, nil
}

// element is what Postmark gets for one recipient's copy: the client's
// message addressed To the recipient alone (Cc and Bcc have their own
// elements), with their rewritten bodies and Postmark's open and click
// tracking off (R1, R12: what Postmark adds after pixelgate cannot be
// silenced later). Postmark's server default applies when TrackOpens or
// TrackLinks is left out, so both are always written.
func (m *pmMessage) element(cp recipientCopy) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m.raw)+4)
	for k, v := range m.raw {
		out[k] = v
	}
	delete(out, "Cc")
	delete(out, "Bcc")
	out["To"] = mustJSON(pmAddress(cp.rcpt))
	if m.base.hasHTML {
		out["HtmlBody"] = mustJSON(cp.content.html)
	}
	if m.base.hasText {
		out["TextBody"] = mustJSON(cp.content.text)
	}
	out["TrackOpens"] = json.RawMessage("false")
	out["TrackLinks"] = json.RawMessage(`"None"`)
	return out
}

// pmAddress writes a recipient as Postmark reads one: the address as
// net/mail writes it (a local part quoted where RFC 5322 §3.4.1 needs it),
// the name quoted as given (RFC 5322 §3.2.4), not RFC 2047-encoded.
func pmAddress(r recipient) string {
	angle := (&mail.Address{Address: r.addr}).String()
	if r.name == "" {
		return strings.TrimSuffix(strings.TrimPrefix(angle, "<"), ">")
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(r.name) + `" ` + angle
}

// pmSendResult is what a call's /email/batch calls came to.
type pmSendResult struct {
	// results has one entry per client message, in order.
	results []pmResult
	// failed is Postmark's first answer refusing a whole batch call: the
	// client gets it unchanged, and its retry sends what is missing.
	failed *reply
	// sent and refused count the copies of this attempt Postmark accepted
	// and refused.
	sent, refused int
}

// pmLedgerKey names copy i of a call in the ledger: the same address can
// be a recipient of several messages of one batch, each its own copy.
func pmLedgerKey(i int, k consent.Key) consent.Key {
	d := sha256.New()
	d.Write([]byte("pixelgate postmark element\x00"))
	_ = binary.Write(d, binary.BigEndian, uint64(i))
	d.Write(k[:])
	var out consent.Key
	copy(out[:], d.Sum(nil))
	return out
}

// postmarkSend sends copies as /email/batch calls of at most 500 elements
// and 50 MB under the delivery ledger: copies an earlier attempt of the
// same call delivered are left out, each copy Postmark accepts is marked
// delivered at once, the others are released for the client's retry.
func (s *Server) postmarkSend(c *call, msgs []*pmMessage, copies []pmCopy) (*pmSendResult, error) {
	ctx := c.r.Context()
	keys := make([]consent.Key, len(copies))
	elems := make([]map[string]json.RawMessage, len(copies))
	sizes := make([]int, len(copies))
	for i, pc := range copies {
		keys[i] = pmLedgerKey(i, pc.cp.copy.Key)
		elems[i] = msgs[pc.msg].element(pc.cp)
		for k, v := range elems[i] {
			sizes[i] += len(k) + len(v) + 4
		}
	}
	var chunks [][]int
	var cur []int
	curBytes := 0
	flush := func() {
		if len(cur) > 0 {
			chunks = append(chunks, cur)
			cur, curBytes = nil, 0
		}
	}
	run, todo, _, err := s.claimTodo(ctx, c, keys, 1+len(copies)/postmarkMaxBatch)
	if err != nil {
		return nil, err
	}
	for _, i := range todo {
		if len(cur) == postmarkMaxBatch || (len(cur) > 0 && curBytes+sizes[i] > postmarkMaxBatchBytes) {
			flush()
		}
		cur = append(cur, i)
		curBytes += sizes[i]
	}
	flush()

	fresh := make([]*pmResult, len(copies))
	replies := make([]*reply, len(chunks))
	errs := make([]error, len(chunks))
	var mu sync.Mutex
	res := &pmSendResult{}
	s.parallel(len(chunks), func(ci int) {
		chunk := chunks[ci]
		got, rep, err := s.postmarkChunk(ctx, c, chunk, elems)
		replies[ci], errs[ci] = rep, err
		var ok, refused []consent.Key
		var okCopies []recipientCopy
		for j, i := range chunk {
			if got != nil && got[j].ErrorCode == 0 {
				ok = append(ok, keys[i])
				okCopies = append(okCopies, copies[i].cp)
			} else {
				refused = append(refused, keys[i])
			}
			if got != nil {
				fresh[i] = &got[j]
			}
		}
		run.settle(ctx, c.log, ok, refused)
		s.delivered(c, okCopies)
		mu.Lock()
		res.sent += len(ok)
		if got != nil {
			res.refused += len(refused)
		}
		mu.Unlock()
	})
	for ci := range chunks {
		if errs[ci] != nil {
			return nil, errs[ci]
		}
		if replies[ci] != nil && res.failed == nil {
			res.failed = replies[ci]
		}
	}
	res.results = make([]pmResult, len(msgs))
	for mi, m := range msgs {
		res.results[mi] = pmCombine(m, copies, fresh, mi, s.cfg.Now())
	}
	return res, nil
}

// postmarkChunk makes one /email/batch call of the elements chunk. It
// returns Postmark's per-element results, or Postmark's answer when it
// refused the whole call, or the error of a call that did not complete.
func (s *Server) postmarkChunk(ctx context.Context, c *call, chunk []int, elems []map[string]json.RawMessage) ([]pmResult, *reply, error) {
	batch := make([]map[string]json.RawMessage, len(chunk))
	for j, i := range chunk {
		batch[j] = elems[i]
	}
	rep, err := s.forward(ctx, c, "/email/batch", "application/json", mustJSON(batch))
	if err != nil {
		return nil, nil, err
	}
	if !rep.ok() {
		return nil, rep, nil
	}
	var got []pmResult
	if err := json.Unmarshal(rep.body, &got); err != nil || len(got) != len(chunk) {
		// Postmark took the call but its answer does not say which
		// copies it accepted: as with a timeout, the client is told it
		// may have.
		return nil, nil, &apiError{status: http.StatusBadGateway, reason: "upstream-bad-reply", retryAfter: 60,
			msg: "pixelgate: Postmark's answer to the batch could not be read; it may or may not have accepted the messages"}
	}
	return got, nil, nil
}

// pmCombine is the answer for client message mi: OK if Postmark accepted
// every recipient's copy (now or in an earlier attempt), with the first
// new copy's MessageID; else the first refusal's ErrorCode and Message.
func pmCombine(m *pmMessage, copies []pmCopy, fresh []*pmResult, mi int, now time.Time) pmResult {
	var first *pmResult
	for i, pc := range copies {
		if pc.msg != mi || fresh[i] == nil {
			continue
		}
		if fresh[i].ErrorCode != 0 {
			return pmResult{To: m.to, ErrorCode: fresh[i].ErrorCode, Message: fresh[i].Message}
		}
		if first == nil {
			first = fresh[i]
		}
	}
	if first == nil {
		// Every copy went out in an earlier attempt of this call: its
		// MessageIDs were in that attempt's answer.
		return pmResult{To: m.to, SubmittedAt: mustJSON(now.Format(time.RFC3339Nano)), ErrorCode: 0, Message: "OK"}
	}
	return pmResult{To: m.to, SubmittedAt: first.SubmittedAt, MessageID: first.MessageID, ErrorCode: 0, Message: "OK"}
}
