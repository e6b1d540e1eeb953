package espfake

import (
	"testing"
	"time"
)

// The parsers read request bodies from whatever client a test (or the
// front under test) sends: they must refuse or accept, never panic, and an
// accepted request must expand to one delivery per recipient.

func FuzzSendGrid(f *testing.F) {
	f.Add([]byte(`{"personalizations":[{"to":[{"email":"a@example.org"}],"substitutions":{"-n-":"A"}}],"from":{"email":"s@shop.example"},"subject":"Hi -n-","content":[{"type":"text/plain","value":"x -n-"}]}`))
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		m, errs := parseSendGrid(body, now)
		if m == nil {
			if len(errs) == 0 {
				t.Fatal("refused without an error")
			}
			return
		}
		want := 0
		for _, p := range m.Personalizations {
			want += len(p.To) + len(p.Cc) + len(p.Bcc)
		}
		if got := len(m.deliveries()); got != want {
			t.Fatalf("%d deliveries for %d recipients", got, want)
		}
	})
}

func FuzzMailgun(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", []byte("from=s%40shop.example&to=a%40example.org&text=Hi+%25recipient.n%25&recipient-variables=%7B%22a%40example.org%22%3A%7B%22n%22%3A1%7D%7D"), false)
	f.Add("multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\na@example.org\r\n--b\r\nContent-Disposition: form-data; name=\"message\"; filename=\"message.mime\"\r\n\r\nFrom: s@shop.example\r\nSubject: x\r\n\r\nbody\r\n--b--\r\n"), true)
	f.Fuzz(func(t *testing.T, ctype string, body []byte, mimeUpload bool) {
		m, bad := parseMailgun(ctype, body, mimeUpload)
		if m == nil {
			if bad == nil || bad.msg == "" {
				t.Fatal("refused without a message")
			}
			return
		}
		ds, err := m.deliveries()
		if err != nil {
			return // an unreadable MIME upload is refused by the handler
		}
		want := len(m.to) + len(m.cc) + len(m.bcc)
		if m.recipVars != nil {
			want = len(m.to) * (1 + len(m.cc) + len(m.bcc))
		}
		if len(ds) != want {
			t.Fatalf("%d deliveries, want %d", len(ds), want)
		}
	})
}

func FuzzPostmark(f *testing.F) {
	f.Add([]byte(`{"From":"s@shop.example","To":"a@example.org, B <b@example.org>","TextBody":"x","TrackLinks":"None"}`), false)
	f.Add([]byte(`[{"From":"s@shop.example","To":"a@example.org","HtmlBody":"<p>x"}]`), true)
	f.Fuzz(func(t *testing.T, body []byte, batch bool) {
		raws := [][]byte{body}
		if batch {
			list, bad := decodePostmarkBatch(body)
			if bad != nil {
				return
			}
			raws = raws[:0]
			for _, r := range list {
				raws = append(raws, r)
			}
		}
		for _, raw := range raws {
			e, bad := decodePostmark(raw)
			if bad != nil {
				continue
			}
			c, bad := checkPostmark(e, []string{"@shop.example"}, func(string) bool { return false })
			if c == nil {
				if bad == nil || bad.code == 0 {
					t.Fatal("refused without an ErrorCode")
				}
				continue
			}
			n := len(c.to) + len(c.cc) + len(c.bcc)
			if got := len(c.deliveries()); got != n || n == 0 || n > pmMaxRecipients {
				t.Fatalf("%d deliveries for %d recipients", got, n)
			}
		}
	})
}
