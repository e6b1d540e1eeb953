package espapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	sgmail "github.com/sendgrid/sendgrid-go/helpers/mail"

	"github.com/pixelgate/pixelgate/proxy/benchmail"
	"github.com/pixelgate/pixelgate/proxy/espapi/espfake"
)

// sendGrid100 is one SendGrid call to 100 personalizations of the 60 KB
// benchmark campaign, each with its own name and id substitutions, a
// third of them consenting.
func sendGrid100(h *harness, subs bool) []byte {
	html, text := benchmail.CampaignParts(60 << 10)
	m := sgmail.NewV3Mail()
	m.SetFrom(sgmail.NewEmail("Shop", "news@shop.example.com"))
	m.Subject = "Spring sale"
	m.AddContent(sgmail.NewContent("text/plain", "Hello -name-\r\n"+text),
		sgmail.NewContent("text/html", "<p>Hello -name-</p>"+html+`<img src="https://open.tracker.example/o/-uid-.gif" width="1" height="1">`))
	for i := range 100 {
		addr := fmt.Sprintf("reader%d@example.org", i)
		if i%3 == 0 {
			h.grant(addr)
		}
		p := sgmail.NewPersonalization()
		p.AddTos(sgmail.NewEmail("", addr))
		if subs {
			p.SetSubstitution("-name-", fmt.Sprintf("Reader %d", i))
			p.SetSubstitution("-uid-", fmt.Sprintf("u%06d", i))
		}
		m.AddPersonalizations(p)
	}
	m.AddCategories("bench-spring")
	return sgmail.GetRequestBody(m)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSendGrid100 sends the same 100-personalization call straight
// to the fake SendGrid API and through pixelgate, alternating, and
// reports both times, the ratio of pixelgate's throughput to the direct
// call's, and the CPU pixelgate adds per recipient (the process's CPU
// time in the pixelgate phases minus the direct phases: the fake's own
// work is in both). With substitutions each recipient's content is their
// own; without, the recipients of one consent class share the engine's
// work.
func BenchmarkSendGrid100(b *testing.B) {
	for _, subs := range []bool{true, false} {
		b.Run(fmt.Sprintf("substitutions=%v", subs), func(b *testing.B) { benchSendGrid100(b, subs) })
	}
}

func benchSendGrid100(b *testing.B, subs bool) {
	fake := espfake.New(b, espfake.Options{})
	h := newHarness(b, fake.URL())
	body := sendGrid100(h, subs)
	post := func(url string) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+espfake.DefaultSendGridKey)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		msg, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			b.Fatalf("%s: %d %s", url, res.StatusCode, msg)
		}
		fake.Reset()
	}
	direct, through := fake.URL()+"/v3/mail/send", h.url+"/sendgrid/v3/mail/send"
	post(direct)
	post(through) // warm: learning, memo
	var dWall, pWall, dCPU, pCPU time.Duration
	for b.Loop() {
		t0, c0 := time.Now(), cpuTime()
		post(direct)
		t1, c1 := time.Now(), cpuTime()
		post(through)
		t2, c2 := time.Now(), cpuTime()
		dWall += t1.Sub(t0)
		pWall += t2.Sub(t1)
		dCPU += c1 - c0
		pCPU += c2 - c1
	}
	n := float64(b.N)
	b.ReportMetric(float64(dWall.Milliseconds())/n, "direct-ms/call")
	b.ReportMetric(float64(pWall.Milliseconds())/n, "pixelgate-ms/call")
	b.ReportMetric(float64(dWall)/float64(pWall), "throughput-ratio")
	b.ReportMetric(float64((pCPU-dCPU).Microseconds())/n/100, "added-cpu-µs/recipient")
}
