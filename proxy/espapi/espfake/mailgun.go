package espfake

// Mailgun messages API, POST /v3/{domain}/messages (multipart/form-data
// or application/x-www-form-urlencoded) and POST
// /v3/{domain}/messages.mime. Parameters from Mailgun's API reference
// (https://documentation.mailgun.com/docs/mailgun/api-reference/openapi-final/tag/Messages/),
// its batch sending manual
// (https://documentation.mailgun.com/docs/mailgun/user-manual/sending-messages/batch-sending)
// and the official client github.com/mailgun/mailgun-go/v4 (messages.go:
// MaxNumberOfRecipients 1000, MaxNumberOfTags 3, and the parameters its
// Send writes).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	_ "github.com/emersion/go-message/charset" // MIME uploads in any charset
	gomail "github.com/emersion/go-message/mail"
)

const (
	mgMaxRecipients = 1000
	mgMaxTags       = 3
)

func writeMailgunError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// mgError is a refusal: the status and Mailgun's {"message"} text.
type mgError struct {
	status int
	msg    string
}

func mgBad(format string, a ...any) *mgError {
	return &mgError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, a...)}
}

// mgMessage is a checked messages or messages.mime request.
type mgMessage struct {
	values      url.Values
	attachments int
	mime        []byte // messages.mime only
	to, cc, bcc []string
	recipVars   map[string]map[string]any
}

// mgSimple are the parameters without a prefix the messages endpoint
// takes; "message" is the MIME upload of messages.mime.
var mgSimple = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "subject": true, "text": true, "html": true,
	"amp-html": true, "attachment": true, "inline": true, "template": true, "recipient-variables": true,
	"sender": true,
}

// mgOptions are the documented o: and t: parameters.
var mgOptions = map[string]bool{
	"o:tag": true, "o:campaign": true, "o:dkim": true, "o:secondary-dkim": true, "o:secondary-dkim-public": true,
	"o:deliverytime": true, "o:deliverytime-optimize-period": true, "o:time-zone-localize": true,
	"o:native-send": true, "o:testmode": true, "o:tracking": true, "o:tracking-clicks": true,
	"o:tracking-opens": true, "o:tracking-pixel-location-top": true, "o:require-tls": true,
	"o:skip-verification": true, "o:sending-ip": true, "o:sending-ip-pool": true, "o:suppress-headers": true,
	"o:archive-to": true, "t:version": true, "t:text": true, "t:variables": true,
}

// parseMailgun reads and checks a messages (mimeUpload false) or
// messages.mime body of the given Content-Type.
func parseMailgun(contentType string, body []byte, mimeUpload bool) (*mgMessage, *mgError) {
	m := &mgMessage{}
	mt, params, err := mime.ParseMediaType(contentType)
	switch {
	case err == nil && mt == "multipart/form-data":
		if bad := m.readMultipart(body, params["boundary"], mimeUpload); bad != nil {
			return nil, bad
		}
	case err == nil && mt == "application/x-www-form-urlencoded" && !mimeUpload:
		m.values, err = url.ParseQuery(string(body))
		if err != nil {
			return nil, mgBad("the form body does not parse: %v", err)
		}
	case mimeUpload:
		return nil, mgBad("messages.mime takes multipart/form-data with the 'message' file")
	default:
		return nil, mgBad("the body must be multipart/form-data or application/x-www-form-urlencoded")
	}
	v := m.values
	for name := range v {
		switch {
		case mgSimple[name], mgOptions[name]:
		case strings.HasPrefix(name, "h:"), strings.HasPrefix(name, "v:"):
		case mimeUpload && name == "message":
		default:
			// Mailgun documents no other parameter; refusing it makes a
			// misspelled field fail a test instead of being dropped.
			return nil, mgBad("'%s' parameter is not supported", name)
		}
	}

	if mimeUpload {
		if m.mime == nil {
			return nil, mgBad("'message' parameter is missing")
		}
	} else {
		from := v.Get("from")
		if _, has := v["from"]; !has || from == "" {
			if v.Get("template") == "" {
				return nil, mgBad("'from' parameter is missing")
			}
		} else if _, err := mail.ParseAddress(from); err != nil {
			return nil, mgBad("'from' parameter is not a valid address. please check documentation")
		}
		if v.Get("text") == "" && v.Get("html") == "" && v.Get("template") == "" && v.Get("amp-html") == "" {
			return nil, mgBad("Need at least one of 'text', 'html' or 'template' parameters specified")
		}
	}
	if _, has := v["to"]; !has {
		return nil, mgBad("'to' parameter is missing")
	}
	for _, f := range []struct {
		name string
		dst  *[]string
	}{{"to", &m.to}, {"cc", &m.cc}, {"bcc", &m.bcc}} {
		for _, raw := range v[f.name] {
			// "You can use commas to separate multiple recipients."
			list, err := mail.ParseAddressList(raw)
			if err != nil {
				return nil, mgBad("'%s' parameter is not a valid address. please check documentation", f.name)
			}
			for _, a := range list {
				*f.dst = append(*f.dst, a.Address)
			}
		}
	}
	if n := len(m.to) + len(m.cc) + len(m.bcc); n > mgMaxRecipients {
		return nil, mgBad("Too many recipients: %d. The maximum is %d (to, cc and bcc together)", n, mgMaxRecipients)
	}
	if n := len(v["o:tag"]); n > mgMaxTags {
		return nil, mgBad("Too many tags: %d. The maximum is %d per message", n, mgMaxTags)
	}
	for name, allowed := range map[string][]string{
		"o:tracking":        {"yes", "no", "true", "false"},
		"o:tracking-opens":  {"yes", "no", "true", "false"},
		"o:tracking-clicks": {"yes", "no", "true", "false", "htmlonly"},
		"o:testmode":        {"yes", "no", "true", "false"},
		"o:dkim":            {"yes", "no", "true", "false"},
		"o:require-tls":     {"yes", "no", "true", "false"},
	} {
		for _, val := range v[name] {
			if !containsFold(allowed, val) {
				return nil, mgBad("'%s' parameter is invalid: %q, expected one of %s", name, val, strings.Join(allowed, ", "))
			}
		}
	}
	if rv := v.Get("recipient-variables"); rv != "" {
		if err := json.Unmarshal([]byte(rv), &m.recipVars); err != nil {
			return nil, mgBad("'recipient-variables' parameter is not a valid JSON")
		}
	}
	return m, nil
}

// readMultipart reads the form part by part rather than with
// multipart.Reader.ReadForm, whose default cap of 1000 parts would refuse
// a legitimate batch of 1000 to parameters plus the others.
func (m *mgMessage) readMultipart(body []byte, boundary string, mimeUpload bool) *mgError {
	m.values = url.Values{}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return mgBad("the multipart/form-data body does not parse: %v", err)
		}
		name := p.FormName()
		b, err := io.ReadAll(p)
		if err != nil {
			return mgBad("the multipart/form-data body does not parse: %v", err)
		}
		if p.FileName() == "" {
			m.values[name] = append(m.values[name], string(b))
			continue
		}
		switch name {
		case "attachment", "inline":
			m.attachments++
		case "message":
			if !mimeUpload || m.mime != nil {
				return mgBad("'message' parameter is not allowed here")
			}
			m.mime = b
		default:
			return mgBad("'%s' parameter is not a file parameter", name)
		}
	}
}

func containsFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}

// content is what every recipient's copy starts from before %recipient%
// substitution.
func (m *mgMessage) content() (Delivery, error) {
	v := m.values
	d := Delivery{
		ESP: Mailgun,
		Tracking: Tracking{
			All: v.Get("o:tracking"), Opens: v.Get("o:tracking-opens"), Clicks: v.Get("o:tracking-clicks"),
		},
		Tags:        v["o:tag"],
		Attachments: m.attachments,
	}
	for name, vals := range v {
		if h, ok := strings.CutPrefix(name, "h:"); ok {
			if d.Headers == nil {
				d.Headers = map[string]string{}
			}
			d.Headers[h] = vals[0]
		}
		if a, ok := strings.CutPrefix(name, "v:"); ok {
			if d.Args == nil {
				d.Args = map[string]string{}
			}
			d.Args[a] = vals[0]
		}
	}
	if m.mime == nil {
		if a, err := mail.ParseAddress(v.Get("from")); err == nil {
			d.From = a.Address
		}
		d.Subject, d.Text, d.HTML = v.Get("subject"), v.Get("text"), v.Get("html")
		return d, nil
	}
	r, err := gomail.CreateReader(bytes.NewReader(m.mime))
	if err != nil {
		return d, fmt.Errorf("reading the MIME upload: %w", err)
	}
	if d.Subject, err = r.Header.Subject(); err != nil {
		return d, fmt.Errorf("reading the MIME upload's Subject: %w", err)
	}
	if from, err := r.Header.AddressList("From"); err == nil && len(from) > 0 {
		d.From = from[0].Address
	}
	fields := r.Header.Fields()
	for fields.Next() {
		if d.Headers == nil {
			d.Headers = map[string]string{}
		}
		if _, dup := d.Headers[fields.Key()]; !dup {
			d.Headers[fields.Key()] = fields.Value()
		}
	}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return d, fmt.Errorf("reading the MIME upload's parts: %w", err)
		}
		switch h := p.Header.(type) {
		case *gomail.InlineHeader:
			ct, _, _ := h.ContentType()
			b, err := io.ReadAll(p.Body)
			if err != nil {
				return d, fmt.Errorf("reading a MIME part: %w", err)
			}
			switch {
			case ct == "text/plain" && d.Text == "":
				d.Text = string(b)
			case ct == "text/html" && d.HTML == "":
				d.HTML = string(b)
			default:
				d.Attachments++
			}
		case *gomail.AttachmentHeader:
			d.Attachments++
		}
	}
	return d, nil
}

// deliveries expands as Mailgun does: with recipient-variables each to
// address gets its own message, %recipient.NAME% replaced by its
// variables (batch sending); without, one message goes to every
// recipient. Cc and bcc are on every message sent.
func (m *mgMessage) deliveries() ([]Delivery, error) {
	base, err := m.content()
	if err != nil {
		return nil, err
	}
	one := func(rcpt, field string, vars map[string]any) Delivery {
		d := base
		if vars != nil {
			sub := mgSubstituter(vars)
			d.Subject, d.Text, d.HTML = sub.Replace(d.Subject), sub.Replace(d.Text), sub.Replace(d.HTML)
		}
		d.Recipient, d.Field = rcpt, field
		return d
	}
	var out []Delivery
	if m.recipVars == nil {
		for _, f := range []struct {
			name  string
			addrs []string
		}{{"to", m.to}, {"cc", m.cc}, {"bcc", m.bcc}} {
			for _, a := range f.addrs {
				out = append(out, one(a, f.name, nil))
			}
		}
		return out, nil
	}
	for _, to := range m.to {
		vars := m.recipVars[to]
		if vars == nil {
			vars = map[string]any{}
		}
		out = append(out, one(to, "to", vars))
		for _, cc := range m.cc {
			out = append(out, one(cc, "cc", vars))
		}
		for _, bcc := range m.bcc {
			out = append(out, one(bcc, "bcc", vars))
		}
	}
	return out, nil
}

// mgSubstituter replaces %recipient.NAME% by the recipient's variable:
// strings as they are, other JSON values as their JSON text.
func mgSubstituter(vars map[string]any) *strings.Replacer {
	subs := map[string]string{}
	for k, v := range vars {
		s, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		subs["%recipient."+k+"%"] = s
	}
	return substituter(subs)
}

// serveMailgun answers as Mailgun: 200 {"id":"<...>","message":"Queued.
// Thank you."}, 400 {"message"} for a bad request, 404 for an unknown
// domain.
func (f *Fake) serveMailgun(mimeUpload bool) func(http.ResponseWriter, *http.Request, call) []Delivery {
	return func(w http.ResponseWriter, r *http.Request, c call) []Delivery {
		domain := r.PathValue("domain")
		if f.opts.MailgunDomain != "" && !strings.EqualFold(domain, f.opts.MailgunDomain) {
			writeMailgunError(w, http.StatusNotFound, "Domain not found: "+domain)
			return nil
		}
		m, bad := parseMailgun(r.Header.Get("Content-Type"), c.body, mimeUpload)
		if bad != nil {
			writeMailgunError(w, bad.status, bad.msg)
			return nil
		}
		ds, err := m.deliveries()
		if err != nil {
			writeMailgunError(w, http.StatusBadRequest, err.Error())
			return nil
		}
		id := fmt.Sprintf("<%s.%d.fake@%s>", c.now.UTC().Format("20060102150405"), f.nextID(), domain)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id, "message": "Queued. Thank you."})
		return stamp(ds, c, id)
	}
}
