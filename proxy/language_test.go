package proxy

import (
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// The campaign's X-Pixelgate-Language header chooses the footer language
// and is removed before the message leaves; without it the relay's
// default language applies.
func TestRelayFooterLanguage(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *smtpsink.Options) { c.DefaultLanguage = "fr" })
	c := h.dial(false)
	withHeader := strings.Replace(marketingMsg("spring"), "MIME-Version:", "X-Pixelgate-Language: en-GB\r\nMIME-Version:", 1)
	if err := send(c, "news@shop.example", "a@example.net", withHeader); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "news@shop.example", "b@example.net", marketingMsg("spring")); err != nil {
		t.Fatal(err)
	}
	got := byRcpt(t, h.sink.Messages())
	if a := got["a@example.net"]; !strings.Contains(a, "Manage open tracking") || strings.Contains(strings.ToLower(a), "x-pixelgate-language") {
		t.Errorf("header's language not used, or the header left pixelgate:\n%s", a)
	}
	if b := got["b@example.net"]; !strings.Contains(b, "G&eacute;rer le suivi des ouvertures") {
		t.Errorf("default language not used:\n%s", b)
	}
	if _, err := NewRelay(Config{DefaultLanguage: "xx", Metrics: h.metrics}); err == nil || !strings.Contains(err.Error(), "default language") {
		t.Errorf("unsupported default language accepted: %v", err)
	}
}

func byRcpt(t *testing.T, msgs []smtpsink.Message) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range msgs {
		out[m.To[0]] = string(m.Data)
	}
	return out
}
