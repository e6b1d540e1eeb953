package e2e

import (
	"encoding/json"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
)

// TestMetricsAndLogsCarryNoPersonalData relays mail, lets the recipient
// allow tracking, opens the pixel through both replicas, then reads every
// metric and log line the replicas produced: no metric may hold the
// address, a part of it, the recipient key or a token, and no log line the
// address or a token (R6, R8). Logs are JSON lines.
func TestMetricsAndLogsCarryNoPersonalData(t *testing.T) {
	c := startCluster(t, "--log-format", "json")
	const rcpt = "zoe.martin@example.net"
	first := send(t, c.a, c.sink, rcpt)
	consentLink := consentLinkRe.FindString(first)
	if consentLink == "" {
		t.Fatalf("no consent link in:\n%s", first)
	}
	decide(t, c.b, consentLink, "allow")
	pixel := pixelLinkRe.FindString(send(t, c.b, c.sink, rcpt))
	if pixel == "" {
		t.Fatal("no pixel after consent")
	}
	openPixel(t, c.a, pixel)
	openPixel(t, c.b, pixel)
	decide(t, c.a, consentLink, "withdraw")
	openPixel(t, c.b, pixel)

	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: c.keys, NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	rk, err := kr.RecipientKey(rcpt)
	if err != nil {
		t.Fatal(err)
	}
	token := func(link string) string {
		u, _ := url.Parse(link)
		return strings.TrimSuffix(path.Base(u.Path), ".gif")
	}
	forbidden := map[string]string{
		"address":       rcpt,
		"local part":    "zoe.martin",
		"URL-encoded":   url.QueryEscape(rcpt),
		"recipient key": rk.String(),
		"pixel token":   token(pixel),
		"consent token": token(consentLink),
	}
	for _, r := range []*replica{c.a, c.b} {
		_, metrics := r.get(t, "/metrics")
		if !strings.Contains(metrics, "pixelgate_pixel_hits_total") || !strings.Contains(metrics, "pixelgate_relay_messages_total") || !strings.Contains(metrics, `pixelgate_store_seconds_count{op="record_open",outcome="ok"}`) {
			t.Fatalf("replica %s /metrics lacks the relay, pixel and store metrics:\n%s", r.name, metrics)
		}
		r.stop(t)
		logs := r.stderr.String()
		for what, s := range forbidden {
			if strings.Contains(metrics, s) {
				t.Errorf("replica %s /metrics holds the %s", r.name, what)
			}
			// The relay logs the pseudonymous recipient key to trace a
			// delivery without the address; R8 forbids the address.
			if strings.Contains(logs, s) && what != "recipient key" {
				t.Errorf("replica %s logs hold the %s:\n%s", r.name, what, logs)
			}
		}
		for line := range strings.Lines(logs) {
			var v map[string]any
			if err := json.Unmarshal([]byte(line), &v); err != nil || v["msg"] == nil || v["level"] == nil {
				t.Errorf("replica %s log line is not a slog JSON record: %q", r.name, line)
			}
		}
	}
}
