package proxy

import (
	"bytes"
	"strings"
	"testing"
)

func TestSplitMessageRoundTrip(t *testing.T) {
	msg := "From: a@example.com\r\nSubject: hello\r\n\tworld\r\nX-Pixelgate-Campaign: spring\r\n\r\nbody\r\n"
	h, body, err := splitMessage([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if got := h.get("subject"); got != "hello\tworld" {
		t.Errorf("unfolded subject = %q", got)
	}
	if string(body) != "body\r\n" {
		t.Errorf("body = %q", body)
	}
	if got := string(h.bytes(body)); got != msg {
		t.Errorf("round trip changed the message:\n%q\n%q", got, msg)
	}
	n := h.removeIf(IsInternalHeader)
	if n != 1 || strings.Contains(string(h.bytes(body)), "Pixelgate") {
		t.Errorf("internal header not removed (%d)", n)
	}
	h.prepend("Received", "from x")
	if !strings.HasPrefix(string(h.bytes(body)), "Received: from x\r\nFrom:") {
		t.Errorf("prepend: %q", h.bytes(body))
	}
}

func TestSplitMessageRefusesBrokenHeaders(t *testing.T) {
	for _, msg := range []string{" folded first\r\n\r\n", "no colon here\r\n\r\nbody"} {
		if _, _, err := splitMessage([]byte(msg)); err == nil {
			t.Errorf("%q: accepted", msg)
		}
	}
	// Header-only message is valid (RFC 5322 §3.5).
	h, body, err := splitMessage([]byte("Subject: x\r\n"))
	if err != nil || len(body) != 0 || h.get("Subject") != "x" {
		t.Errorf("header-only: %v %q", err, body)
	}
}

func FuzzSplitMessage(f *testing.F) {
	f.Add([]byte("From: a@b\r\nSubject: s\r\n\r\nbody\r\n"))
	f.Add([]byte("A: b\r\n c\r\n\r\n"))
	f.Add([]byte("X:\r\n\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, body, err := splitMessage(msg)
		if err != nil {
			return
		}
		out := h.bytes(body)
		// Re-splitting what we wrote gives the same fields and body.
		h2, body2, err := splitMessage(out)
		if err != nil {
			t.Fatalf("re-split failed: %v", err)
		}
		if len(h2.fields) != len(h.fields) || !bytes.Equal(body, body2) {
			t.Fatalf("round trip changed structure")
		}
	})
}

// FuzzHeaderEdits runs everything the relay does to a sender's header on
// arbitrary input: campaign id, ESP JSON merges, DKIM tag parsing and the
// broken-signature check. None may panic, and the result must stay a
// well-formed header.
func FuzzHeaderEdits(f *testing.F) {
	f.Add([]byte("From: a@b.example\r\nX-SMTPAPI: {\"filters\":1}\r\nDKIM-Signature: v=1; d=b.example; h=from:subject; bh=x; b=y\r\n\r\nbody\r\n"))
	f.Add([]byte("X-MSYS-API: [1,2]\r\nList-Id: <\xff\xfe@x>\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, body, err := splitMessage(msg)
		if err != nil {
			return
		}
		orig, _, _ := splitMessage(msg)
		id, _ := campaignOf(&h, DefaultCampaignHeader)
		if id == "" || len(id) > maxCampaignLen || strings.Contains(id, "@") {
			t.Fatalf("campaign id %q", id)
		}
		for _, esp := range []ESP{"sendgrid", "sparkpost", "mailgun"} {
			if err := applyESP(&h, esp, ESPOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		parseTags(h.get("DKIM-Signature"))
		if _, err := (*DKIMKeys)(nil).fixDKIM(orig, body, &h, append(bytes.Clone(body), 'x')); err != nil {
			t.Fatal(err)
		}
		if _, _, err := splitMessage(h.bytes(body)); err != nil {
			t.Fatalf("edited header no longer parses: %v", err)
		}
	})
}
