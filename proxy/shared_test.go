package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/mailrewrite"
	"github.com/pixelgate/pixelgate/proxy/benchmail"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// detURLs is a URL factory whose answers depend only on the recipient and
// the request, so two rewrites for one recipient can be compared byte for
// byte.
type detURLs struct{ addr string }

func (u detURLs) tok(parts ...string) string {
	sum := sha256.Sum256([]byte(u.addr + "\x00" + strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:12])
}
func (u detURLs) PixelURL(p mailrewrite.Purpose, original string) (string, error) {
	return publicURL + "/o/" + u.tok("p", fmt.Sprint(p), original) + ".gif", nil
}
func (u detURLs) ConsentURL() (string, error) { return publicURL + "/c/" + u.tok("c"), nil }
func (u detURLs) LinkURL(dest string) (string, error) {
	return publicURL + "/l/" + u.tok("l", dest), nil
}

// corpusMessages are the shared corpora's emails (with their recipient)
// and the benchmark campaign; nil when the corpora are not beside the
// clone.
func corpusMessages(t *testing.T) map[string][2]string {
	out := map[string][2]string{"benchmail": {string(benchmail.Campaign(60 << 10)), "reader@example.net"}}
	for _, dir := range []string{"../../shared/corpus/emails", "../../shared/corpus-wide/emails"} {
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rcpt := "reader@example.org"
			if strings.HasSuffix(p, ".html") {
				raw = append([]byte("From: s@example.com\r\nTo: reader@example.org\r\nSubject: c\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"), raw...)
			} else if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
				if list, err := mail.ParseAddressList(m.Header.Get("To")); err == nil && len(list) > 0 {
					rcpt = list[0].Address
				}
			}
			out[p] = [2]string{string(raw), rcpt}
			return nil
		})
	}
	return out
}

// The copy made from a consent class's shared rewrite is byte for byte
// the copy the recipient's own rewrite makes, on every email of the
// corpora, for every consent class, with and without click tracking:
// otherwise the recipient gets a rewrite of their own.
func TestSharedRewriteEqualsOwnRewrite(t *testing.T) {
	msgs := corpusMessages(t)
	if len(msgs) < 400 {
		t.Logf("shared corpora not beside the clone: only the benchmark campaign is checked")
	}
	shared, own, benchShared := 0, 0, 0
	for _, trackClicks := range []bool{false, true} {
		h := newHarness(t, func(c *Config, _ *smtpsink.Options) { c.TrackClicks = trackClicks })
		for name, m := range msgs {
			s := newSharedRewrite(h.relay, []byte(m[0]), "c1")
			for _, c := range []mailrewrite.Consent{mailrewrite.Unknown, mailrewrite.Refused, mailrewrite.Granted} {
				for _, addr := range []string{m[1], "someone.else@example.net"} {
					got, ok := s.copyFor(nil, addr, detURLs{addr}, c, nil)
					if !ok {
						own++
						continue
					}
					shared++
					if name == "benchmail" {
						benchShared++
					}
					d := mailrewrite.Decision{Recipient: addr, Consent: c, Campaign: "c1", Ask: func() bool { return false },
						TrackClicks: trackClicks, URLs: detURLs{addr}}
					want, err := h.cfg.Rewrite(nil, []byte(m[0]), d, mailrewrite.ReportOptions{CountOnly: true})
					if err != nil {
						t.Fatalf("%s: own rewrite failed but the shared one did not: %v", name, err)
					}
					if !bytes.Equal(got.Msg, want.Msg) {
						t.Fatalf("%s, %s, %s, clicks %v: shared copy differs from the recipient's own rewrite:\n%s", name, addr, c, trackClicks, firstDiff(got.Msg, want.Msg))
					}
					if got.AskedConsent != want.AskedConsent || fmt.Sprint(got.Findings) != fmt.Sprint(want.Findings) {
						t.Fatalf("%s: the report differs", name)
					}
				}
			}
		}
	}
	t.Logf("%d copies from a shared rewrite, %d rewritten on their own", shared, own)
	// The campaign has plain parts: the copies of a recipient it does not
	// name always come from the shared rewrite (2 click settings x 3
	// classes); reader@example.net, in its To, gets their own.
	if benchShared != 6 {
		t.Fatalf("the benchmark campaign's copies came from a shared rewrite %d times, want 6", benchShared)
	}
}

func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-80)
	return fmt.Sprintf("shared: %q\n   own: %q", a[lo:min(len(a), i+80)], b[lo:min(len(b), i+80)])
}
