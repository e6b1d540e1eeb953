package proxy

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/mailrewrite/rules"
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

// TestESPProfileNamesItsHeaders: a profile's trackingOff list, which the
// documentation checks below rely on, is exactly what its apply sets.
func TestESPProfileNamesItsHeaders(t *testing.T) {
	for _, name := range ESPs() {
		h, _, err := splitMessage([]byte("From: a@b.example\r\n\r\nx"))
		if err != nil {
			t.Fatal(err)
		}
		if err := applyESP(&h, ESP(name), ESPOptions{SESConfigurationSet: "no-tracking"}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var set []string
		for _, f := range h.fields[1:] {
			set = append(set, f.name())
		}
		if !slices.Equal(set, espProfiles[name].trackingOff) {
			t.Errorf("%s sets %q, its profile names %q", name, set, espProfiles[name].trackingOff)
		}
	}
}

// TestESPVendorsAreTrackerRules: each ESP that tracks has the rules that
// take its pixels and redirects out of a message (R1) under the vendor
// names its profile gives.
func TestESPVendorsAreTrackerRules(t *testing.T) {
	set, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	vendors := set.Vendors()
	for _, name := range ESPs() {
		p := espProfiles[name]
		if len(p.vendors) == 0 && len(p.trackingOff) > 0 {
			t.Errorf("%s turns tracking off but names no tracker rule vendor", name)
		}
		for _, v := range p.vendors {
			if !slices.Contains(vendors, v) {
				t.Errorf("%s: no tracker rule of vendor %q in the embedded rules", name, v)
			}
		}
	}
}

// TestESPCampaignHeaders: the campaign header of every profile names a
// message's campaign, after the configured header and before List-Id.
func TestESPCampaignHeaders(t *testing.T) {
	n := 0
	for _, name := range ESPs() {
		c := espProfiles[name].campaignHeader
		if c == "" {
			continue
		}
		n++
		h, _, err := splitMessage([]byte("From: a@b.example\r\nList-Id: <list.example>\r\n" + c + ": spring-" + name + "\r\n\r\nx"))
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := campaignOf(&h, DefaultCampaignHeader); id != "spring-"+name {
			t.Errorf("%s: campaign %q from %s, want spring-%s", name, id, c, name)
		}
	}
	if n == 0 {
		t.Error("no profile names a campaign header")
	}
}

// TestESPDocsListTheProfiles: the operator guide's ESP table and the
// README's --esp list name exactly the profiles, and the table names each
// header a profile adds.
func TestESPDocsListTheProfiles(t *testing.T) {
	guide, err := os.ReadFile("../docs/operator-guide.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(guide), "| `--esp` | headers added |\n|---|---|\n")
	if !ok {
		t.Fatal("operator guide: no ESP profile table")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	var inGuide []string
	for _, row := range strings.Split(table, "\n") {
		name, cell, ok := strings.Cut(strings.TrimPrefix(row, "| `"), "` | ")
		if !ok {
			t.Fatalf("operator guide: ESP table row %q", row)
		}
		inGuide = append(inGuide, name)
		p, known := espProfiles[name]
		if !known {
			continue
		}
		for _, hdr := range p.trackingOff {
			if !strings.Contains(cell, "`"+hdr) {
				t.Errorf("operator guide: %s row does not name %s", name, hdr)
			}
		}
	}
	slices.Sort(inGuide)
	if !slices.Equal(inGuide, ESPs()) {
		t.Errorf("operator guide ESP table lists %q, the profiles are %q", inGuide, ESPs())
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(string(readme), "`--esp ")
	if !ok {
		t.Fatal("README: no --esp list")
	}
	list, _, _ = strings.Cut(list, "`")
	inReadme := strings.Split(strings.Join(strings.Fields(list), ""), "|")
	slices.Sort(inReadme)
	if !slices.Equal(inReadme, ESPs()) {
		t.Errorf("README lists --esp %q, the profiles are %q", inReadme, ESPs())
	}
}
