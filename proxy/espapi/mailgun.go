package espapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/textproto"
	"net/url"
	"sort"
	"strings"

	"github.com/pixelgate/pixelgate/proxy"
	"github.com/pixelgate/pixelgate/proxy/espapi/factor"
)

// Mailgun Messages API (documentation.mailgun.com, "Messages": POST
// /v3/{domain}/messages and /v3/{domain}/messages.mime). Every recipient
// is a `to` of one batch-sending call: with recipient-variables present,
// Mailgun sends each `to` its own message addressed to them alone, and
// fills %recipient.NAME% from that recipient's variables, which carry the
// per-recipient parts of the rewritten contents.

const (
	// mailgunMaxRecipients: "The maximum number of recipients allowed for
	// Batch Sending is 1,000" (Mailgun user manual, batch sending).
	mailgunMaxRecipients = 1000
	// mailgunMaxVarBytes bounds the recipient-variables pixelgate adds for
	// one recipient: 1000 recipients stay within Mailgun's 25 MB message.
	mailgunMaxVarBytes = 20000
)

// mgField is one form field, in the client's order. A file part
// (attachment, inline, message) keeps its part header and bytes exactly.
type mgField struct {
	name  string
	value string
	file  *mgFile
}

type mgFile struct {
	header textproto.MIMEHeader
	data   []byte
}

// mgForm is a parsed call body.
type mgForm struct{ fields []mgField }

// parseMailgunForm reads a multipart/form-data or urlencoded body. Plain
// values must be UTF-8 (Mailgun reads them so; a wrong byte would reach
// the recipient altered); file parts are kept as bytes.
func parseMailgunForm(contentType string, body []byte) (*mgForm, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = ""
	}
	switch mt {
	case "multipart/form-data":
		return parseMailgunMultipart(params["boundary"], body)
	case "application/x-www-form-urlencoded":
		return parseMailgunURLEncoded(body)
	}
	return nil, badRequest("content-type", "", "the request body must be multipart/form-data or application/x-www-form-urlencoded")
}

func parseMailgunMultipart(boundary string, body []byte) (*mgForm, error) {
	if boundary == "" {
		return nil, badRequest("bad-form", "", "multipart/form-data without a boundary (RFC 7578 §4.1)")
	}
	f := &mgForm{}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		// NextRawPart: NextPart would decode quoted-printable parts and
		// drop their header, and attachments must go on byte-identical.
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badRequest("bad-form", "", "reading the multipart/form-data body: "+err.Error())
		}
		name := p.FormName()
		if name == "" {
			return nil, badRequest("bad-form", "", "a multipart/form-data part has no name (RFC 7578 §4.2)")
		}
		if err := checkFieldName(name); err != nil {
			return nil, err
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, badRequest("bad-form", name, "reading the multipart/form-data body: "+err.Error())
		}
		if p.FileName() != "" {
			f.fields = append(f.fields, mgField{name: name, file: &mgFile{header: p.Header, data: data}})
			continue
		}
		switch strings.ToLower(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding"))) {
		case "", "7bit", "8bit", "binary":
		default:
			// RFC 7578 §4.7: senders do not encode form values; an encoded
			// one would be checked for trackers in its encoded form.
			return nil, badRequest("bad-form", name, name+": a Content-Transfer-Encoding on a form value is not supported (RFC 7578 §4.7)")
		}
		if err := checkUTF8(name, string(data)); err != nil {
			return nil, err
		}
		f.fields = append(f.fields, mgField{name: name, value: string(data)})
	}
	return f, nil
}

// parseMailgunURLEncoded reads name=value pairs in their order (url.ParseQuery
// would lose it).
func parseMailgunURLEncoded(body []byte) (*mgForm, error) {
	f := &mgForm{}
	for _, pair := range strings.Split(string(body), "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		name, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil || name == "" {
			return nil, badRequest("bad-form", "", "the application/x-www-form-urlencoded body is malformed")
		}
		if err := checkFieldName(name); err != nil {
			return nil, err
		}
		if err := checkUTF8(name, value); err != nil {
			return nil, err
		}
		f.fields = append(f.fields, mgField{name: name, value: value})
	}
	return f, nil
}

// checkFieldName refuses a field name that could not be written into the
// upstream part's Content-Disposition as it is: a control character would
// break out of the header line (RFC 7578 §4.2).
func checkFieldName(name string) error {
	if err := checkUTF8("field name", name); err != nil {
		return err
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return badRequest("bad-form", "", fmt.Sprintf("the field name %q has a control character", name))
	}
	return nil
}

// canonical encodes the form independently of the multipart boundary, so
// a client's retry of the same call has the same ledger id.
func (f *mgForm) canonical() []byte {
	var b bytes.Buffer
	put := func(s []byte) {
		b.Write(binary.AppendUvarint(nil, uint64(len(s))))
		b.Write(s)
	}
	for _, fl := range f.fields {
		put([]byte(fl.name))
		if fl.file == nil {
			b.WriteByte('v')
			put([]byte(fl.value))
			continue
		}
		b.WriteByte('f')
		keys := make([]string, 0, len(fl.file.header))
		for k := range fl.file.header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			put([]byte(k + ": " + strings.Join(fl.file.header[k], ", ")))
		}
		put(fl.file.data)
	}
	return b.Bytes()
}

// mgRequest is what pixelgate reads of a Mailgun call.
type mgRequest struct {
	form *mgForm
	base content
	// rcpts are the call's distinct recipients: every to, cc and bcc.
	rcpts []recipient
	// own is the client's recipient-variables, by address.
	own      map[string]map[string]json.RawMessage
	ownKeys  map[string]string // lower-case address → key as the client wrote it
	campaign []string
	from     string
	subject  string
	// message is messages.mime's whole message.
	message *mgField
}

// mailgunTracking are the tracking switches pixelgate sets to "no" (R1,
// R12: Mailgun's own pixel and redirects are trackers it does not
// control), whatever the client sent.
var mailgunTracking = []string{"o:tracking", "o:tracking-opens", "o:tracking-clicks"}

// trackingOn says whether a client's value turned tracking on.
func trackingOn(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "true", "htmlonly":
		return true
	}
	return false
}

// headerField is the header name of an h: field, "" for other fields.
func headerField(name string) string {
	if len(name) > 2 && strings.EqualFold(name[:2], "h:") {
		return name[2:]
	}
	return ""
}

// mailgunTrackHeaders are Mailgun's per-message tracking header fields
// (the SMTP relay's mailgun profile sets the same ones).
var mailgunTrackHeaders = []string{"X-Mailgun-Track", "X-Mailgun-Track-Opens", "X-Mailgun-Track-Clicks"}

// mailgunTrackHeader is h as Mailgun's tracking header it names, "" for
// any other: the override metric's label comes from this fixed list,
// never from the client's spelling (bounded label values).
func mailgunTrackHeader(h string) string {
	for _, t := range mailgunTrackHeaders {
		if strings.EqualFold(h, t) {
			return t
		}
	}
	return ""
}

// readMailgun interprets a form for either endpoint (mime: messages.mime).
func readMailgun(f *mgForm, mime bool) (*mgRequest, error) {
	req := &mgRequest{form: f}
	var campaignHeader, oCampaign, oTag, vCampaign []string
	var vars *string
	seen := map[string]bool{}
	for i := range f.fields {
		fl := &f.fields[i]
		switch fl.name {
		case "template", "t:version", "t:text":
			return nil, badRequest("stored-template", fl.name,
				fl.name+": content stored at Mailgun cannot be checked for trackers by pixelgate; send the html and text parameters instead")
		case "amp-html":
			return nil, badRequest("amp-html", fl.name,
				"amp-html: AMP content cannot be checked for trackers by pixelgate; send html and text only")
		}
		switch fl.name {
		case "html", "text", "recipient-variables", "from", "subject":
			if fl.file != nil {
				return nil, badRequest("bad-form", fl.name, fl.name+" must be a form value, not a file")
			}
			if seen[fl.name] {
				return nil, badRequest("duplicate-field", fl.name, fl.name+" is given more than once")
			}
			seen[fl.name] = true
		}
		switch fl.name {
		case "html":
			req.base.html, req.base.hasHTML = fl.value, true
		case "text":
			req.base.text, req.base.hasText = fl.value, true
		case "from":
			req.from = fl.value
		case "subject":
			req.subject = fl.value
		case "recipient-variables":
			vars = &fl.value
		case "message":
			if !mime {
				continue
			}
			if req.message != nil {
				return nil, badRequest("duplicate-field", fl.name, "message is given more than once")
			}
			req.message = fl
		case "o:campaign":
			oCampaign = append(oCampaign, fl.value)
		case "o:tag":
			oTag = append(oTag, fl.value)
		case "v:campaign":
			vCampaign = append(vCampaign, fl.value)
		}
		if h := headerField(fl.name); h != "" {
			switch {
			case strings.EqualFold(h, proxy.DefaultCampaignHeader):
				campaignHeader = append(campaignHeader, fl.value)
			case strings.EqualFold(h, "Content-Language"):
				req.base.language = fl.value
			}
		}
	}
	req.campaign = append(append(append(campaignHeader, oCampaign...), firstOf(oTag)...), vCampaign...)
	rcpts, err := mailgunRecipients(f)
	if err != nil {
		return nil, err
	}
	req.rcpts = rcpts
	if mime {
		if req.message == nil {
			return nil, badRequest("no-message", "message", "message parameter is missing: messages.mime takes the whole MIME message as the message file")
		}
		if vars != nil {
			// The message is sent as it is built: a variable's value cannot
			// be put into an encoded body before the rewrite.
			return nil, badRequest("recipient-variables", "recipient-variables",
				"recipient-variables: pixelgate cannot substitute variables into a MIME message; put each recipient's values into the message before sending")
		}
		return req, nil
	}
	if req.from == "" {
		return nil, badRequest("no-from", "from", "from parameter is missing")
	}
	if !req.base.hasHTML && !req.base.hasText {
		return nil, badRequest("no-content", "html", "Need at least one of 'text' or 'html' parameters specified (pixelgate refuses stored templates)")
	}
	if vars != nil {
		if err := req.readVars(*vars); err != nil {
			return nil, err
		}
	}
	for i := range req.rcpts {
		req.rcpts[i].vars = substitutions(req.varsOf(req.rcpts[i].addr))
	}
	return req, nil
}

func firstOf(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	return v[:1]
}

// mailgunRecipients reads every to, cc and bcc: repeatable fields, each a
// comma list of addresses in any RFC 5322 form. An address given twice
// gets one copy.
func mailgunRecipients(f *mgForm) ([]recipient, error) {
	var rcpts []recipient
	seen := map[string]bool{}
	for _, fl := range f.fields {
		if fl.name != "to" && fl.name != "cc" && fl.name != "bcc" {
			continue
		}
		if fl.file != nil {
			return nil, badRequest("bad-form", fl.name, fl.name+" must be a form value, not a file")
		}
		if strings.TrimSpace(fl.value) == "" {
			continue
		}
		var err error
		if rcpts, err = addAddresses(rcpts, seen, fl.value); err != nil {
			return nil, badRequest("bad-recipient", fl.name, fl.name+" parameter is not a valid address. please check documentation")
		}
	}
	if len(rcpts) == 0 {
		return nil, badRequest("no-recipient", "to", "to parameter is missing")
	}
	if len(rcpts) > mailgunMaxRecipients {
		return nil, badRequest("too-many-recipients", "to", "Too many recipients: batch sending takes at most 1000 recipients (to + cc + bcc) per call")
	}
	return rcpts, nil
}

// readVars reads the client's recipient-variables: a JSON object of
// address → object of variables.
func (req *mgRequest) readVars(v string) error {
	var m map[string]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return badRequest("bad-field", "recipient-variables", "recipient-variables must be a JSON object mapping each address to an object of variables")
	}
	req.own = m
	req.ownKeys = map[string]string{}
	for k := range m {
		req.ownKeys[strings.ToLower(k)] = k
	}
	return nil
}

// varsOf is the client's variables of addr as %recipient.NAME% → text, as
// Mailgun renders them: strings as they are, other JSON values as written.
func (req *mgRequest) varsOf(addr string) map[string]string {
	own := req.own[req.ownKeys[strings.ToLower(addr)]]
	if len(own) == 0 {
		return nil
	}
	out := make(map[string]string, len(own))
	for k, raw := range own {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw)
		}
		out["%recipient."+k+"%"] = s
	}
	return out
}

// readMailgunCall reads and checks a call to either endpoint (mime:
// messages.mime).
func readMailgunCall(c *call, mime bool) (*mgRequest, error) {
	f, err := parseMailgunForm(c.r.Header.Get("Content-Type"), c.body)
	if err != nil {
		return nil, err
	}
	req, err := readMailgun(f, mime)
	if err != nil {
		return nil, err
	}
	c.ledgerBody = f.canonical()
	c.sum.recipients = len(req.rcpts)
	return req, nil
}

// mailgunForm serves POST /v3/{domain}/messages.
func (s *Server) mailgunForm(w http.ResponseWriter, c *call) error {
	req, err := readMailgunCall(c, false)
	if err != nil {
		return err
	}
	campaign := proxy.CampaignFrom(req.campaign, req.from, req.subject)
	copies, err := s.rewriteAll(c.r.Context(), req.base, req.rcpts, campaign, campaign)
	if err != nil {
		return err
	}
	for _, cp := range copies {
		c.sum.decision(cp.copy.Decision)
	}
	s.mailgunOverrides(c, req.form)

	names, err := newKeyNamer(s.cfg.Rand)
	if err != nil {
		return err
	}
	const prefix, suffix = "%recipient.", "%"
	key := func(name string) string { return prefix + name + suffix }
	h, ok := factorCopies(copies, factor.Limits{MaxHoles: 500, MaxValueBytes: mailgunMaxVarBytes}, names, key)
	if ok {
		body, ct, err := req.body(copies, func(i int) (content, map[string]string) {
			vals := make(map[string]string, len(h.values[i]))
			for k, v := range h.values[i] {
				vals[strings.TrimSuffix(strings.TrimPrefix(k, prefix), suffix)] = v
			}
			return content{html: h.html, text: h.text, hasHTML: req.base.hasHTML, hasText: req.base.hasText}, vals
		})
		if err != nil {
			return err
		}
		return s.sendOnce(w, c, copies, ct, body)
	}
	// The copies differ too much for recipient-variables: one call per
	// recipient, each with its whole copy, under the delivery ledger.
	c.sum.outcome = "split"
	return s.mailgunSplit(w, c, copies, func(cp []recipientCopy) ([]byte, string, error) {
		return req.body(cp, func(int) (content, map[string]string) { return cp[0].content, nil })
	})
}

// mailgunSplit sends one upstream call per recipient under the ledger.
func (s *Server) mailgunSplit(w http.ResponseWriter, c *call, copies []recipientCopy, build func([]recipientCopy) ([]byte, string, error)) error {
	res, err := s.sendSplit(c, copies, 1, build)
	if err != nil {
		return err
	}
	writeSplitReply(w, c, res, func() *reply {
		// Every copy went out in an earlier attempt: Mailgun's success
		// answer, with no new message id.
		return &reply{status: http.StatusOK, header: http.Header{"Content-Type": {"application/json"}},
			body: []byte(`{"id":"","message":"Queued. Thank you."}` + "\n")}
	})
	return nil
}

// mailgunOverrides counts the tracking the client asked for and
// pixelgate turns off.
func (s *Server) mailgunOverrides(c *call, f *mgForm) {
	for _, fl := range f.fields {
		if fl.file != nil {
			continue
		}
		if !trackingOn(fl.value) {
			continue
		}
		if isTrackingField(fl.name) {
			c.sum.override(fl.name)
		} else if t := mailgunTrackHeader(headerField(fl.name)); t != "" {
			c.sum.override("h:" + t)
		}
	}
}

func isTrackingField(name string) bool {
	for _, t := range mailgunTracking {
		if name == t {
			return true
		}
	}
	return false
}

// body writes the upstream call of /messages for copies: the client's
// fields in their order, except the recipients (each copy's recipient a
// `to` of its own; cc and bcc go, as every recipient gets a copy
// addressed to them alone), the contents (of(i)), recipient-variables
// (the client's, merged with pixelgate's values) and tracking.
func (req *mgRequest) body(copies []recipientCopy, of func(i int) (content, map[string]string)) ([]byte, string, error) {
	var fields [][2]string
	vars := make(map[string]map[string]json.RawMessage, len(copies))
	var shared content
	for i, cp := range copies {
		fields = append(fields, [2]string{"to", (&mail.Address{Name: cp.rcpt.name, Address: cp.rcpt.addr}).String()})
		ct, vals := of(i)
		shared = ct
		v := map[string]json.RawMessage{}
		for k, raw := range req.own[req.ownKeys[strings.ToLower(cp.rcpt.addr)]] {
			v[k] = raw
		}
		for k, val := range vals {
			v[k] = mustJSON(val)
		}
		vars[cp.rcpt.addr] = v
	}
	// Batch sending: with recipient-variables, Mailgun sends each `to` its
	// own message, so no recipient sees another's address.
	fields = append(fields, [2]string{"recipient-variables", string(mustJSON(vars))})
	if shared.hasText {
		fields = append(fields, [2]string{"text", shared.text})
	}
	if shared.hasHTML {
		fields = append(fields, [2]string{"html", shared.html})
	}
	return writeMailgunBody(req.form, nil, fields)
}

// writeMailgunBody writes an upstream body: the client's fields that go on
// as they are (writeKept), then pixelgate's fields, then tracking off.
func writeMailgunBody(f *mgForm, msg []byte, fields [][2]string) ([]byte, string, error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if err := writeKept(mw, f, msg); err != nil {
		return nil, "", err
	}
	for _, t := range mailgunTracking {
		fields = append(fields, [2]string{t, "no"})
	}
	for _, fl := range fields {
		if err := mw.WriteField(fl[0], fl[1]); err != nil {
			return nil, "", fmt.Errorf("write mailgun body: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", fmt.Errorf("write mailgun body: %w", err)
	}
	return b.Bytes(), mw.FormDataContentType(), nil
}

// writeKept writes the client's fields that go on as they are, in their
// order: file parts byte-identical with their part header; message (for
// messages.mime) replaced by msg.
func writeKept(mw *multipart.Writer, f *mgForm, msg []byte) error {
	for _, fl := range f.fields {
		h := headerField(fl.name)
		switch {
		case fl.name == "to" || fl.name == "cc" || fl.name == "bcc" || fl.name == "html" || fl.name == "text" ||
			fl.name == "recipient-variables" || isTrackingField(fl.name):
			continue
		case proxy.IsInternalHeader(h):
			continue // instructions to pixelgate never leave it
		case mailgunTrackHeader(h) != "" && fl.file == nil:
			if err := mw.WriteField(fl.name, "no"); err != nil {
				return fmt.Errorf("write mailgun body: %w", err)
			}
			continue
		}
		value, data := fl.value, []byte(nil)
		if fl.file != nil {
			data = fl.file.data
		}
		if fl.name == "message" && msg != nil {
			value, data = string(msg), msg
		}
		if fl.file == nil {
			if err := mw.WriteField(fl.name, value); err != nil {
				return fmt.Errorf("write mailgun body: %w", err)
			}
			continue
		}
		pw, err := mw.CreatePart(fl.file.header)
		if err != nil {
			return fmt.Errorf("write mailgun body: %w", err)
		}
		if _, err := pw.Write(data); err != nil {
			return fmt.Errorf("write mailgun body: %w", err)
		}
	}
	return nil
}

// mailgunMIME serves POST /v3/{domain}/messages.mime: the client's whole
// MIME message is rewritten for each recipient by the relay's own engine,
// and each copy is sent in a call of its own (one `to`), under the ledger
// when there are several.
func (s *Server) mailgunMIME(w http.ResponseWriter, c *call) error {
	req, err := readMailgunCall(c, true)
	if err != nil {
		return err
	}
	f := req.form
	msg := req.message.value
	if req.message.file != nil {
		msg = string(req.message.file.data)
	}
	raw := toCRLF([]byte(msg))
	campaign, campaignName, err := s.cfg.Relay.MessageCampaign(raw, req.campaign...)
	if err != nil {
		return badRequest("unparseable", "message", "the message cannot be parsed: "+err.Error())
	}
	copies := make([]recipientCopy, len(req.rcpts))
	batch := s.cfg.Relay.NewBatch(raw, campaign, campaignName)
	err = s.eachCopy(len(req.rcpts), func(i int) error {
		rc := req.rcpts[i]
		cp, err := batch.RewriteFor(c.r.Context(), rc.addr)
		if err != nil {
			if errors.Is(err, proxy.ErrUnparseable) {
				return badRequest("unparseable", "message", "the message cannot be parsed: "+err.Error())
			}
			return err
		}
		if cp.Msg, err = proxy.FinishForESP(cp.Msg, proxy.ESP(Mailgun)); err != nil {
			return err
		}
		copies[i] = recipientCopy{rcpt: rc, copy: cp}
		return nil
	})
	if err != nil {
		return err
	}
	for _, cp := range copies {
		c.sum.decision(cp.copy.Decision)
	}
	s.mailgunOverrides(c, f)
	build := func(cp []recipientCopy) ([]byte, string, error) {
		to := (&mail.Address{Name: cp[0].rcpt.name, Address: cp[0].rcpt.addr}).String()
		return writeMailgunBody(f, cp[0].copy.Msg, [][2]string{{"to", to}})
	}
	if len(copies) == 1 {
		body, ct, err := build(copies)
		if err != nil {
			return err
		}
		return s.sendOnce(w, c, copies, ct, body)
	}
	c.sum.outcome = "split"
	return s.mailgunSplit(w, c, copies, build)
}

// toCRLF ends every line with CRLF, as RFC 5322 §2.1 wants and the
// rewrite engine reads: an uploaded message often has bare LF line ends.
// Unlike SMTP DATA, nothing here is dot-stuffed, so no dot is removed.
func toCRLF(msg []byte) []byte {
	n := 0
	for i, ch := range msg {
		if ch == '\n' && (i == 0 || msg[i-1] != '\r') {
			n++
		}
	}
	if n == 0 {
		return msg
	}
	out := make([]byte, 0, len(msg)+n)
	for i, ch := range msg {
		if ch == '\n' && (i == 0 || msg[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, ch)
	}
	return out
}
