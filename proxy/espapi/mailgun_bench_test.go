package espapi

import (
	"strconv"
	"testing"

	"github.com/mailgun/mailgun-go/v4"

	"github.com/pixelgate/pixelgate/proxy/espapi/espfake"
)

// BenchmarkMailgunSend sends one mailgun-go call of n recipients straight
// to the fake ESP (the reference) and through the front; report the
// front's time as a ratio to the reference of the same run.
func BenchmarkMailgunSend(b *testing.B) {
	for _, n := range []int{1, 10} {
		for _, via := range []string{"direct", "front"} {
			b.Run(via+"/rcpts="+strconv.Itoa(n), func(b *testing.B) {
				fake := espfake.New(b, espfake.Options{})
				mg := mailgun.NewMailgun(mgDomain, espfake.DefaultMailgunKey)
				if via == "front" {
					mg.SetAPIBase(newHarness(b, fake.URL()).url + "/mailgun/v3")
				} else {
					mg.SetAPIBase(fake.URL() + "/v3")
				}
				i := 0
				for b.Loop() {
					i++
					var rcpts []string
					for j := range n {
						rcpts = append(rcpts, "r"+strconv.Itoa(i)+"-"+strconv.Itoa(j)+"@example.org")
					}
					m := mailgun.NewMessage("news@shop.example", "Sale", "Hello", rcpts...)
					m.SetHTML(`<p>Hello</p><img src="https://open.example.net/track/open?u=1" width="1" height="1"><a href="https://shop.example.com/">Shop</a>`)
					if _, _, err := mg.Send(b.Context(), m); err != nil {
						b.Fatal(err)
					}
					fake.Reset()
				}
			})
		}
	}
}
