package espapi

import (
	"encoding/json"
	"net/mail"
	"strings"
	"testing"
)

// FuzzParsePostmark feeds the /email and /email/batch parsers untrusted
// bodies. What they accept must be what pixelgate can vouch for: a body
// to rewrite, 1 to 50 recipients each written back as an address Postmark
// reads as the same one, no stored template, no X-Pixelgate-* header
// left, and elements that go out as JSON with Postmark's tracking off.
func FuzzParsePostmark(f *testing.F) {
	f.Add(false, []byte(`{"From":"a@shop.example","To":"\"Ann, A.\" <ann@example.org>, bob@example.org","Cc":"c@example.org","HtmlBody":"<p>x</p>","TextBody":"x","Headers":[{"Name":"X-Pixelgate-Campaign","Value":"c"}],"TrackOpens":true,"TrackLinks":"HtmlOnly","Attachments":[{"Name":"a","Content":"AAE=","ContentType":"image/png","ContentID":"cid:a"}]}`))
	f.Add(true, []byte(`[{"To":"a@example.org","textbody":"x"},{"To":"=?utf-8?q?J=C3=B6rg?= <j@example.org>","HtmlBody":"<img src=x>","Metadata":{"campaign":"m"}}]`))
	f.Add(false, []byte(`{"To":"a@example.org","HtmlBody":"x","TemplateAlias":"t"}`))
	f.Add(false, []byte(`{"To":"a@example.org","HtmlBody":"x","htmlbody":"y"}`))
	f.Fuzz(func(t *testing.T, batch bool, body []byte) {
		var msgs []*pmMessage
		if batch {
			var err error
			if msgs, err = parsePostmarkBatch(body); err != nil {
				return
			}
		} else {
			m, err := parsePostmarkEmail(body)
			if err != nil {
				return
			}
			msgs = []*pmMessage{m}
		}
		for _, m := range msgs {
			if !m.base.hasHTML && !m.base.hasText {
				t.Fatal("accepted a message with no body to rewrite")
			}
			if n := len(m.rcpts); n < 1 || n > postmarkMaxRecipients {
				t.Fatalf("accepted %d recipients", n)
			}
			for k := range m.raw {
				if strings.HasPrefix(strings.ToLower(k), "template") && string(m.raw[k]) != "null" {
					t.Fatalf("accepted a stored template field %q", k)
				}
			}
			var hs []map[string]json.RawMessage
			_ = json.Unmarshal(m.raw["Headers"], &hs)
			for _, h := range hs {
				for k, v := range h {
					if strings.EqualFold(k, "Name") && strings.HasPrefix(strings.ToLower(strings.TrimSpace(strings.Trim(string(v), `"`))), "x-pixelgate-") {
						t.Fatalf("X-Pixelgate header left: %s", v)
					}
				}
			}
			for _, rc := range m.rcpts {
				a, err := mail.ParseAddress(pmAddress(rc))
				if err != nil || a.Address != rc.addr || a.Name != rc.name {
					t.Fatalf("recipient %q <%s> written as %q, read back as %v, %v", rc.name, rc.addr, pmAddress(rc), a, err)
				}
				cp := recipientCopy{rcpt: rc, content: m.base}
				var el map[string]json.RawMessage
				if err := json.Unmarshal(mustJSON(m.element(cp)), &el); err != nil {
					t.Fatalf("element is not JSON: %v", err)
				}
				if string(el["TrackOpens"]) != "false" || string(el["TrackLinks"]) != `"None"` || el["Cc"] != nil || el["Bcc"] != nil {
					t.Fatalf("element: %v", el)
				}
			}
		}
	})
}
