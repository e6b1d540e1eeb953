package upstream

import (
	"bufio"
	"bytes"
	"context"
	"net/textproto"
	"testing"

	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/proxy/benchmail"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// textprotoData is what go-smtp's client sent for msg: net/textproto's
// DotWriter, the reference our DATA writer must reproduce byte for byte.
func textprotoData(t testing.TB, msg []byte) []byte {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	dw := textproto.NewWriter(bw).DotWriter()
	if _, err := dw.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := dw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// writeCounter records each write call the DATA writer makes.
type writeCounter struct {
	bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func ourData(t testing.TB, msg []byte, chunk int) (out []byte, writes int) {
	var w writeCounter
	d := dataWriter{w: &w, chunk: chunk}
	if err := d.writeMessage(msg); err != nil {
		t.Fatal(err)
	}
	return w.Bytes(), w.writes
}

func TestDataWriterMatchesDotWriter(t *testing.T) {
	cases := []string{
		"",
		".",
		"..\r\n",
		"a\r\n.\r\nb\r\n",
		"a\n.\nb",
		"a\r",
		"a\r\r",
		"a\r\r\n.b",
		"\r\n",
		"\n",
		"\r.\r\n",
		"x\r\n.",
		"end\r\n.\r\n",
		"no final line break",
	}
	for _, c := range cases {
		for _, chunk := range []int{1, 2, 7, dataChunk} {
			got, _ := ourData(t, []byte(c), chunk)
			if want := textprotoData(t, []byte(c)); !bytes.Equal(got, want) {
				t.Errorf("%q (chunk %d): wrote %q, DotWriter writes %q", c, chunk, got, want)
			}
		}
	}
}

// TestDataWriterOneWrite: a campaign leaves in one write call where
// DotWriter made about fifteen (the cost BenchmarkUpstreamDeliver measures).
func TestDataWriterOneWrite(t *testing.T) {
	msg := benchmail.Campaign(60 << 10)
	got, writes := ourData(t, msg, dataChunk)
	if !bytes.Equal(got, textprotoData(t, msg)) {
		t.Fatal("campaign written differently from DotWriter")
	}
	if writes != 1 {
		t.Errorf("campaign of %d bytes took %d writes, want 1", len(msg), writes)
	}
	// Bigger than a chunk: still a handful of writes, not one per 4 KB.
	big := bytes.Repeat(msg, 5)
	if _, writes := ourData(t, big, dataChunk); writes > 4 {
		t.Errorf("%d bytes took %d writes", len(big), writes)
	}
}

// FuzzDataWriter holds the DATA writer to net/textproto's DotWriter on any
// input and any chunk size, and checks the smuggling property: the
// end-of-data line appears once, at the end (RFC 5321 §4.5.2).
func FuzzDataWriter(f *testing.F) {
	f.Add([]byte("Subject: a\r\n\r\n.hidden\r\n"), uint16(0))
	f.Add([]byte("a\n.\nMAIL FROM:<e@x>\n"), uint16(3))
	f.Add([]byte("a\r\r\n.\r\n"), uint16(1))
	f.Fuzz(func(t *testing.T, msg []byte, chunk uint16) {
		size := int(chunk)
		if size == 0 {
			size = dataChunk
		}
		got, _ := ourData(t, msg, size)
		if want := textprotoData(t, msg); !bytes.Equal(got, want) {
			t.Fatalf("%q (chunk %d): wrote %q, DotWriter writes %q", msg, size, got, want)
		}
		if i := bytes.Index(got, []byte("\r\n.\r\n")); i >= 0 && i != len(got)-5 {
			t.Fatalf("%q: end of data at %d of %d: %q", msg, i, len(got), got)
		}
		if len(msg) > 0 && bytes.HasPrefix(got, []byte(".\r\n")) {
			t.Fatalf("%q: message starts with the end of data", msg)
		}
	})
}

// TestDataRoundTrip: what a real go-smtp server's Data() receives is the
// message we delivered, including the lines that look like SMTP framing.
func TestDataRoundTrip(t *testing.T) {
	sink := testsupport.StartSink(t, smtpsink.Options{})
	up, err := ParseUpstream(UpstreamConfig{URL: "smtp://" + sink.Addr + "?tls=none", MaxIdle: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	const head = "From: a@shop.example\r\nTo: b@example.net\r\nSubject: dots\r\n\r\n"
	cases := []struct{ name, body, want string }{
		{"leading dots", ".one\r\n..two\r\n...\r\n", ""},
		{"dot lines", "a\r\n.\r\nb\r\n.\r\n", ""},
		{"smuggled transaction", "hi\r\n.\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<victim@y.example>\r\nDATA\r\nforged\r\n.\r\n", ""},
		{"dot at the very end", "last line\r\n.", "last line\r\n.\r\n"},
		{"bare LF", "a\nb\n.\nc\n", "a\r\nb\r\n.\r\nc\r\n"},
		{"no final CRLF", "text", "text\r\n"},
		{"large", string(bytes.Repeat([]byte(".line of text\r\n"), 20000)), ""},
	}
	for i, c := range cases {
		want := c.want
		if want == "" {
			want = c.body
		}
		if err := up.Deliver(context.Background(), Envelope{From: "a@shop.example", To: "b@example.net"}, []byte(head+c.body)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		msgs := sink.Messages()
		if len(msgs) != i+1 {
			t.Fatalf("%s: sink holds %d messages, want %d", c.name, len(msgs), i+1)
		}
		if got := string(msgs[i].Data); got != head+want {
			t.Errorf("%s: upstream received %q, want %q", c.name, truncate([]byte(got), 200), truncate([]byte(head+want), 200))
		}
	}
	if n := sink.Connections(); n != 1 {
		t.Errorf("%d connections, want 1: a body line ended the data early", n)
	}
}
