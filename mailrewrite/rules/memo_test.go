package rules

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/mailrewrite/internal/memo"
)

// The memo must stay bounded however many distinct URLs a stream of mail
// carries, and its answers must be those of the rules themselves, for
// URLs seen first, again, and after they were pushed out.
func TestMemoBoundAndAnswers(t *testing.T) {
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	tracker := mustURL(t, "https://u123.ct.sendgrid.net/wf/open?upn=abcdefghijklmnop1234567890")
	link := mustURL(t, "https://www.google.com/url?q=https%3A%2F%2Fshop.example%2Fsale&sa=D")
	for round := 0; round < 3; round++ {
		for i := 0; i < 3*memo.Limit; i++ {
			raw := fmt.Sprintf("https://cdn%d.example.com/img/%d.png?uid=%d", i%7, i, i)
			u, ok := s.ParseURL(raw)
			if !ok || u.String() != raw {
				t.Fatalf("ParseURL(%q) = %v %v", raw, u, ok)
			}
			s.MatchTracker(u)
			s.IdentifyingParams(u)
			s.Unwrap(u)
		}
		for _, n := range []int{s.trackerMemo.Len(), s.paramsMemo.Len(), s.unwrapMemo.Len(), s.parseMemo.Len()} {
			if n > 2*memo.Limit {
				t.Fatalf("round %d: memo holds %d URLs, bound is %d", round, n, 2*memo.Limit)
			}
		}
		for _, u := range []*url.URL{tracker, link} {
			for range 2 {
				gm, gok := s.MatchTracker(u)
				wm, wok := fresh.trackerIdx.find(urlParts(u)), true
				if wm < 0 {
					wok = false
				}
				if gok != wok || (gok && gm != fresh.trackers[wm]) {
					t.Errorf("MatchTracker(%s) = %v %v, rules say %d", u, gm, gok, wm)
				}
				gd, gid, gok2 := s.Unwrap(u)
				wd, wid, wok2 := fresh.unwrap(u)
				if gok2 != wok2 || gid != wid || (gok2 && gd.String() != wd.String()) {
					t.Errorf("Unwrap(%s) = %v %q %v, want %v %q %v", u, gd, gid, gok2, wd, wid, wok2)
				}
				if gok2 {
					gd.Host = "changed.example" // the caller's copy, not the memo's
				}
			}
		}
	}
	for range 2 {
		u, ok := s.ParseURL("https://shop.example/a?b=c#d")
		if !ok || u.Host != "shop.example" || u.RawQuery != "b=c" || u.Fragment != "d" {
			t.Fatalf("ParseURL = %v %v", u, ok)
		}
		u.Host = "changed.example" // the caller's copy, not the memo's
	}
	for _, bad := range []string{"https://[::1", "mailto:a@example.com", "/relative/path"} {
		for range 2 {
			if u, ok := s.ParseURL(bad); ok {
				t.Errorf("ParseURL(%q) = %v, want no URL with a host", bad, u)
			}
		}
	}
	// Long URLs fill a generation by bytes before they reach memo.Limit.
	long := strings.Repeat("a", memo.MaxKey-100)
	for i := 0; i < 3*memo.Bytes/len(long); i++ {
		s.ParseURL(fmt.Sprintf("https://cdn.example.com/%s/%d.png", long, i))
	}
	if n := s.parseMemo.KeyBytes(); n > 2*memo.Bytes {
		t.Errorf("parse memo holds %d bytes of URLs, bound is %d", n, 2*memo.Bytes)
	}
	if _, ok := s.MatchTracker(tracker); !ok {
		t.Error("SendGrid open pixel no longer matched")
	}
	if d, _, ok := s.Unwrap(link); !ok || d.Host != "shop.example" {
		t.Errorf("Google redirect unwraps to %v %v", d, ok)
	}
}
