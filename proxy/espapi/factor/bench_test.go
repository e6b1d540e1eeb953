package factor

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/proxy/benchmail"
)

// campaignHTML is the HTML part of the relay benchmark's campaign message,
// about size bytes.
func campaignHTML(tb testing.TB, size int) []byte {
	msg := benchmail.Campaign(size + 4000)
	const head = "Content-Type: text/html; charset=utf-8\r\n\r\n"
	i := bytes.Index(msg, []byte(head))
	j := bytes.LastIndex(msg, []byte("--=_bench_boundary--"))
	if i < 0 || j < i {
		tb.Fatal("no HTML part in benchmail.Campaign")
	}
	return msg[i+len(head) : j]
}

// perRecipient makes n copies of html as the relay's rewrite leaves them:
// three URLs (a product link near the top, one mid-mail, the open pixel at
// the end) carry a per-recipient token of 43 characters; with pixelHalf,
// every other copy has no pixel at all (no consent, R1).
func perRecipient(tb testing.TB, html []byte, n int, pixelHalf bool, r *rand.Rand) [][]byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	top := bytes.Index(html, []byte("https://click.shop.example/ls/click?upn=item0-"))
	mid := bytes.Index(html[len(html)/2:], []byte("https://click.shop.example/ls/click?upn=")) + len(html)/2
	px := bytes.Index(html, []byte(`<img src="https://u1234.ct.sendgrid.net/wf/open`))
	pxEnd := px + bytes.IndexByte(html[px:], '>') + 1
	if top < 0 || mid < len(html)/2 || px < 0 {
		tb.Fatal("benchmail.Campaign changed: no links or pixel where the benchmark cuts")
	}
	tok := func() string {
		b := make([]byte, 43)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	copies := make([][]byte, n)
	for i := range copies {
		var c []byte
		c = append(c, html[:top]...)
		c = append(c, "https://pg.example/l/"+tok()+"?u="...)
		c = append(c, html[top:mid]...)
		c = append(c, "https://pg.example/l/"+tok()+"?u="...)
		c = append(c, html[mid:px]...)
		if !pixelHalf || i%2 == 0 {
			c = append(c, `<img src="https://pg.example/o/`+tok()+`.gif" width="1" height="1" alt="">`...)
		}
		c = append(c, html[pxEnd:]...)
		copies[i] = c
	}
	return copies
}

// BenchmarkFactor100: 100 copies of a ~60 KB HTML mail, three token URLs
// apart. The reference, one full read of every copy (bytes.Equal with a
// clone), runs interleaved with Factor in every iteration, so that the
// ratio x-read holds on a machine whose load changes during the run;
// ns/copy is Factor's alone. ref/tokenize is cutting every copy into
// tokens, what a diff of whole token sequences would start with.
func BenchmarkFactor100(b *testing.B) {
	html := campaignHTML(b, 60<<10)
	r := rand.New(rand.NewPCG(100, 3))
	lim := Limits{MaxHoles: 8, MaxValueBytes: 10000}
	for _, tc := range []struct {
		name      string
		pixelHalf bool
	}{{"3-token-urls", false}, {"3-token-urls-no-pixel-in-half", true}} {
		copies := perRecipient(b, html, 100, tc.pixelHalf, r)
		clones := make([][]byte, len(copies))
		for i, c := range copies {
			clones[i] = bytes.Clone(c)
		}
		b.Run(tc.name, func(b *testing.B) {
			var factorNS, readNS time.Duration
			var holes int
			for b.Loop() {
				t0 := time.Now()
				tpl, _, ok := Factor(copies, lim)
				t1 := time.Now()
				for i, c := range copies {
					if !bytes.Equal(c, clones[i]) {
						b.Fatal("clone differs")
					}
				}
				factorNS += t1.Sub(t0)
				readNS += time.Since(t1)
				if !ok {
					b.Fatal("refused")
				}
				holes = tpl.Holes()
			}
			if holes != 3 {
				b.Fatalf("%d holes, want 3", holes)
			}
			b.ReportMetric(float64(factorNS.Nanoseconds())/float64(b.N*len(copies)), "ns/copy")
			b.ReportMetric(float64(readNS.Nanoseconds())/float64(b.N*len(copies)), "read-ns/copy")
			b.ReportMetric(float64(factorNS)/float64(readNS), "x-read")
		})
	}
	copies := perRecipient(b, html, 100, false, r)
	b.Run(fmt.Sprintf("ref/tokenize-%dKB", len(copies[0])>>10), func(b *testing.B) {
		var tk tokens
		for b.Loop() {
			for _, c := range copies {
				tk.reset(c, 0)
				for i := 0; tk.has(i); i++ {
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(copies)), "ns/copy")
	})
}
