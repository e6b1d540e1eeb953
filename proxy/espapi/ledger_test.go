package espapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// sendSplit under the ledger: a call split in one upstream call per copy,
// one of which fails, is retried; the retry sends only that copy, and a
// third attempt sends nothing.
func TestSendSplitRetrySendsOnlyMissingCopies(t *testing.T) {
	var mu sync.Mutex
	var sent []string
	failFor := "b@example.org"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if string(b) == failFor {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		sent = append(sent, string(b))
		w.WriteHeader(http.StatusAccepted)
	}))
	defer up.Close()
	h := newHarness(t, up.URL)
	rcpts := []recipient{{addr: "a@example.org"}, {addr: "b@example.org"}, {addr: "c@example.org"}}
	attempt := func() *splitResult {
		t.Helper()
		r := httptest.NewRequest("POST", "/sendgrid/v3/mail/send", nil)
		c := &call{esp: SendGrid, r: r, body: []byte("the same call"), log: h.srv.cfg.Logger, sum: &callSummary{esp: SendGrid}}
		copies, err := h.srv.rewriteAll(t.Context(), content{text: "hi", hasText: true}, rcpts, "camp", "camp")
		if err != nil {
			t.Fatal(err)
		}
		res, err := h.srv.sendSplit(c, copies, 1, func(cp []recipientCopy) ([]byte, string, error) {
			return []byte(cp[0].rcpt.addr), "text/plain", nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := attempt()
	if res.failed == nil || res.failed.status != http.StatusServiceUnavailable || len(sent) != 2 {
		t.Fatalf("first attempt: failed %v, sent %v", res.failed, sent)
	}
	mu.Lock()
	failFor = ""
	mu.Unlock()
	res = attempt()
	if res.failed != nil || res.earlier != 2 || len(sent) != 3 || sent[2] != "b@example.org" {
		t.Fatalf("retry: failed %v, earlier %d, sent %v", res.failed, res.earlier, sent)
	}
	res = attempt()
	if res.earlier != 3 || len(res.replies) != 0 || len(sent) != 3 {
		t.Fatalf("third attempt: earlier %d, %d calls, sent %v", res.earlier, len(res.replies), sent)
	}
}
