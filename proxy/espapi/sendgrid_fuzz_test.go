package espapi

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzSendGridParse: any body is either refused with a SendGrid-format
// error or read into recipients whose upstream body is valid JSON naming
// each recipient once.
func FuzzSendGridParse(f *testing.F) {
	f.Add([]byte(`{"personalizations":[{"to":[{"email":"a@example.org"}],"cc":[{"email":"b@example.org"}],"substitutions":{"-n-":"A"}}],"from":{"email":"s@example.com"},"subject":"s","content":[{"type":"text/plain","value":"hi -n-"},{"type":"text/html","value":"<p>hi</p>"}]}`))
	f.Add([]byte(`{"personalizations":[{"to":[{"email":"a@example.org"}]}],"template_id":"d-1"}`))
	f.Add([]byte(`{"personalizations":[{"to":[{"email":"a@@example.org"}]}],"content":[{"type":"text/html","value":"x"}]}`))
	f.Add([]byte(`{"personalizations":null,"content":7}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseSendGrid(body)
		if err == nil {
			_, err = sendgridContent(req.content)
		}
		var rcpts []recipient
		if err == nil {
			rcpts, err = sendgridRecipients(req)
		}
		if err != nil {
			var e *apiError
			if !errors.As(err, &e) || e.status != 400 || e.msg == "" {
				t.Fatalf("refusal %v is not a precise 400", err)
			}
			return
		}
		copies := make([]recipientCopy, len(rcpts))
		for i, r := range rcpts {
			copies[i] = recipientCopy{rcpt: r}
		}
		out := sendgridBody(req, copies, func(int) (content, map[string]string) { return content{text: "x", hasText: true}, nil })
		var back struct {
			Personalizations []struct {
				To []sgAddress `json:"to"`
			} `json:"personalizations"`
		}
		if err := json.Unmarshal(out, &back); err != nil || len(back.Personalizations) != len(rcpts) {
			t.Fatalf("upstream body %s: %v", out, err)
		}
		for i, p := range back.Personalizations {
			if len(p.To) != 1 || p.To[0].Email != rcpts[i].addr {
				t.Fatalf("personalization %d is %+v, want %q alone", i, p.To, rcpts[i].addr)
			}
		}
	})
}
