package espfake

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// ESP names the API a request was made to.
type ESP string

// The three ESP APIs the fake serves.
const (
	SendGrid ESP = "sendgrid"
	Mailgun  ESP = "mailgun"
	Postmark ESP = "postmark"
)

// Credentials a Fake expects when Options leaves them empty.
const (
	DefaultSendGridKey   = "SG.fake-sendgrid-key"
	DefaultMailgunKey    = "fake-mailgun-key"
	DefaultPostmarkToken = "fake-postmark-server-token"
)

// maxBody bounds a request body. SendGrid takes up to 30 MB, Mailgun 25 MB
// and Postmark 10 MB per message; one bound above all three keeps a runaway
// client from filling the test's memory.
const maxBody = 32 << 20

// Options configure a Fake. The zero value works.
type Options struct {
	// SendGridKey is the API key expected after "Authorization: Bearer ".
	SendGridKey string
	// MailgunKey is the HTTP Basic password expected with the user "api".
	MailgunKey string
	// MailgunDomain, when set, is the only sending domain; others get
	// Mailgun's 404 "Domain not found".
	MailgunDomain string
	// PostmarkToken is the expected X-Postmark-Server-Token.
	PostmarkToken string
	// PostmarkSenders, when set, are the confirmed sender signatures
	// (addresses, or "@domain" for a whole domain); any other From gets
	// Postmark's ErrorCode 400.
	PostmarkSenders []string
	// Now is the fake's clock (SendGrid send_at bound, Postmark
	// SubmittedAt, Mailgun ids). Default time.Now.
	Now func() time.Time
}

// Request is one HTTP request the fake received, as it arrived.
type Request struct {
	ESP    ESP
	Method string
	Path   string
	Header http.Header
	// Body is the body as sent (still gzip-compressed when it was).
	Body []byte
	// Credential is the key or token the request carried ("" when none):
	// SendGrid's Bearer key, Mailgun's Basic password, Postmark's server
	// token.
	Credential string
	// Status is the HTTP status the fake answered.
	Status int
}

// Tracking holds an ESP's tracking switches exactly as the request set
// them; "" means the request left the switch out, so the ESP would apply
// the account's default.
type Tracking struct {
	// Opens: SendGrid tracking_settings.open_tracking.enable ("true" or
	// "false"), Mailgun o:tracking-opens, Postmark TrackOpens.
	Opens string
	// Clicks: SendGrid click_tracking.enable, Mailgun o:tracking-clicks,
	// Postmark TrackLinks.
	Clicks string
	// ClicksText is SendGrid's click_tracking.enable_text.
	ClicksText string
	// All is Mailgun's o:tracking, which switches opens and clicks at once.
	All string
}

// Delivery is one message as one recipient would receive it, after the
// ESP's own per-recipient expansion and substitution.
type Delivery struct {
	ESP ESP
	// RequestIndex is the index in Requests() of the request that sent it.
	RequestIndex int
	// MessageID is the id the fake answered for the message.
	MessageID string
	// Recipient is the bare address; Field says how it was addressed
	// ("to", "cc" or "bcc").
	Recipient string
	Field     string
	// From is the bare sender address.
	From    string
	Subject string
	HTML    string
	Text    string
	// Headers are the custom headers the request set (SendGrid headers,
	// Mailgun h:*, Postmark Headers, or the header of a Mailgun MIME
	// upload).
	Headers  map[string]string
	Tracking Tracking
	// Tags are SendGrid categories, Mailgun o:tag values, Postmark's Tag.
	Tags []string
	// Args are SendGrid custom_args, Mailgun v:* variables, Postmark
	// Metadata.
	Args map[string]string
	// Attachments counts the attached files.
	Attachments int
	// Credential is the credential of the request that sent it.
	Credential string
}

// Fake is a running fake of the three ESP APIs on 127.0.0.1.
type Fake struct {
	srv  *httptest.Server
	opts Options

	mu         sync.Mutex
	requests   []Request
	deliveries []Delivery
	failLeft   int
	failStatus int
	delay      time.Duration
	inactive   map[string]bool
	seq        int
}

// New starts a fake on a free 127.0.0.1 port (httptest binds loopback)
// and stops it when the test ends.
func New(tb testing.TB, opts Options) *Fake {
	tb.Helper()
	if opts.SendGridKey == "" {
		opts.SendGridKey = DefaultSendGridKey
	}
	if opts.MailgunKey == "" {
		opts.MailgunKey = DefaultMailgunKey
	}
	if opts.PostmarkToken == "" {
		opts.PostmarkToken = DefaultPostmarkToken
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Fake{opts: opts, inactive: map[string]bool{}}
	mux := http.NewServeMux()
	mux.Handle("POST /v3/mail/send", f.handle(SendGrid, f.serveSendGrid))
	mux.Handle("POST /v3/{domain}/messages", f.handle(Mailgun, f.serveMailgun(false)))
	mux.Handle("POST /v3/{domain}/messages.mime", f.handle(Mailgun, f.serveMailgun(true)))
	mux.Handle("POST /email", f.handle(Postmark, f.servePostmark(false)))
	mux.Handle("POST /email/batch", f.handle(Postmark, f.servePostmark(true)))
	f.srv = httptest.NewServer(mux)
	tb.Cleanup(f.srv.Close)
	return f
}

// URL is the base URL to point an SDK or pixelgate's ESP front at, with
// no trailing slash: SendGrid posts to URL()+"/v3/mail/send", Mailgun's
// API base is URL()+"/v3", Postmark's BaseURL is URL().
func (f *Fake) URL() string { return f.srv.URL }

// Close stops the server (New also arranges it at the end of the test).
func (f *Fake) Close() { f.srv.Close() }

// Deliveries returns a copy of what each recipient received so far.
func (f *Fake) Deliveries() []Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Delivery(nil), f.deliveries...)
}

// Requests returns a copy of every request received so far.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests...)
}

// Reset forgets requests, deliveries and pending failures, delays and
// inactive recipients.
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests, f.deliveries = nil, nil
	f.failLeft, f.failStatus, f.delay = 0, 0, 0
	f.inactive = map[string]bool{}
}

// FailNext answers the next n requests with status and the ESP's own
// error body, delivering nothing.
func (f *Fake) FailNext(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failLeft, f.failStatus = n, status
}

// Delay makes every following answer wait d (0 turns it off), for the
// caller's timeouts. A request whose client gives up stops waiting.
func (f *Fake) Delay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// PostmarkInactive marks addresses as Postmark inactive recipients (hard
// bounce, spam complaint or manual suppression): a message to one of them
// is refused with ErrorCode 406, as a 422 on /email and as that element's
// ErrorCode in a /email/batch answer that is still 200.
func (f *Fake) PostmarkInactive(addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range addrs {
		f.inactive[strings.ToLower(a)] = true
	}
}

// call is one request being served, handed to the ESP's handler.
type call struct {
	index int
	body  []byte // decompressed
	cred  string
	now   time.Time
}

// statusWriter remembers the status written, for Requests().
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// handle records the request, applies injected delays and failures and
// the ESP's authentication, then hands over to serve.
func (f *Fake) handle(esp ESP, serve func(w http.ResponseWriter, r *http.Request, c call) []Delivery) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: rw}
		raw, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		cred, credOK := f.credential(esp, r)

		f.mu.Lock()
		idx := len(f.requests)
		f.requests = append(f.requests, Request{
			ESP: esp, Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(),
			Body: raw, Credential: cred,
		})
		fail := 0
		if f.failLeft > 0 {
			f.failLeft--
			fail = f.failStatus
		}
		delay := f.delay
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			f.requests[idx].Status = w.status
			f.mu.Unlock()
		}()

		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if fail != 0 {
			writeESPError(w, esp, fail, http.StatusText(fail))
			return
		}
		var tooBig *http.MaxBytesError
		if errors.As(readErr, &tooBig) {
			writeESPError(w, esp, http.StatusRequestEntityTooLarge, "request body too large")
			return
		} else if readErr != nil {
			writeESPError(w, esp, http.StatusBadRequest, "reading the request body: "+readErr.Error())
			return
		}
		if !credOK {
			f.refuseCredential(w, esp, cred)
			return
		}
		body := raw
		// SendGrid documents gzip request bodies ("Mail Body Compression"
		// in its mail send reference), Mailgun accepts them too.
		if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err == nil {
				body, err = io.ReadAll(io.LimitReader(zr, maxBody))
			}
			if err != nil {
				writeESPError(w, esp, http.StatusBadRequest, "the gzip request body does not decompress: "+err.Error())
				return
			}
		}
		ds := serve(w, r, call{index: idx, body: body, cred: cred, now: f.opts.Now()})
		if len(ds) == 0 {
			return
		}
		f.mu.Lock()
		f.deliveries = append(f.deliveries, ds...)
		f.mu.Unlock()
	})
}

// credential extracts the credential as each ESP reads it and says
// whether it is the expected one.
func (f *Fake) credential(esp ESP, r *http.Request) (string, bool) {
	switch esp {
	case SendGrid:
		// SendGrid: "Authorization: Bearer <API key>" (sendgrid-oai
		// spec/components/securitySchemes.json, oai.json's default
		// "Bearer <<YOUR_API_KEY_HERE>>").
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return key, ok && key == f.opts.SendGridKey
	case Mailgun:
		// Mailgun: HTTP Basic, user "api", password the API key
		// (documentation.mailgun.com, "send http": curl --user 'api:KEY').
		user, pass, ok := r.BasicAuth()
		return pass, ok && user == "api" && pass == f.opts.MailgunKey
	default:
		// Postmark: X-Postmark-Server-Token
		// (postmarkapp.com/developer/api/overview#authentication).
		tok := r.Header.Get("X-Postmark-Server-Token")
		return tok, tok == f.opts.PostmarkToken
	}
}

// refuseCredential answers a missing or wrong credential as each ESP does.
func (f *Fake) refuseCredential(w http.ResponseWriter, esp ESP, cred string) {
	switch esp {
	case SendGrid:
		// SendGrid answers 401 with its global error body; the message for
		// a wrong key is the one its support article "4XX API Errors"
		// lists.
		msg := "The provided authorization grant is invalid, expired, or revoked"
		if cred == "" {
			msg = "authorization required"
		}
		writeSendGridErrors(w, http.StatusUnauthorized, sgError{Message: msg})
	case Mailgun:
		// Mailgun answers a bad key with 401 and the plain text body
		// "Forbidden", not JSON (mailgun/mailgun.js#393, anymail#237).
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "Forbidden")
	default:
		// Postmark: HTTP 401 with ErrorCode 10 "Bad or missing API token"
		// (postmarkapp.com/developer/api/overview#error-codes).
		msg := "The Server Token you provided in the X-Postmark-Server-Token request header was invalid. Please verify that you are using a valid token."
		if cred == "" {
			msg = "No Account or Server API tokens were supplied in the HTTP headers. Please add a header for either X-Postmark-Server-Token or X-Postmark-Account-Token."
		}
		writePostmarkError(w, http.StatusUnauthorized, 10, msg)
	}
}

// writeESPError writes an injected or transport-level failure in the
// ESP's error format.
func writeESPError(w http.ResponseWriter, esp ESP, status int, msg string) {
	switch esp {
	case SendGrid:
		writeSendGridErrors(w, status, sgError{Message: msg})
	case Mailgun:
		writeMailgunError(w, status, msg)
	default:
		// Postmark's documented codes for the statuses a test injects.
		code := 0
		switch status {
		case http.StatusUnauthorized:
			code = 10
		case http.StatusUnprocessableEntity:
			code = 300
		case http.StatusTooManyRequests:
			code = 429
		case http.StatusServiceUnavailable:
			code = 100 // Maintenance
		}
		writePostmarkError(w, status, code, msg)
	}
}

// nextID numbers the fake's message ids: deterministic, so no randomness
// needs injecting, and unique within a Fake.
func (f *Fake) nextID() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	return f.seq
}

// stamp fills the per-request fields of the deliveries of one message.
func stamp(ds []Delivery, c call, id string) []Delivery {
	for i := range ds {
		ds[i].RequestIndex = c.index
		ds[i].Credential = c.cred
		ds[i].MessageID = id
	}
	return ds
}

func fieldf(format string, a ...any) *string {
	s := fmt.Sprintf(format, a...)
	return &s
}
