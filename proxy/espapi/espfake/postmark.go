package espfake

// Postmark email API, POST /email and POST /email/batch. Fields from
// https://postmarkapp.com/developer/api/email-api (To, Cc, Bcc: at most 50
// recipients together; batch: at most 500 messages; TrackLinks None,
// HtmlAndText, HtmlOnly, TextOnly), error codes from
// https://postmarkapp.com/developer/api/overview#error-codes (HTTP 422
// with {"ErrorCode","Message"}; 401 with ErrorCode 10).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

const (
	pmMaxRecipients = 50
	pmMaxBatch      = 500
)

// Postmark's documented error codes the fake answers with.
const (
	pmInvalidEmailRequest = 300
	pmSenderNotFound      = 400
	pmInvalidJSON         = 402
	pmIncompatibleJSON    = 403
	pmInactiveRecipient   = 406
	pmJSONRequired        = 409
	pmTooManyBatch        = 410
)

func writePostmarkError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(pmResult{ErrorCode: code, Message: msg})
}

// pmResult is one answer: a sent message or a refusal.
type pmResult struct {
	To          string `json:",omitempty"`
	SubmittedAt string `json:",omitempty"`
	MessageID   string `json:",omitempty"`
	ErrorCode   int
	Message     string
}

type pmHeader struct {
	Name  string
	Value string
}

type pmAttachment struct {
	Name        string
	Content     string
	ContentType string
	ContentID   string `json:"ContentID"`
}

// pmEmail is one message. Go's JSON decoder matches field names without
// regard to case, as Postmark's does.
type pmEmail struct {
	From          string
	To            string
	Cc            string
	Bcc           string
	Subject       string
	Tag           string
	HtmlBody      string
	TextBody      string
	ReplyTo       string
	Headers       []pmHeader
	TrackOpens    *bool
	TrackLinks    *string
	Metadata      map[string]string
	Attachments   []pmAttachment
	MessageStream string
}

// pmRefusal is a refused message: Postmark's ErrorCode and Message.
type pmRefusal struct {
	code int
	msg  string
}

func pmBad(format string, a ...any) *pmRefusal {
	return &pmRefusal{code: pmInvalidEmailRequest, msg: fmt.Sprintf(format, a...)}
}

// pmChecked is a message that passed the checks, with its recipients.
type pmChecked struct {
	email       pmEmail
	from        string
	to, cc, bcc []string
}

// decodePostmark decodes one message strictly: a field Postmark does not
// name is ErrorCode 403 "Incompatible JSON", broken JSON 402.
func decodePostmark(raw []byte) (pmEmail, *pmRefusal) {
	var e pmEmail
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return e, &pmRefusal{code: pmInvalidJSON, msg: "Received invalid JSON input."}
		}
		return e, &pmRefusal{code: pmIncompatibleJSON, msg: "The JSON input is not a valid email request: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return e, &pmRefusal{code: pmInvalidJSON, msg: "Received invalid JSON input."}
	}
	return e, nil
}

// checkPostmark checks one decoded message against the email API
// reference and the fake's sender signatures and inactive recipients.
func checkPostmark(e pmEmail, senders []string, inactive func(string) bool) (*pmChecked, *pmRefusal) {
	c := &pmChecked{email: e}
	if e.From == "" {
		return nil, pmBad("Invalid 'From' address: ''.")
	}
	from, err := mail.ParseAddress(e.From)
	if err != nil {
		return nil, pmBad("Invalid 'From' address: '%s'.", e.From)
	}
	c.from = from.Address
	if len(senders) > 0 && !pmSignatureFor(senders, from.Address) {
		return nil, &pmRefusal{code: pmSenderNotFound, msg: fmt.Sprintf(
			"The 'From' address you supplied (%s) is not a Sender Signature on your account. Please add and confirm this address in order to be able to use it in the 'From' field of your messages.", e.From)}
	}
	for _, f := range []struct {
		name string
		raw  string
		dst  *[]string
	}{{"To", e.To, &c.to}, {"Cc", e.Cc, &c.cc}, {"Bcc", e.Bcc, &c.bcc}} {
		if strings.TrimSpace(f.raw) == "" {
			continue
		}
		list, err := mail.ParseAddressList(f.raw)
		if err != nil {
			return nil, pmBad("Invalid '%s' address: '%s'.", f.name, f.raw)
		}
		for _, a := range list {
			*f.dst = append(*f.dst, a.Address)
		}
	}
	n := len(c.to) + len(c.cc) + len(c.bcc)
	if n == 0 {
		return nil, pmBad("Zero recipients specified")
	}
	if n > pmMaxRecipients {
		return nil, pmBad("Too many recipients: %d. A message may have at most %d recipients in To, Cc and Bcc together.", n, pmMaxRecipients)
	}
	if e.HtmlBody == "" && e.TextBody == "" {
		return nil, pmBad("Provide either email TextBody or HtmlBody or both.")
	}
	if e.TrackLinks != nil {
		switch *e.TrackLinks {
		case "None", "HtmlAndText", "HtmlOnly", "TextOnly":
		default:
			return nil, pmBad("Invalid 'TrackLinks' value: '%s'. Use one of None, HtmlAndText, HtmlOnly, TextOnly.", *e.TrackLinks)
		}
	}
	if e.ReplyTo != "" {
		if _, err := mail.ParseAddressList(e.ReplyTo); err != nil {
			return nil, pmBad("Invalid 'ReplyTo' address: '%s'.", e.ReplyTo)
		}
	}
	for i, h := range e.Headers {
		if h.Name == "" {
			return nil, pmBad("Header %d has no Name.", i)
		}
	}
	for i, a := range e.Attachments {
		if a.Name == "" || a.Content == "" || a.ContentType == "" {
			return nil, pmBad("Attachment %d needs a Name, Content and ContentType.", i)
		}
	}
	var dead []string
	for _, list := range [][]string{c.to, c.cc, c.bcc} {
		for _, a := range list {
			if inactive(a) {
				dead = append(dead, a)
			}
		}
	}
	if len(dead) > 0 {
		return nil, &pmRefusal{code: pmInactiveRecipient, msg: fmt.Sprintf(
			"You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: %s. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.",
			strings.Join(dead, ", "))}
	}
	return c, nil
}

func pmSignatureFor(senders []string, addr string) bool {
	addr = strings.ToLower(addr)
	for _, s := range senders {
		s = strings.ToLower(s)
		if addr == s || (strings.HasPrefix(s, "@") && strings.HasSuffix(addr, s)) {
			return true
		}
	}
	return false
}

// deliveries sends the message as it is to each of its recipients.
func (c *pmChecked) deliveries() []Delivery {
	e := c.email
	d := Delivery{
		ESP: Postmark, From: c.from, Subject: e.Subject, HTML: e.HtmlBody, Text: e.TextBody,
		Tracking:    Tracking{Opens: boolString(e.TrackOpens)},
		Args:        e.Metadata,
		Attachments: len(e.Attachments),
	}
	if e.TrackLinks != nil {
		d.Tracking.Clicks = *e.TrackLinks
	}
	if e.Tag != "" {
		d.Tags = []string{e.Tag}
	}
	for _, h := range e.Headers {
		if d.Headers == nil {
			d.Headers = map[string]string{}
		}
		d.Headers[h.Name] = h.Value
	}
	var out []Delivery
	for _, f := range []struct {
		name  string
		addrs []string
	}{{"to", c.to}, {"cc", c.cc}, {"bcc", c.bcc}} {
		for _, a := range f.addrs {
			d := d
			d.Recipient, d.Field = a, f.name
			out = append(out, d)
		}
	}
	return out
}

// servePostmark answers as Postmark: /email 200 with one result or 422
// with the refusal; /email/batch 200 with one result per message, each
// with its own ErrorCode, or 422 when the batch as a whole is refused.
func (f *Fake) servePostmark(batch bool) func(http.ResponseWriter, *http.Request, call) []Delivery {
	return func(w http.ResponseWriter, r *http.Request, c call) []Delivery {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writePostmarkError(w, http.StatusUnprocessableEntity, pmJSONRequired, "JSON required: send Content-Type: application/json.")
			return nil
		}
		inactive := func(a string) bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.inactive[strings.ToLower(a)]
		}
		send := func(e pmEmail) (pmResult, []Delivery, *pmRefusal) {
			checked, bad := checkPostmark(e, f.opts.PostmarkSenders, inactive)
			if bad != nil {
				return pmResult{}, nil, bad
			}
			// Postmark's MessageID is a UUID; this one is numbered, so no
			// randomness needs injecting.
			id := fmt.Sprintf("00000000-0000-4000-8000-%012d", f.nextID())
			res := pmResult{To: e.To, SubmittedAt: c.now.Format(time.RFC3339Nano), MessageID: id, Message: "OK"}
			return res, stamp(checked.deliveries(), c, id), nil
		}
		w.Header().Set("Content-Type", "application/json")
		if !batch {
			e, bad := decodePostmark(c.body)
			if bad != nil {
				writePostmarkError(w, http.StatusUnprocessableEntity, bad.code, bad.msg)
				return nil
			}
			res, ds, bad := send(e)
			if bad != nil {
				writePostmarkError(w, http.StatusUnprocessableEntity, bad.code, bad.msg)
				return nil
			}
			_ = json.NewEncoder(w).Encode(res)
			return ds
		}
		raws, bad := decodePostmarkBatch(c.body)
		if bad != nil {
			writePostmarkError(w, http.StatusUnprocessableEntity, bad.code, bad.msg)
			return nil
		}
		emails := make([]pmEmail, len(raws))
		for i, raw := range raws {
			// The shape of every element is checked before anything is
			// sent: a batch with a malformed element is refused whole.
			if emails[i], bad = decodePostmark(raw); bad != nil {
				writePostmarkError(w, http.StatusUnprocessableEntity, bad.code, "Message "+strconv.Itoa(i)+": "+bad.msg)
				return nil
			}
		}
		results := make([]pmResult, len(emails))
		var all []Delivery
		for i, e := range emails {
			res, ds, bad := send(e)
			if bad != nil {
				res = pmResult{ErrorCode: bad.code, Message: bad.msg}
			}
			results[i] = res
			all = append(all, ds...)
		}
		_ = json.NewEncoder(w).Encode(results)
		return all
	}
}

// decodePostmarkBatch splits a batch body into its messages.
func decodePostmarkBatch(body []byte) ([]json.RawMessage, *pmRefusal) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, &pmRefusal{code: pmIncompatibleJSON, msg: "The batch must be a JSON array of messages."}
		}
		return nil, &pmRefusal{code: pmInvalidJSON, msg: "Received invalid JSON input."}
	}
	if len(raws) > pmMaxBatch {
		return nil, &pmRefusal{code: pmTooManyBatch, msg: fmt.Sprintf("Too many batch messages: %d. The maximum is %d.", len(raws), pmMaxBatch)}
	}
	return raws, nil
}
