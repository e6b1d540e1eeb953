package espapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// apiError is pixelgate's own refusal of a call, written in the ESP's
// error format so the ESP's SDK surfaces it as it would the ESP's.
type apiError struct {
	status int
	msg    string
	// field names the request field at fault (SendGrid's "field").
	field string
	// postmarkCode is Postmark's ErrorCode (0: chosen from status).
	postmarkCode int
	retryAfter   int
	// authChallenge adds Proxy-Authenticate (RFC 9110 §11.7.1).
	authChallenge bool
	// reason is the short outcome for the call's log line and metrics.
	reason string
}

func (e *apiError) Error() string { return e.msg }

// badRequest is a call pixelgate cannot or will not pass on as sent.
func badRequest(reason, field, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, field: field, msg: "pixelgate: " + msg, reason: reason}
}

// Postmark's documented API error codes (postmarkapp.com/developer/api/overview#error-codes).
const (
	postmarkInvalidEmailRequest = 300
	postmarkInvalidJSON         = 402
	postmarkServerError         = 500 // not an ErrorCode of Postmark's: ours for pixelgate faults
)

// writeError answers with e in esp's error format. Errors that are not
// an *apiError are pixelgate's own faults: 500 (SendGrid, Mailgun) or
// Postmark's 500, never a detail that could quote content or a key.
func writeError(w http.ResponseWriter, esp ESP, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		e = &apiError{status: http.StatusInternalServerError, msg: "pixelgate: internal error; nothing was sent", reason: "internal-error"}
	}
	h := w.Header()
	if e.authChallenge {
		h.Set("Proxy-Authenticate", `Basic realm="pixelgate ESP API", charset="UTF-8"`)
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	var body any
	status := e.status
	switch esp {
	case SendGrid:
		// docs.sendgrid.com/api-reference/mail-send/errors: every error is
		// {"errors":[{"message","field","help"}]}.
		item := map[string]any{"message": e.msg, "field": nil, "help": nil}
		if e.field != "" {
			item["field"] = e.field
		}
		body = map[string]any{"errors": []any{item}}
	case Mailgun:
		// Mailgun answers {"message": "..."}.
		body = map[string]any{"message": e.msg}
	case Postmark:
		code := e.postmarkCode
		if code == 0 {
			code = postmarkInvalidEmailRequest
			if status >= 500 {
				code = postmarkServerError
			}
		}
		// Postmark answers request errors with 422 and an ErrorCode
		// (postmarkapp.com/developer/api/overview#response-codes).
		if status == http.StatusBadRequest {
			status = http.StatusUnprocessableEntity
		}
		body = map[string]any{"ErrorCode": code, "Message": e.msg}
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
