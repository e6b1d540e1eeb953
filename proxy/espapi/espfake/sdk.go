package espfake

import (
	"context"
	"testing"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"
)

// SendGridCall posts body to {host}/v3/mail/send with the official
// sendgrid-go SDK, as a sender's code does once its host points at host
// (the fake itself, or pixelgate's /sendgrid front), with header added to
// the SDK's own.
func SendGridCall(tb testing.TB, ctx context.Context, host, key string, body []byte, header map[string]string) *rest.Response {
	tb.Helper()
	req := sendgrid.GetRequest(key, "/v3/mail/send", host)
	req.Method = rest.Post
	req.Body = body
	for k, v := range header {
		req.Headers[k] = v
	}
	res, err := sendgrid.MakeRequestWithContext(ctx, req)
	if err != nil {
		tb.Fatalf("sendgrid request: %v", err)
	}
	return res
}
