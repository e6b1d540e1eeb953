package upstream

import (
	"bytes"
	"context"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/pixelgate/pixelgate/internal/testsupport"
	"github.com/pixelgate/pixelgate/proxy/benchmail"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// BenchmarkUpstreamDeliver hands the load script's 60 KB campaign to a real
// go-smtp sink on 127.0.0.1 over one reused connection, through pixelgate's
// upstream client and through go-smtp's stock client, in the same run: the
// two differ in how they write DATA. The sink's own reading is
// in both figures.
func BenchmarkUpstreamDeliver(b *testing.B) {
	sink := testsupport.StartSink(b, smtpsink.Options{Behaviour: func(*smtpsink.Message) smtpsink.Action {
		return smtpsink.Action{Discard: true}
	}})
	msg := benchmail.Campaign(60 << 10)
	env := Envelope{From: "news@shop.example", To: "reader@example.net"}

	b.Run("pixelgate", func(b *testing.B) {
		up, err := ParseUpstream(UpstreamConfig{URL: "smtp://" + sink.Addr + "?tls=none", MaxIdle: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer up.Close()
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			if err := up.Deliver(context.Background(), env, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-smtp", func(b *testing.B) {
		c, err := smtp.Dial(sink.Addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			if err := c.SendMail(env.From, []string{env.To}, bytes.NewReader(msg)); err != nil {
				b.Fatal(err)
			}
		}
	})
	if sink.Count() == 0 {
		b.Fatal("sink received nothing")
	}
}
