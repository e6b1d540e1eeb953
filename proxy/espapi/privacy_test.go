package espapi

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sgmail "github.com/sendgrid/sendgrid-go/helpers/mail"

	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/proxy/espapi/espfake"
)

// The call's log line and the front's metrics hold counts and outcomes:
// no address, no API key, no content (R8), whether the call is forwarded
// or refused.
func TestLogsAndMetricsHoldNoAddressOrKey(t *testing.T) {
	fake := espfake.New(t, espfake.Options{})
	var logs testsupport.SyncBuffer
	reg := prometheus.NewRegistry()
	h := newHarness(t, fake.URL(), func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Metrics = NewMetrics(reg)
	})
	h.grant("ann@example.org")
	body := sgmail.GetRequestBody(campaignMail())
	if res := sendGridVia(t, h, espfake.DefaultSendGridKey, body); res.StatusCode != 202 {
		t.Fatalf("forwarded call: %d %s", res.StatusCode, res.Body)
	}
	bad := strings.Replace(string(body), "bob@example.org", "bob at example.org", 1)
	if res := sendGridVia(t, h, espfake.DefaultSendGridKey, []byte(bad)); res.StatusCode != 400 {
		t.Fatalf("refused call: %d", res.StatusCode)
	}
	if res := sendGridVia(t, h, "SG.wrong-key", body); res.StatusCode != 401 {
		t.Fatalf("ESP-refused call: %d", res.StatusCode)
	}
	n, err := testutil.GatherAndCount(reg)
	if err != nil || n == 0 {
		t.Fatalf("metrics: %d series, %v", n, err)
	}
	mfs, _ := reg.Gather()
	var metrics strings.Builder
	for _, mf := range mfs {
		metrics.WriteString(mf.String())
	}
	out := logs.String()
	if !strings.Contains(out, `"outcome":"forwarded"`) || !strings.Contains(out, `"outcome":"refused"`) {
		t.Fatalf("log lines missing outcomes:\n%s", out)
	}
	for _, secret := range []string{"ann@example.org", "boss@example.org", "bob", "example.org", espfake.DefaultSendGridKey, "SG.wrong-key", "Spring sale", "Hello"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds %q:\n%s", secret, out)
		}
		if strings.Contains(metrics.String(), secret) {
			t.Errorf("metrics hold %q", secret)
		}
	}
}
