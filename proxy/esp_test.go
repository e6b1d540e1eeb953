package proxy

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestESPProfilesTurnTrackingOff(t *testing.T) {
	want := map[string][]string{
		"sendgrid":  {"X-SMTPAPI"},
		"mailgun":   {"X-Mailgun-Track-Opens", "X-Mailgun-Track-Clicks"},
		"postmark":  {"X-PM-TrackOpens", "X-PM-TrackLinks"},
		"mailjet":   {"X-Mailjet-TrackOpen", "X-Mailjet-TrackClick"},
		"sparkpost": {"X-MSYS-API"},
		"mandrill":  {"X-MC-Track"},
		"ses":       {"X-SES-CONFIGURATION-SET"},
	}
	for esp, headers := range want {
		h, body, _ := splitMessage([]byte("From: a@b.example\r\nX-PM-TrackOpens: true\r\n\r\nx"))
		if err := applyESP(&h, ESP(esp), ESPOptions{SESConfigurationSet: "no-tracking"}); err != nil {
			t.Fatalf("%s: %v", esp, err)
		}
		out := string(h.bytes(body))
		for _, name := range headers {
			if !strings.Contains(out, name+":") {
				t.Errorf("%s: no %s in\n%s", esp, name, out)
			}
		}
		if esp == "postmark" && strings.Contains(out, "TrackOpens: true") {
			t.Errorf("postmark: sender's TrackOpens: true kept")
		}
	}
	if err := CheckESP("ses", ESPOptions{}); err == nil {
		t.Error("ses without configuration set accepted")
	}
	if err := CheckESP("nope", ESPOptions{}); err == nil {
		t.Error("unknown ESP accepted")
	}
}

func TestSendGridKeepsSenderSMTPAPI(t *testing.T) {
	h, body, _ := splitMessage([]byte("From: a@b.example\r\nX-SMTPAPI: {\"category\":[\"spring\"],\"filters\":{\"opentrack\":{\"settings\":{\"enable\":1}}}}\r\n\r\nx"))
	if err := applyESP(&h, "sendgrid", ESPOptions{}); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Category []string
		Filters  map[string]struct {
			Settings map[string]int
		}
	}
	if err := json.Unmarshal([]byte(h.get("X-SMTPAPI")), &v); err != nil {
		t.Fatalf("X-SMTPAPI not JSON: %v\n%s", err, h.bytes(body))
	}
	if len(v.Category) != 1 || v.Filters["opentrack"].Settings["enable"] != 0 || v.Filters["clicktrack"].Settings["enable"] != 0 {
		t.Errorf("merged X-SMTPAPI = %+v", v)
	}
}
