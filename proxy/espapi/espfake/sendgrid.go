package espfake

// SendGrid v3 mail send, POST /v3/mail/send. The schema is the one of
// github.com/sendgrid/sendgrid-oai, spec/paths/mail_send/mail_send.json
// (with spec/components/schemas.json for the address objects and the
// error body); the error messages are those of the mail send errors page,
// https://www.twilio.com/docs/sendgrid/api-reference/mail-send/errors.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"time"
)

const sgHelp = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"

// sgError is one element of SendGrid's global_error_response_schema:
// {"message", "field" (nullable), "help"}.
type sgError struct {
	Message string  `json:"message"`
	Field   *string `json:"field"`
	Help    any     `json:"help"`
}

func writeSendGridErrors(w http.ResponseWriter, status int, errs ...sgError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": errs})
}

type sgAddress struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

type sgPersonalization struct {
	From                *sgAddress        `json:"from"`
	To                  []sgAddress       `json:"to"`
	Cc                  []sgAddress       `json:"cc"`
	Bcc                 []sgAddress       `json:"bcc"`
	Subject             *string           `json:"subject"`
	Headers             map[string]string `json:"headers"`
	Substitutions       map[string]string `json:"substitutions"`
	DynamicTemplateData map[string]any    `json:"dynamic_template_data"`
	CustomArgs          map[string]string `json:"custom_args"`
	SendAt              *int64            `json:"send_at"`
	// Categories per personalization are not in the OpenAPI schema but the
	// official sendgrid-go helper (helpers/mail/mail_v3.go) emits them.
	Categories []string `json:"categories"`
}

type sgContent struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type sgAttachment struct {
	Content     string `json:"content"`
	Type        string `json:"type"`
	Filename    string `json:"filename"`
	Disposition string `json:"disposition"`
	ContentID   string `json:"content_id"`
	// Name is emitted by sendgrid-go's Attachment helper.
	Name string `json:"name"`
}

type sgAsm struct {
	GroupID         *int64  `json:"group_id"`
	GroupsToDisplay []int64 `json:"groups_to_display"`
}

type sgSetting struct {
	Enable *bool `json:"enable"`
}

type sgFooter struct {
	Enable *bool  `json:"enable"`
	Text   string `json:"text"`
	HTML   string `json:"html"`
}

// sgBcc and sgSpamCheck are legacy settings the official sendgrid-go
// helper still emits; SendGrid accepts them.
type sgBcc struct {
	Enable *bool  `json:"enable"`
	Email  string `json:"email"`
}

type sgSpamCheck struct {
	Enable        *bool  `json:"enable"`
	SpamThreshold int    `json:"threshold"`
	PostToURL     string `json:"post_to_url"`
}

type sgMailSettings struct {
	BypassListManagement        *sgSetting   `json:"bypass_list_management"`
	BypassSpamManagement        *sgSetting   `json:"bypass_spam_management"`
	BypassBounceManagement      *sgSetting   `json:"bypass_bounce_management"`
	BypassUnsubscribeManagement *sgSetting   `json:"bypass_unsubscribe_management"`
	Footer                      *sgFooter    `json:"footer"`
	SandboxMode                 *sgSetting   `json:"sandbox_mode"`
	Bcc                         *sgBcc       `json:"bcc"`
	SpamCheck                   *sgSpamCheck `json:"spam_check"`
}

type sgTrackingSettings struct {
	ClickTracking *struct {
		Enable     *bool `json:"enable"`
		EnableText *bool `json:"enable_text"`
	} `json:"click_tracking"`
	OpenTracking *struct {
		Enable          *bool  `json:"enable"`
		SubstitutionTag string `json:"substitution_tag"`
	} `json:"open_tracking"`
	SubscriptionTracking *struct {
		Enable          *bool  `json:"enable"`
		Text            string `json:"text"`
		HTML            string `json:"html"`
		SubstitutionTag string `json:"substitution_tag"`
	} `json:"subscription_tracking"`
	Ganalytics *struct {
		Enable      *bool  `json:"enable"`
		UTMSource   string `json:"utm_source"`
		UTMMedium   string `json:"utm_medium"`
		UTMTerm     string `json:"utm_term"`
		UTMContent  string `json:"utm_content"`
		UTMCampaign string `json:"utm_campaign"`
	} `json:"ganalytics"`
	// Legacy settings emitted by sendgrid-go's TrackingSettings helper.
	Bcc                  *sgBcc     `json:"bcc"`
	BypassListManagement *sgSetting `json:"bypass_list_management"`
	Footer               *sgFooter  `json:"footer"`
	SandboxMode          *sgSetting `json:"sandbox_mode"`
}

// sgMail is the mail send request body.
type sgMail struct {
	Personalizations []sgPersonalization `json:"personalizations"`
	From             *sgAddress          `json:"from"`
	ReplyTo          *sgAddress          `json:"reply_to"`
	ReplyToList      []sgAddress         `json:"reply_to_list"`
	Subject          *string             `json:"subject"`
	Content          []sgContent         `json:"content"`
	Attachments      []sgAttachment      `json:"attachments"`
	TemplateID       string              `json:"template_id"`
	// Sections are legacy substitution sections, still in sendgrid-go.
	Sections   map[string]string `json:"sections"`
	Headers    map[string]string `json:"headers"`
	Categories []string          `json:"categories"`
	// CustomArgs: the schema types the top-level custom_args as a string
	// while its description (and the personalization level) says
	// key/value pairs of strings, which is what SendGrid takes.
	CustomArgs       map[string]string   `json:"custom_args"`
	SendAt           *int64              `json:"send_at"`
	BatchID          string              `json:"batch_id"`
	Asm              *sgAsm              `json:"asm"`
	IPPoolName       *string             `json:"ip_pool_name"`
	MailSettings     *sgMailSettings     `json:"mail_settings"`
	TrackingSettings *sgTrackingSettings `json:"tracking_settings"`
}

// sgReservedHeaders may not be set through headers (description of
// personalizations[].headers in mail_send.json).
var sgReservedHeaders = []string{"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
	"content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"}

// parseSendGrid decodes and checks a mail send body. now bounds send_at.
func parseSendGrid(body []byte, now time.Time) (*sgMail, []sgError) {
	dec := json.NewDecoder(bytes.NewReader(body))
	// Fields the schema does not name are refused, so a front that
	// misspells one fails its test instead of losing a setting.
	dec.DisallowUnknownFields()
	var m sgMail
	if err := dec.Decode(&m); err != nil {
		return nil, []sgError{sgDecodeError(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, []sgError{{Message: "Bad Request"}}
	}
	var errs []sgError
	add := func(field *string, anchor, format string, a ...any) {
		errs = append(errs, sgError{Message: fmt.Sprintf(format, a...), Field: field, Help: sgHelp + "#" + anchor})
	}

	// personalizations: required, 1..1000 (maxItems 1000).
	switch n := len(m.Personalizations); {
	case n == 0:
		add(fieldf("personalizations"), "message.personalizations",
			"The personalizations field is required and must have at least one personalization.")
	case n > 1000:
		add(fieldf("personalizations"), "message.personalizations",
			"The personalization block is limited to 1000 personalizations per API request. You have provided %d personalizations. Please consider splitting this into multiple requests and resending your request.", n)
	}
	total := 0
	allHaveSubject := len(m.Personalizations) > 0
	for i, p := range m.Personalizations {
		if len(p.To) == 0 {
			add(fieldf("personalizations.%d.to", i), "message.personalizations.to",
				"The to array is required for all personalization objects, and must have at least one email object with a valid email address.")
		}
		seen := map[string]bool{}
		for _, list := range []struct {
			name  string
			addrs []sgAddress
		}{{"to", p.To}, {"cc", p.Cc}, {"bcc", p.Bcc}} {
			for j, a := range list.addrs {
				total++
				f := fieldf("personalizations.%d.%s.%d.email", i, list.name, j)
				if a.Email == "" {
					add(f, "message.personalizations."+list.name, "The %s email parameter is required.", list.name)
					continue
				}
				if !validBareAddress(a.Email) {
					add(f, "message.personalizations."+list.name, "Does not contain a valid address.")
					continue
				}
				k := strings.ToLower(a.Email)
				if seen[k] {
					add(fieldf("personalizations.%d", i), "message.personalizations",
						"Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [%s] in the personalizations.%d.%s field.", a.Email, i, list.name)
				}
				seen[k] = true
			}
		}
		if p.From != nil && !validBareAddress(p.From.Email) {
			add(fieldf("personalizations.%d.from.email", i), "message.personalizations.from", "The from email does not contain a valid address.")
		}
		if p.Subject == nil {
			allHaveSubject = false
		} else if *p.Subject == "" {
			add(fieldf("personalizations.%d.subject", i), "message.personalizations.subject",
				"The subject is required. It must be a string at least one character in length.")
		}
		errs = append(errs, sgHeaderErrors(p.Headers, fmt.Sprintf("personalizations.%d.headers", i))...)
		if sgMapSize(p.Substitutions) > 10000 {
			add(fieldf("personalizations.%d.substitutions", i), "message.personalizations.substitutions",
				"The total size of your substitutions may not exceed 10,000 bytes per personalization object.")
		}
		if sgMapSize(p.CustomArgs) > 10000 {
			add(fieldf("personalizations.%d.custom_args", i), "message.personalizations.custom_args",
				"The total size of your custom_args may not exceed 10,000 bytes per personalization object.")
		}
		if p.SendAt != nil && !sgSendAtOK(*p.SendAt, now) {
			add(fieldf("personalizations.%d.send_at", i), "message.personalizations.send_at",
				"Scheduling delivery more than 72 hours in advance is forbidden.")
		}
	}
	if total > 1000 {
		add(fieldf("personalizations"), "message.personalizations",
			"There is a limit of 1000 total recipients (to + cc + bcc) per request.")
	}

	// from: required {email, name?}.
	if m.From == nil || m.From.Email == "" {
		add(fieldf("from.email"), "message.from",
			`The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.  e.g. {"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.`)
	} else if !validBareAddress(m.From.Email) {
		add(fieldf("from.email"), "message.from", "The from email does not contain a valid address.")
	}
	if m.ReplyTo != nil && len(m.ReplyToList) > 0 {
		add(fieldf("reply_to"), "message.reply_to", "`reply_to` is mutually exclusive with `reply_to_list`.")
	}
	if m.ReplyTo != nil && !validBareAddress(m.ReplyTo.Email) {
		add(fieldf("reply_to.email"), "message.reply_to", "The reply_to email does not contain a valid address.")
	}
	if len(m.ReplyToList) > 1000 {
		add(fieldf("reply_to_list"), "message.reply_to_list", "There is a limit of 1000 `reply_to` emails per mail/send request.")
	}
	for i, a := range m.ReplyToList {
		if !validBareAddress(a.Email) {
			add(fieldf("reply_to_list.%d.email", i), "message.reply_to_list", "The `reply_to_list` email does not contain a valid address.")
		}
	}

	// subject: minLength 1; required unless a template or every
	// personalization supplies one.
	if m.Subject != nil && *m.Subject == "" {
		add(fieldf("subject"), "message.subject", "The subject is required. It must be a string at least one character in length.")
	} else if m.Subject == nil && m.TemplateID == "" && !allHaveSubject {
		add(fieldf("subject"), "message.subject",
			"The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.")
	}

	// content: at least one block unless template_id; type and value
	// minLength 1; text/plain first, then text/html.
	if len(m.Content) == 0 && m.TemplateID == "" {
		add(fieldf("content"), "message.content",
			"Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.")
	}
	seenType := map[string]bool{}
	for i, c := range m.Content {
		if c.Type == "" {
			add(fieldf("content.%d.type", i), "message.content.type", "The content type must be a string at least one character in length.")
		}
		if c.Value == "" {
			add(fieldf("content.%d.value", i), "message.content.value", "The content value must be a string at least one character in length.")
		}
		t := strings.ToLower(c.Type)
		if (t == "text/plain" || t == "text/html") && seenType[t] {
			add(fieldf("content"), "message.content", "If present, text/plain and text/html may only be provided once.")
		}
		seenType[t] = true
		if (t == "text/plain" && i != 0) || (t == "text/html" && i > 0 && !(i == 1 && strings.EqualFold(m.Content[0].Type, "text/plain"))) {
			add(fieldf("content"), "message.content", "If present, text/plain content must be first, followed by text/html, then any other MIME types.")
		}
	}

	for i, a := range m.Attachments {
		if a.Content == "" {
			add(fieldf("attachments.%d.content", i), "message.attachments.content", "The attachment content is required.")
		}
		if a.Filename == "" {
			add(fieldf("attachments.%d.filename", i), "message.attachments.filename", "The attachment filename parameter is required.")
		}
		if a.Disposition != "" && a.Disposition != "inline" && a.Disposition != "attachment" {
			add(fieldf("attachments.%d.disposition", i), "message.attachments.disposition",
				"If present, the disposition of the attachment must be either \"inline\" or \"attachment\".")
		}
	}
	errs = append(errs, sgHeaderErrors(m.Headers, "headers")...)

	// categories: maxItems 10, uniqueItems, each maxLength 255.
	if len(m.Categories) > 10 {
		add(fieldf("categories"), "message.categories", "You may not have more than 10 categories per request.")
	}
	seenCat := map[string]bool{}
	for i, c := range m.Categories {
		if len(c) > 255 {
			add(fieldf("categories.%d", i), "message.categories", "A category cannot have more than 255 characters.")
		}
		if seenCat[c] {
			add(fieldf("categories"), "message.categories", "The categories must be unique.")
		}
		seenCat[c] = true
	}
	if sgMapSize(m.CustomArgs) > 10000 {
		add(fieldf("custom_args"), "message.custom_args", "Total custom_args size may not exceed 10,000 bytes.")
	}
	if m.SendAt != nil && !sgSendAtOK(*m.SendAt, now) {
		add(fieldf("send_at"), "message.send_at", "Scheduling delivery more than 72 hours in advance is forbidden.")
	}
	if m.Asm != nil {
		if m.Asm.GroupID == nil {
			add(fieldf("asm.group_id"), "message.asm.group_id", "The asm.group_id is required when asm is present.")
		}
		if len(m.Asm.GroupsToDisplay) > 25 {
			add(fieldf("asm.groups_to_display"), "message.asm.groups_to_display", "The asm.groups_to_display may have at most 25 groups.")
		}
	}
	if m.IPPoolName != nil && (len(*m.IPPoolName) < 2 || len(*m.IPPoolName) > 64) {
		add(fieldf("ip_pool_name"), "message.ip_pool_name", "The ip_pool_name must be between 2 and 64 characters.")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &m, nil
}

// sgDecodeError turns a JSON decoding failure into SendGrid's 400 body,
// naming the offending field where the decoder knows it.
func sgDecodeError(err error) sgError {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return sgError{Message: fmt.Sprintf("Invalid type. Expected: %s, given: %s.", typeErr.Type, typeErr.Value), Field: &typeErr.Field}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f, _ := strconv.Unquote(name)
		return sgError{Message: "Unknown field.", Field: &f}
	}
	return sgError{Message: "Bad Request"}
}

func sgHeaderErrors(h map[string]string, field string) []sgError {
	var errs []sgError
	for _, k := range sortedKeys(h) {
		for _, r := range sgReservedHeaders {
			if strings.EqualFold(k, r) {
				errs = append(errs, sgError{
					Message: fmt.Sprintf("You may not overwrite the following headers: %s. You tried to set %s.", strings.Join(sgReservedHeaders, ", "), k),
					Field:   fieldf("%s", field), Help: sgHelp + "#message.headers",
				})
			}
		}
	}
	return errs
}

func sgMapSize(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	return n
}

func sgSendAtOK(at int64, now time.Time) bool {
	return !time.Unix(at, 0).After(now.Add(72 * time.Hour))
}

// deliveries expands a mail send as SendGrid does: each personalization
// is one email to all its to, cc and bcc; its substitutions replace their
// keys, as plain strings, in the subject and the content.
func (m *sgMail) deliveries() []Delivery {
	var out []Delivery
	for _, p := range m.Personalizations {
		subject := ""
		if m.Subject != nil {
			subject = *m.Subject
		}
		if p.Subject != nil {
			subject = *p.Subject
		}
		sub := substituter(p.Substitutions)
		text, html := "", ""
		for _, c := range m.Content {
			switch strings.ToLower(c.Type) {
			case "text/plain":
				text = sub.Replace(c.Value)
			case "text/html":
				html = sub.Replace(c.Value)
			}
		}
		from := m.From.Email
		if p.From != nil {
			from = p.From.Email
		}
		tags := append(append([]string(nil), m.Categories...), p.Categories...)
		for _, list := range []struct {
			field string
			addrs []sgAddress
		}{{"to", p.To}, {"cc", p.Cc}, {"bcc", p.Bcc}} {
			for _, a := range list.addrs {
				out = append(out, Delivery{
					ESP: SendGrid, Recipient: a.Email, Field: list.field, From: from,
					Subject: sub.Replace(subject), Text: text, HTML: html,
					Headers:     merge(m.Headers, p.Headers),
					Tracking:    m.tracking(),
					Tags:        tags,
					Args:        merge(m.CustomArgs, p.CustomArgs),
					Attachments: len(m.Attachments),
				})
			}
		}
	}
	return out
}

func (m *sgMail) tracking() Tracking {
	var t Tracking
	ts := m.TrackingSettings
	if ts == nil {
		return t
	}
	if ts.OpenTracking != nil {
		t.Opens = boolString(ts.OpenTracking.Enable)
	}
	if ts.ClickTracking != nil {
		t.Clicks = boolString(ts.ClickTracking.Enable)
		t.ClicksText = boolString(ts.ClickTracking.EnableText)
	}
	return t
}

// serveSendGrid answers as SendGrid: 202 with an empty body and the
// X-Message-Id header, or 400 with every error found.
func (f *Fake) serveSendGrid(w http.ResponseWriter, _ *http.Request, c call) []Delivery {
	m, errs := parseSendGrid(c.body, c.now)
	if errs != nil {
		writeSendGridErrors(w, http.StatusBadRequest, errs...)
		return nil
	}
	id := fmt.Sprintf("fake-sg-%06d", f.nextID())
	w.Header().Set("X-Message-Id", id)
	w.WriteHeader(http.StatusAccepted)
	return stamp(m.deliveries(), c, id)
}

// validBareAddress accepts an addr-spec alone, the form SendGrid's
// "email" fields take (format: email).
func validBareAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

// substituter replaces every key of subs by its value in one pass,
// longer keys first so that "-name-" does not eat "-name-full-".
func substituter(subs map[string]string) *strings.Replacer {
	keys := sortedKeys(subs)
	sort.SliceStable(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	var pairs []string
	for _, k := range keys {
		if k != "" {
			pairs = append(pairs, k, subs[k])
		}
	}
	return strings.NewReplacer(pairs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// merge copies base then over into a new map; nil when both are empty.
func merge(base, over map[string]string) map[string]string {
	if len(base)+len(over) == 0 {
		return nil
	}
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

func boolString(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}
