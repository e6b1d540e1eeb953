package proxy

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// logHarness is a relay logging JSON at debug level into a buffer; its
// upstream defers every copy for deferred@example.net.
func logHarness(t *testing.T, rcptKeys bool) (*harness, *testsupport.SyncBuffer) {
	buf := &testsupport.SyncBuffer{}
	h := newHarness(t, func(c *Config, o *smtpsink.Options) {
		c.Logger = slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.LogRecipientKeys = rcptKeys
		c.MaxMessageBytes = 64 << 10
		o.Behaviour = func(m *smtpsink.Message) smtpsink.Action {
			if len(m.To) == 1 && m.To[0] == "deferred@example.net" {
				return smtpsink.Action{Reply: &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later deferred@example.net"}}
			}
			return smtpsink.Action{}
		}
	})
	return h, buf
}

// summaries are the log's per-message lines, decoded.
func summaries(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line not JSON: %q: %v", line, err)
		}
		if m["msg"] == "message" {
			out = append(out, m)
		}
	}
	return out
}

var logAddrs = []string{"granted@example.net", "plain@example.net", "deferred@example.net", "news@shop.example"}

// Every message handled leaves exactly one log line with its transaction,
// campaign, decision classes, copy outcomes, reply, size and time, whether
// it was delivered, refused or deferred; no line holds an address or a
// recipient key (R8).
func TestRelayLogsOneLinePerMessage(t *testing.T) {
	h, buf := logHarness(t, false)
	h.grant("granted@example.net")
	c := h.dial(false)
	good := marketingMsg("spring")
	if _, err := sendMany(c, "news@shop.example", []string{"granted@example.net", "plain@example.net"}, good); err != nil {
		t.Fatalf("good message: %v", err)
	}
	bad := "From: a@shop.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n"
	_, err := sendMany(c, "news@shop.example", []string{"plain@example.net"}, bad)
	wantCode(t, err, 554, "5.6.0")
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 76)+"\r\n", 1000)
	_, err = sendMany(c, "news@shop.example", []string{"plain@example.net"}, big)
	wantCode(t, err, 552, "5.3.4")
	c = h.dial(false) // go-smtp closes the connection after 552
	_, err = sendMany(c, "news@shop.example", []string{"granted@example.net", "deferred@example.net"},
		strings.Replace(marketingMsg("autumn"), "<1@shop.example>", "<2@shop.example>", 1))
	wantCode(t, err, 451, "4.4.0")

	log := buf.String()
	got := summaries(t, log)
	if len(got) != 4 {
		t.Fatalf("%d summary lines for 4 messages:\n%s", len(got), log)
	}
	type want struct {
		campaign, outcome, enhanced, reason string
		code                                float64
		decision, copies                    map[string]any
		level                               string
	}
	counts := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = float64(kv[i+1].(int))
		}
		return m
	}
	wants := []want{
		{"spring", "delivered", "2.0.0", "", 250, counts("granted", 1, "not_granted", 1, "fail_closed", 0),
			counts("delivered", 2, "already_delivered", 0, "deferred", 0, "refused", 0), "INFO"},
		{"", "refused", "5.6.0", "unparseable", 554, counts("granted", 0, "not_granted", 1, "fail_closed", 0),
			counts("delivered", 0, "already_delivered", 0, "deferred", 0, "refused", 1), "INFO"},
		{"", "refused", "5.3.4", "too-big", 552, counts("granted", 0, "not_granted", 0, "fail_closed", 0),
			counts("delivered", 0, "already_delivered", 0, "deferred", 0, "refused", 0), "INFO"},
		{"autumn", "deferred", "4.4.0", "", 451, counts("granted", 1, "not_granted", 1, "fail_closed", 0),
			counts("delivered", 1, "already_delivered", 0, "deferred", 1, "refused", 0), "WARN"},
	}
	ids := map[any]bool{}
	for i, w := range wants {
		g := got[i]
		if g["txn"] == "" || ids[g["txn"]] {
			t.Errorf("line %d: transaction id %v missing or repeated", i, g["txn"])
		}
		ids[g["txn"]] = true
		if w.campaign != "" && g["campaign"] != w.campaign {
			t.Errorf("line %d: campaign %v, want %s", i, g["campaign"], w.campaign)
		}
		if g["outcome"] != w.outcome || g["code"] != w.code || g["enhanced"] != w.enhanced || g["level"] != w.level {
			t.Errorf("line %d: outcome %v code %v %v level %v, want %s %v %s %s", i, g["outcome"], g["code"], g["enhanced"], g["level"], w.outcome, w.code, w.enhanced, w.level)
		}
		if r, _ := g["reason"].(string); r != w.reason {
			t.Errorf("line %d: reason %q, want %q", i, r, w.reason)
		}
		for name, wm := range map[string]map[string]any{"decision": w.decision, "copies": w.copies} {
			gm, _ := g[name].(map[string]any)
			for k, v := range wm {
				if gm[k] != v {
					t.Errorf("line %d: %s.%s = %v, want %v", i, name, k, gm[k], v)
				}
			}
		}
		if b, _ := g["bytes"].(float64); b <= 0 {
			t.Errorf("line %d: no size: %v", i, g["bytes"])
		}
		if _, ok := g["ms"].(float64); !ok {
			t.Errorf("line %d: no duration", i)
		}
	}
	if got[0]["bytes"] != float64(len(good)) {
		t.Errorf("size %v, want %d", got[0]["bytes"], len(good))
	}
	if got[0]["recipients"] != float64(2) {
		t.Errorf("recipients %v, want 2", got[0]["recipients"])
	}
	for _, a := range logAddrs {
		k, err := h.kr.RecipientKey(a)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(log, a) || strings.Contains(log, k.String()) {
			t.Errorf("log holds %s or its recipient key:\n%s", a, log)
		}
	}
	if strings.Contains(log, "@") {
		t.Errorf("log holds an address:\n%s", log)
	}
}

// --log-recipient-keys adds one line per copy with its recipient key, for
// debugging a delivery; still no address.
func TestRelayLogsRecipientKeysOnRequest(t *testing.T) {
	h, buf := logHarness(t, true)
	c := h.dial(false)
	if _, err := sendMany(c, "news@shop.example", []string{"granted@example.net", "plain@example.net"}, marketingMsg("spring")); err != nil {
		t.Fatal(err)
	}
	log := buf.String()
	if n := len(summaries(t, log)); n != 1 {
		t.Fatalf("%d summary lines", n)
	}
	for _, a := range []string{"granted@example.net", "plain@example.net"} {
		k, _ := h.kr.RecipientKey(a)
		if !strings.Contains(log, `"rk":"`+k.String()+`"`) {
			t.Errorf("no copy line with %s's key:\n%s", a, log)
		}
	}
	if strings.Contains(log, "@") {
		t.Errorf("log holds an address:\n%s", log)
	}
}
