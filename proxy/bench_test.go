package proxy

import (
	"fmt"
	"testing"

	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/mailrewrite"
	"github.com/pixelgate/pixelgate/proxy/benchmail"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// BenchmarkRelayMessage is one campaign message through the whole relay
// (embedded store, real rewriter, pooled upstream into a discarding sink);
// compare with BenchmarkUpstreamOnly, the delivery alone.
func BenchmarkRelayMessage(b *testing.B) {
	var srv *redistest.Server
	for _, st := range []struct {
		name string
		open storeMaker
	}{{"bolt", boltStore}, {"redis", redisStore(&srv)}} {
		b.Run(st.name, func(b *testing.B) {
			h := newHarnessWith(b, st.open, func(_ *Config, o *smtpsink.Options) {
				o.Behaviour = func(*smtpsink.Message) smtpsink.Action { return smtpsink.Action{Discard: true} }
			})
			c := h.dial(false)
			msg := string(benchmail.Campaign(60 << 10))
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := send(c, "news@shop.example", fmt.Sprintf("r%d@example.net", i), msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRewriteCampaign is the rewrite engine alone on the load script's
// 60 KB campaign: the share of BenchmarkRelayMessage the relay cannot
// reduce by itself.
func BenchmarkRewriteCampaign(b *testing.B) {
	h := newHarness(b)
	msg := benchmail.Campaign(60 << 10)
	k, _ := h.kr.RecipientKey("reader@example.net")
	// As the relay asks once the campaign's learner is frozen.
	d := mailrewrite.Decision{Recipient: "reader@example.net", Campaign: "bench", URLs: h.cfg.URLs(k, "reader@example.net", "bench")}
	o := mailrewrite.ReportOptions{CountOnly: true, SkipResources: true}
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := h.cfg.Rewrite(nil, msg, d, o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelayTenRecipients is one campaign message to ten recipients
// through the whole relay (embedded store): ten rewritten copies, each its
// own upstream transaction, under the delivery ledger.
func BenchmarkRelayTenRecipients(b *testing.B) {
	h := newHarness(b, func(_ *Config, o *smtpsink.Options) {
		o.Behaviour = func(*smtpsink.Message) smtpsink.Action { return smtpsink.Action{Discard: true} }
	})
	c := h.dial(false)
	msg := string(benchmail.Campaign(60 << 10))
	b.SetBytes(int64(len(msg)))
	to := make([]string, 10)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range to {
			to[j] = fmt.Sprintf("r%d-%d@example.net", i, j)
		}
		// A Message-ID per message: the ledger must not take the
		// benchmark's messages for retries of one another.
		m := "Message-ID: <" + fmt.Sprint(i) + "@bench>\r\n" + msg
		if _, err := sendMany(c, "news@shop.example", to, m); err != nil {
			b.Fatal(err)
		}
	}
}
