package pixel

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
)

func TestLinkRedirect(t *testing.T) {
	for _, sk := range pixelStoreKinds {
		t.Run(sk.name, func(t *testing.T) {
			e := newPixelEnv(t, sk.open, nil)
			yes, no := e.key(t, "yes@example.com"), e.key(t, "no@example.com")
			grant(t, e.st, yes)
			const dest = "https://shop.example/spring?ref=mail"
			link := func(k consent.Key, campaign, u string) string {
				return "/l/" + e.token(t, consent.PurposeLink, k, campaign, u)
			}

			for _, c := range []struct {
				name, campaign, method string
				k                      consent.Key
				clicks                 int64
			}{
				{"granted", "c-link", "GET", yes, 1},
				{"granted, HEAD is not a click", "c-link", "HEAD", yes, 1},
				{"not granted", "c-link-no", "GET", no, 0},
			} {
				r := e.hit(t, c.method, link(c.k, c.campaign, dest), secretUA)
				if r.status != http.StatusFound || r.header.Get("Location") != dest {
					t.Fatalf("%s: status %d Location %q, want 302 to the sealed destination", c.name, r.status, r.header.Get("Location"))
				}
				if r.header.Get("Referrer-Policy") != "no-referrer" || r.header.Get("Set-Cookie") != "" {
					t.Errorf("%s: headers %v", c.name, r.header)
				}
				if got := campaignStats(t, e.st, c.campaign).Clicks; got != c.clicks {
					t.Errorf("%s: clicks %d, want %d", c.name, got, c.clicks)
				}
			}
			if c := campaignStats(t, e.st, "c-link-no"); c.Clicks != 0 || c.UniqueClicks != 0 {
				t.Errorf("click of a non-consenting recipient recorded: %+v", c)
			}
			if x := exportOf(t, e.st, no); len(x.Opens) != 0 {
				t.Errorf("export of a non-consenting key: %+v", x.Opens)
			}

			good := e.token(t, consent.PurposeLink, yes, "c-link", dest)
			tampered := []byte(good)
			tampered[25] ^= 0x02
			if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", rune(tampered[25])) {
				tampered[25] = 'Q'
			}
			for name, path := range map[string]string{
				"tampered":        "/l/" + string(tampered),
				"truncated":       "/l/" + good[:len(good)-3],
				"pixel token":     "/l/" + e.token(t, consent.PurposeOpen, yes, "c-link", dest),
				"javascript dest": link(yes, "c-link", "javascript:alert(1)"),
				"relative dest":   link(yes, "c-link", "//evil.example/x"),
				"empty":           "/l/",
			} {
				r := e.hit(t, "GET", path, secretUA)
				if r.status != http.StatusNotFound || r.header.Get("Location") != "" {
					t.Errorf("%s: status %d Location %q, want the neutral 404 page", name, r.status, r.header.Get("Location"))
				}
				if strings.Contains(string(r.body), "example") || strings.Contains(string(r.body), "<a ") {
					t.Errorf("%s: neutral page names a destination or links somewhere", name)
				}
			}
			if got := campaignStats(t, e.st, "c-link").Clicks; got != 1 {
				t.Errorf("bad tokens recorded clicks: %d", got)
			}
			if strings.Contains(e.logs.String(), good) || strings.Contains(e.logs.String(), secretUA) {
				t.Error("logs hold a token or the user agent")
			}
		})
	}
}

// Only a consenting recipient's hit reaches the ESP's original pixel.
func TestPixelForwardsOnlyWithConsent(t *testing.T) {
	esp := newHitServer(t, nil)
	fwd := newTestForwarder(t, ForwardConfig{Allow: onlyLoopback127001})
	e := newPixelEnv(t, pixelStoreKinds[0].open, fwd)
	yes, no := e.key(t, "yes@example.com"), e.key(t, "no@example.com")
	grant(t, e.st, yes)
	e.hit(t, "GET", "/o/"+e.token(t, consent.PurposeOpen, yes, "c1", esp.URL+"/open/yes.gif")+".gif", secretUA)
	e.hit(t, "GET", "/o/"+e.token(t, consent.PurposeOpen, no, "c1", esp.URL+"/open/no.gif")+".gif", secretUA)
	e.hit(t, "HEAD", "/o/"+e.token(t, consent.PurposeOpen, yes, "c1", esp.URL+"/open/head.gif")+".gif", secretUA)
	closeForwarder(t, fwd)
	if esp.hits.Load() != 1 {
		t.Fatalf("ESP got %d hits, want 1 (the consenting recipient's GET)", esp.hits.Load())
	}
	if ua := esp.headers.Load().(http.Header).Get("User-Agent"); ua == secretUA {
		t.Fatal("the recipient's user agent reached the ESP")
	}
}
