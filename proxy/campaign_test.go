package proxy

import (
	"errors"
	"strings"
	"testing"
)

func TestCampaignOf(t *testing.T) {
	cases := []struct{ header, want string }{
		{"X-Pixelgate-Campaign: spring-sale\r\nX-Campaign-Id: other\r\n", "spring-sale"},
		{"X-Campaign-Id: c-42\r\nList-Id: <news.example.com>\r\n", "c-42"},
		{"X-Mailgun-Campaign-Id: mg1\r\n", "mg1"},
		{"List-Id: Newsletter <news.example.com>\r\n", "Newsletter <news.example.com"},
	}
	for _, c := range cases {
		h, _, err := splitMessage([]byte("From: a@b.example\r\nSubject: s\r\n" + c.header + "\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := campaignOf(&h, DefaultCampaignHeader); id != c.want {
			t.Errorf("%q: id %q, want %q", c.header, id, c.want)
		}
	}
	h1, _, _ := splitMessage([]byte("From: a@b.example\r\nSubject: Sale\r\n\r\n"))
	h2, _, _ := splitMessage([]byte("From: a@b.example\r\nSubject: Sale\r\n\r\n"))
	h3, _, _ := splitMessage([]byte("From: a@b.example\r\nSubject: Other\r\n\r\n"))
	id1, _ := campaignOf(&h1, DefaultCampaignHeader)
	id2, _ := campaignOf(&h2, DefaultCampaignHeader)
	id3, _ := campaignOf(&h3, DefaultCampaignHeader)
	if id1 != id2 || id1 == id3 || !strings.HasPrefix(id1, "h-") {
		t.Errorf("hash fallback: %q %q %q", id1, id2, id3)
	}
	// An address in a campaign header never becomes the id (R6).
	h4, _, _ := splitMessage([]byte("X-Campaign-Id: bob@example.com\r\n\r\n"))
	if id, _ := campaignOf(&h4, DefaultCampaignHeader); strings.Contains(id, "@") {
		t.Errorf("address kept in campaign id %q", id)
	}
}

// A whole message from an API call: the caller's own campaign fields come
// first, then the message's header fields as for SMTP mail.
func TestMessageCampaign(t *testing.T) {
	r := &Relay{cfg: Config{CampaignHeader: DefaultCampaignHeader}}
	msg := []byte("From: a@b.example\r\nSubject: s\r\nX-Pixelgate-Campaign: from-header\r\nX-Pixelgate-Campaign-Name: Spring\r\n\r\nbody\r\n")
	for _, c := range []struct {
		first []string
		want  string
	}{{nil, "from-header"}, {[]string{"", " "}, "from-header"}, {[]string{"", "from-api"}, "from-api"}} {
		id, name, err := r.MessageCampaign(msg, c.first...)
		if err != nil || id != c.want || name != "Spring" {
			t.Errorf("first %q: %q %q %v, want %q", c.first, id, name, err, c.want)
		}
	}
	if _, _, err := r.MessageCampaign([]byte(" folded first\r\n\r\n")); !errors.Is(err, ErrUnparseable) {
		t.Errorf("unreadable header: %v", err)
	}
}

func TestFinishForESP(t *testing.T) {
	in := "From: a@b.example\r\nX-Pixelgate-Campaign: c\r\nx-pixelgate-language: fr\r\nX-Mailgun-Track: yes\r\n\r\nX-Pixelgate-Campaign: in the body stays\r\n"
	out, err := FinishForESP([]byte(in), "mailgun")
	if err != nil {
		t.Fatal(err)
	}
	h, body, err := splitMessage(out)
	if err != nil {
		t.Fatal(err)
	}
	if h.get("X-Pixelgate-Campaign") != "" || h.get("X-Pixelgate-Language") != "" || h.get("X-Mailgun-Track") != "no" ||
		h.get("X-Mailgun-Track-Opens") != "no" || h.get("From") != "a@b.example" || string(body) != "X-Pixelgate-Campaign: in the body stays\r\n" {
		t.Errorf("finished: %q", out)
	}
}
