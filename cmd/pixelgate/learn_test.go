package main

import (
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// learnCopy is one recipient's copy of a campaign with an id no tracker
// rule knows, on a content image of the sender's own domain.
func learnCopy(rcpt, id string) string {
	return "From: Shop <news@shop.example>\r\nTo: <" + rcpt + ">\r\nSubject: Sale\r\nX-Pixelgate-Campaign: autumn\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<p>Sale</p><img src=\"https://img.shop.example/hero.jpg?u=" + id + "\" width=\"600\">\r\n"
}

// `serve` learns by default: after two recipients' copies of a campaign,
// the third arrives without the id that differed between them; with
// --learn=false it keeps it.
func TestServeLearnsPerRecipientParts(t *testing.T) {
	for _, on := range []bool{true, false} {
		dir := t.TempDir()
		args := []string{"--data-dir", dir, "--public-url", "https://t.example.com"}
		if !on {
			args = append(args, "--learn=false")
		}
		s := startServe(t, args...)
		ids := []string{"a1b2c3d4e5", "f6e5d4c3b2", "9z8y7x6w5v"}
		for i, id := range ids {
			rcpt := "r" + id[:2] + "@example.net"
			if err := smtpSend(s.smtpAddr, "news@shop.example", rcpt, learnCopy(rcpt, id), nil, nil); err != nil {
				t.Fatal(err)
			}
			if i == 1 && on {
				// Learning runs after the 250; the metric says when.
				waitMetric(t, s, `pixelgate_learn_parts_learned_total 1`)
			}
		}
		files := outboxFiles(t, dir)
		sort.Strings(files)
		var third string
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "r9z@example.net") {
				third = string(b)
			}
		}
		if third == "" {
			t.Fatalf("third copy not in the outbox: %v", files)
		}
		if on && (strings.Contains(third, ids[2]) || !strings.Contains(third, `src="https://img.shop.example/hero.jpg"`)) {
			t.Errorf("with learning the third copy should keep the image without its id:\n%s", third)
		}
		if !on && !strings.Contains(third, "hero.jpg?u="+ids[2]) {
			t.Errorf("--learn=false: the id was taken out anyway, so this test shows nothing:\n%s", third)
		}
		if code := s.shutdown(t); code != 0 {
			t.Errorf("exit %d after shutdown", code)
		}
	}
}

func waitMetric(t *testing.T, s *server, line string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, body := httpGet(t, "http://"+s.httpAddr+"/metrics"); strings.Contains(body, line) {
			return
		}
	}
	t.Fatalf("metrics never showed %q", line)
}
