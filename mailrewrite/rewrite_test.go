package mailrewrite

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
)

func htmlMsg(body string) []byte {
	return []byte("From: news@shop.example\r\nTo: reader@example.com\r\nSubject: t\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>" + body + "</body></html>\r\n")
}

func rewriteHTML(t *testing.T, body string, d Decision) (string, *Report) {
	t.Helper()
	out, rep, err := newTestRewriter(t).Rewrite(htmlMsg(body), d)
	if err != nil {
		t.Fatal(err)
	}
	return string(out), rep
}

func findingFor(rep *Report, u string) *Finding {
	for i := range rep.Findings {
		if rep.Findings[i].URL == u {
			return &rep.Findings[i]
		}
	}
	return nil
}

// Each carrier kind, with a tracker (known ESP open pixel) and a content
// image, for a refusing recipient: the tracker goes, the content stays.
func TestCarriers(t *testing.T) {
	const trk = "https://u1.ct.sendgrid.net/wf/open?upn=Zx81Kq3Lm5Np7Rs9Tv1Wx3Yz5Ab7Cd9Ef"
	const img = "https://cdn.shop.example/a.png"
	cases := []struct {
		name, body, carrier string
	}{
		{"img", `<img src="` + trk + `">`, "img"},
		{"srcset", `<img srcset="` + trk + ` 1x">`, "img-srcset"},
		{"picture", `<picture><source srcset="` + trk + ` 2x"><img src="` + img + `" width="300"></picture>`, "picture-source-srcset"},
		{"input", `<input type="image" src="` + trk + `">`, "input-image"},
		{"background", `<td background="` + trk + `">x</td>`, "background-attr"},
		{"poster", `<video poster="` + trk + `"></video>`, "video-poster"},
		{"style-attr", `<div style="background-image:url('` + trk + `')">x</div>`, "style-attr"},
		{"style-block", `<style>.a{background:url(` + trk + `)}</style>`, "style-block"},
		{"import", `<style>@import "` + trk + `";.b{color:red}</style>`, "css-import"},
		{"link", `<link rel="stylesheet" href="` + trk + `">`, "link-stylesheet"},
		{"vml", `<!--[if gte mso 9]><v:fill type="tile" src="` + trk + `"/><![endif]-->`, "vml"},
		{"noscript", `<noscript><img src="` + trk + `"></noscript>`, "img"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, rep := rewriteHTML(t, c.body+`<img src="`+img+`" width="300">`, decisionFor(Refused))
			f := findingFor(rep, trk)
			if f == nil || f.Carrier != c.carrier || f.Class != ClassTracker || f.Action != ActionRemoved || f.Vendor != "SendGrid" {
				t.Fatalf("finding %+v, want %s tracker removed by SendGrid rule", f, c.carrier)
			}
			if strings.Contains(out, "sendgrid") {
				t.Errorf("tracker left:\n%s", out)
			}
			if !strings.Contains(out, `<img src="`+img+`" width="300">`) {
				t.Errorf("content image lost:\n%s", out)
			}
		})
	}
	// CSS around a removed reference stays valid.
	out, _ := rewriteHTML(t, `<style>@import "`+trk+`";.b{color:red}</style><div style="color:red;background:#fff url(`+trk+`) no-repeat">x</div>`, decisionFor(Refused))
	if !strings.Contains(out, `<style>.b{color:red}</style>`) || !strings.Contains(out, `style="color:red;background:#fff none no-repeat"`) {
		t.Errorf("CSS not cleanly rewritten:\n%s", out)
	}
}

func TestAMPPart(t *testing.T) {
	msg := "Content-Type: text/x-amp-html; charset=utf-8\r\n\r\n<html ⚡4email><body><amp-img src=\"https://cdn.shop.example/a.png\" width=\"300\" height=\"200\"></amp-img>" +
		"<amp-img src=\"https://t.example/x.gif\" width=\"1\" height=\"1\"></amp-img>" +
		"<amp-pixel src=\"https://t.example/p?x=1\"></amp-pixel><amp-analytics type=\"x\"><script type=\"application/json\">{}</script></amp-analytics></body></html>"
	out, rep, err := newTestRewriter(t).Rewrite([]byte(msg), decisionFor(Refused))
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, "amp-pixel") || strings.Contains(s, "amp-analytics") || strings.Contains(s, "t.example") {
		t.Errorf("AMP trackers left:\n%s", s)
	}
	if !strings.Contains(s, "cdn.shop.example/a.png") || rep.Trackers != 3 {
		t.Errorf("content lost or trackers miscounted (%d):\n%s", rep.Trackers, s)
	}
}

// Tiny or hidden, also through a hidden parent; thin dividers and
// responsive "mobile only" blocks are content.
func TestTinyAndHidden(t *testing.T) {
	cases := []struct {
		body    string
		tracker bool
		reason  string
	}{
		{`<img src="https://a.example/x.gif" width="1" height="1">`, true, "tiny:1x1"},
		{`<img src="https://a.example/x.gif" style="width:0px;height:0px">`, true, "tiny:0x0"},
		{`<img src="https://a.example/x.gif" width="2">`, true, "tiny:2x?"},
		{`<img src="https://a.example/x.gif" width="600" height="1">`, false, ""},
		{`<img src="https://a.example/x.gif" width="1" height="23">`, false, ""},
		// Hidden or small but a static image the same for everyone: the
		// markup alone is no evidence (content on some screens, an icon).
		{`<img src="https://a.example/x.gif" width="5" height="5">`, false, "tiny:5x5,static-image"},
		{`<img src="https://a.example/x.gif" width="300" style="display:none">`, false, "hidden,static-image"},
		{`<img src="https://a.example/x.gif" width="300" style="visibility:hidden">`, false, "hidden,static-image"},
		{`<img src="https://a.example/x.gif" width="300" hidden>`, false, "hidden,static-image"},
		{`<div style="max-height:0;overflow:hidden"><table><tr><td><img src="https://a.example/x.gif" width="300"></td></tr></table></div>`, false, "hidden-parent,static-image"},
		// ... and with something in the URL that can tell readers apart,
		// the markup decides.
		{`<img src="https://a.example/x.gif?c=9" width="5" height="5">`, true, "tiny:5x5"},
		{`<img src="https://a.example/o/k7Hq2Lm9Xp4Rt8.gif" width="300" style="display:none">`, true, "hidden"},
		{`<img src="https://a.example/x" width="300" style="visibility:hidden">`, true, "hidden"},
		{`<img src="https://a.example/x.gif?n=42" width="300" style="opacity:0">`, true, "hidden"},
		{`<div style="max-height:0;overflow:hidden"><table><tr><td><img src="https://a.example/b4c33686-686c-46ab-9281-cdb6fe82b1f9.png" width="300"></td></tr></table></div>`, true, "hidden-parent"},
		{`<div style="display:none"><p>a</p></div><img src="https://a.example/x.gif" width="300">`, false, ""},
		{`<style>@media (max-width:600px){.m{display:block!important}}</style><div class="m" style="display:none"><img src="https://a.example/x.gif" width="300"></div>`, false, ""},
		{`<img src="https://a.example/img/spacer.gif" width="1" height="1">`, false, "static-spacer"},
		{`<img src="https://a.example/Ab12Cd34Ef56Gh78Ij90/spacer.gif" width="1" height="1">`, true, "tiny"},
	}
	for _, c := range cases {
		_, rep := rewriteHTML(t, c.body, decisionFor(Refused))
		f := findingFor(rep, rep.Findings[len(rep.Findings)-1].URL)
		if (f.Class == ClassTracker) != c.tracker || !strings.Contains(f.Reason, c.reason) {
			t.Errorf("%s\n  got %s (%s), want tracker=%v reason %q", c.body, f.Class, f.Reason, c.tracker, c.reason)
		}
	}
}

// The recipient's identity in every form the issue lists, in a query or a
// path: a content image keeps working with the identifier taken out.
func TestIdentityForms(t *testing.T) {
	addr := "Reader.Name+news@Example.com"
	low := strings.ToLower(addr)
	md := md5.Sum([]byte(low))
	s1 := sha1.Sum([]byte(low))
	s2 := sha256.Sum256([]byte(low))
	forms := map[string]string{
		"plain":      low,
		"urlencoded": url.QueryEscape(addr),
		"base64":     base64.StdEncoding.EncodeToString([]byte(addr)),
		"md5":        hex.EncodeToString(md[:]),
		"sha1":       strings.ToUpper(hex.EncodeToString(s1[:])),
		"sha256":     hex.EncodeToString(s2[:]),
	}
	d := Decision{Recipient: addr, Consent: Refused, URLs: testURLs(addr)}
	for form, v := range forms {
		for _, u := range []string{
			"https://img.shop.example/banner.png?v=2&who=" + v,
			"https://img.shop.example/" + url.PathEscape(v) + "/banner.png",
		} {
			out, rep := rewriteHTML(t, `<img src="`+u+`" width="600">`, d)
			f := findingFor(rep, u)
			if f == nil || f.Class != ClassPerRecipient || !strings.Contains(f.Reason, "identity-"+form) {
				t.Errorf("%s in %s: finding %+v", form, u, f)
				continue
			}
			if strings.Contains(out, v) || strings.Contains(out, url.PathEscape(v)) || !strings.Contains(out, "banner.png") {
				t.Errorf("%s: identifier not removed or image lost:\n%s", form, out)
			}
		}
	}
	// base64 of the address inside a longer encoded blob.
	blob := base64.RawURLEncoding.EncodeToString([]byte(`{"id":7,"email":"` + addr + `"}`))
	_, rep := rewriteHTML(t, `<img src="https://x.example/i.png?d=`+blob+`" width="600">`, d)
	if f := rep.Findings[0]; !strings.Contains(f.Reason, "identity-base64") {
		t.Errorf("base64 inside a blob not found: %+v", f)
	}
}

// Granted: exactly one pixelgate pixel, in place of the ESP pixel, with the
// original URL passed to PixelURL; third-party trackers still go.
func TestGrantedSwap(t *testing.T) {
	const esp = "https://u1.ct.sendgrid.net/wf/open?upn=Zx81Kq3Lm5Np7Rs9Tv1Wx3Yz5Ab7Cd9Ef"
	const ad = "https://p.adnet.example/em/1.gif?m=Ab12Cd34Ef56Gh78Ij90Kl"
	d := decisionFor(Granted)
	out, rep := rewriteHTML(t, `<p>a</p><img src="`+esp+`" width="1" height="1"><img src="`+ad+`" width="1" height="1">`, d)
	want, _ := d.URLs.PixelURL(PurposeOpen, esp)
	if !rep.PixelSwapped || !rep.PixelAdded || strings.Count(out, "/o/") != 1 || !strings.Contains(out, `<p>a</p><img src="`+want+`"`) {
		t.Errorf("want exactly one pixel %s where the ESP pixel was:\n%s", want, out)
	}
	if strings.Contains(out, "sendgrid") || strings.Contains(out, "adnet") {
		t.Errorf("tracker left for a consenting recipient:\n%s", out)
	}

	// No ESP pixel: added before </body>.
	out, rep = rewriteHTML(t, `<p>hello</p>`, d)
	px, _ := d.URLs.PixelURL(PurposeOpen, "")
	if rep.PixelSwapped || !strings.Contains(out, `<img src="`+px+`"`) || !strings.HasSuffix(strings.TrimSpace(out), "</div></body></html>") {
		t.Errorf("pixel not added before </body>:\n%s", out)
	}

	// Deliverability exemption for a refusing recipient: date-only pixel,
	// never carrying the ESP URL.
	dd := Decision{Recipient: fixtureRcpt, Consent: Refused, Deliverability: true, URLs: testURLs(fixtureRcpt)}
	out, rep = rewriteHTML(t, `<img src="`+esp+`" width="1" height="1">`, dd)
	dpx, _ := dd.URLs.PixelURL(PurposeDeliverability, "")
	if rep.PixelPurpose != "deliverability" || strings.Count(out, "/o/") != 1 || !strings.Contains(out, dpx) {
		t.Errorf("deliverability pixel:\n%s", out)
	}
	// Refused without exemption: no pixel at all.
	out, rep = rewriteHTML(t, `<img src="`+esp+`" width="1" height="1">`, decisionFor(Refused))
	if rep.PixelAdded || strings.Contains(out, "/o/") {
		t.Errorf("pixel for a refusing recipient:\n%s", out)
	}
}

func TestFooterLanguageAndCharset(t *testing.T) {
	msg := "MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=b\n\n--b\n" +
		"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\nBonjour\n--b\n" +
		"Content-Type: text/plain; charset=us-ascii\n\nBonjour\n--b\n" +
		"Content-Type: text/html; charset=iso-8859-1\n\n<html lang=\"fr-FR\"><body>Bonjour</body></html>\n--b--\n"
	out, rep, err := newTestRewriter(t).Rewrite([]byte(msg), decisionFor(Unknown))
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !rep.FooterAdded || !strings.Contains(s, "G\xe9rer le suivi des ouvertures: https://pg.example.net/c/") ||
		!strings.Contains(s, "Gerer le suivi des ouvertures: https://") || !strings.Contains(s, "G&eacute;rer le suivi") {
		t.Errorf("French footers in Latin-1, 7bit ASCII and HTML expected:\n%q", s)
	}
	if strings.Contains(s, "\r\n") {
		t.Errorf("LF message got CRLF lines")
	}
}

func TestPlaceholders(t *testing.T) {
	body := `<p>{{pixelgate_consent_request}}</p><a href="{{pixelgate_consent_url}}">x</a>`
	d := decisionFor(Unknown)
	d.Ask = func() bool { return true }
	out, rep := rewriteHTML(t, body, d)
	cu, _ := d.URLs.ConsentURL()
	if rep.FooterAdded || !rep.ConsentRequested || strings.Contains(out, "{{") || strings.Count(out, cu) != 3 ||
		!strings.Contains(out, ">Allow</a>") || !strings.Contains(out, ">No thanks</a>") {
		t.Errorf("placeholders not filled as asked:\n%s", out)
	}
	d.Ask = nil
	out, rep = rewriteHTML(t, body, d)
	if rep.ConsentRequested || strings.Contains(out, "Allow") || !strings.Contains(out, "<p></p>") || strings.Count(out, cu) != 1 {
		t.Errorf("request block must be empty when not asking:\n%s", out)
	}
}

// Bad input is a *ParseError saying what and where, and no output.
func TestParseErrors(t *testing.T) {
	cases := map[string]struct{ msg, want string }{
		"no closing boundary": {"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>", "closing delimiter"},
		"no boundary":         {"Content-Type: multipart/mixed\r\n\r\nbody", "without a boundary"},
		"bad base64 html": {"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x\r\n" +
			"Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPGh0bWw+*\r\n--x--\r\n", "part 2 at byte"},
		"utf-16 html":  {"Content-Type: text/html; charset=UTF-16\r\n\r\n<\x00p\x00>\x00", "not ASCII-compatible"},
		"uuencode":     {"Content-Type: text/html\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin", "unsupported Content-Transfer-Encoding"},
		"too deep":     {deepMessage(60), "nesting"},
		"no subtype":   {"Content-Type: text\r\n\r\nx", "no subtype"},
		"bad multi ct": {"Content-Type: multipart/mixed; boundary=\"x\r\n\r\nx", "closing delimiter"},
	}
	rw := newTestRewriter(t)
	for name, c := range cases {
		out, rep, err := rw.Rewrite([]byte(c.msg), decisionFor(Refused))
		var pe *ParseError
		if !errors.As(err, &pe) || out != nil || rep != nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v (out %d bytes), want ParseError containing %q", name, err, len(out), c.want)
		}
	}
}

// message/rfc822 attachments and attached HTML files are not rewritten.
func TestAttachmentsUntouched(t *testing.T) {
	inner := "Content-Type: text/html\r\n\r\n<img src=\"https://u1.ct.sendgrid.net/wf/open?upn=Zx81Kq3Lm5Np7Rs9Tv1\">"
	msg := "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--x\r\n" +
		"Content-Type: message/rfc822\r\n\r\n" + inner + "\r\n--x\r\nContent-Type: text/html\r\nContent-Disposition: attachment; filename=a.html\r\n\r\n" + inner + "\r\n--x--\r\n"
	out, rep, err := newTestRewriter(t).Rewrite([]byte(msg), decisionFor(Refused))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(out), inner) != 2 || len(rep.PartsRewritten) != 1 || rep.PartsRewritten[0] != "1" {
		t.Errorf("attachments changed (rewritten %v):\n%s", rep.PartsRewritten, out)
	}
}

func deepMessage(n int) string {
	if n == 0 {
		return "Content-Type: text/html\r\n\r\n<p>x</p>"
	}
	b := "b" + itoa(n)
	return "Content-Type: multipart/mixed; boundary=" + b + "\r\n\r\n--" + b + "\r\n" + deepMessage(n-1) + "\r\n--" + b + "--\r\n"
}

// TestESPFamilies: the open pixel of each ESP family in testdata is found by
// its URL alone (an unsized image) and removed for a refusing recipient.
func TestESPFamilies(t *testing.T) {
	data, err := os.ReadFile("testdata/esp-pixels.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		family, u, _ := strings.Cut(line, "\t")
		out, rep := rewriteHTML(t, `<img src="`+u+`"><img src="https://cdn.shop.example/logo.png" width="200">`, decisionFor(Refused))
		f := findingFor(rep, u)
		if f == nil || f.Class != ClassTracker || f.Action != ActionRemoved {
			t.Errorf("%s: %s not removed: %+v", family, u, f)
		} else if strings.Contains(out, u) || !strings.Contains(out, "logo.png") {
			t.Errorf("%s: output still holds the pixel or lost the logo", family)
		}
		n++
	}
	if n < 15 {
		t.Errorf("only %d ESP families in the fixture", n)
	}
}

// Tracked links (R12): redirects whose destination is in the URL are
// unwrapped, identifying parameters go, opaque click trackers are reported
// and left; a consenting recipient with click analytics gets pixelgate's
// redirect. A second rewrite changes nothing.
func TestLinks(t *testing.T) {
	const (
		safelink = "https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fwww.shop.example%2Fsale%3Fmc_eid%3D8f0c0a0b2a%26utm_source%3Dnl&data=04"
		param    = "https://www.shop.example/p/1?utm_source=nl&_hsenc=p2ANqtz-8abc&x=1"
		opaque   = "https://u1.ct.sendgrid.net/ls/click?upn=Zx81Kq3Lm5Np7Rs9Tv1Wx3Yz5Ab7Cd9Ef"
		plain    = "https://www.shop.example/about"
	)
	body := `<a href="` + safelink + `">a</a><a href="` + param + `">b</a><a href="` + opaque + `">c</a><a href="` + plain + `">d</a><a href="mailto:x@shop.example">e</a>`
	rw := newTestRewriter(t)
	d := decisionFor(Refused)
	out, rep, err := rw.Rewrite(htmlMsg(body), d)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		`<a href="https://www.shop.example/sale?utm_source=nl">a</a>`,
		`<a href="https://www.shop.example/p/1?utm_source=nl&amp;x=1">b</a>`,
		`<a href="` + opaque + `">c</a>`,
		`<a href="` + plain + `">d</a>`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s in\n%s", want, s)
		}
	}
	if rep.TrackedLinks != 3 || rep.LinksNeutralised != 2 || rep.LinksOpaque != 1 || rep.Remote != 0 {
		t.Errorf("link counts: %+v", rep)
	}
	again, _, err := rw.Rewrite(out, d)
	if err != nil || !bytes.Equal(again, out) {
		t.Errorf("second rewrite changed links (%v):\n%s", err, firstDiff(out, again))
	}

	g := decisionFor(Granted)
	g.TrackClicks = true
	out, _, err = rw.Rewrite(htmlMsg(body), g)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, _ := g.URLs.LinkURL("https://www.shop.example/sale?utm_source=nl")
	if !strings.Contains(string(out), `<a href="`+wrapped+`">a</a>`) || !strings.Contains(string(out), `<a href="`+opaque+`">c</a>`) {
		t.Errorf("granted with click analytics:\n%s", out)
	}
	again, _, err = rw.Rewrite(out, g)
	if err != nil || !bytes.Equal(again, out) {
		t.Errorf("second granted rewrite changed links (%v):\n%s", err, firstDiff(out, again))
	}
}

// Removing a tracker never joins text into a boundary line, whether the
// part's body is rewritten in place (8bit) or re-encoded: the rewrite
// either keeps the text apart or refuses the message, never changes the
// structure.
func TestBoundaryJoinRefused(t *testing.T) {
	rw := newTestRewriter(t)
	for _, cte := range []string{"8bit", "quoted-printable"} {
		img := `<img src="https://u1.ct.sendgrid.net/wf/open?upn=Ab12Cd34Ef56Gh78Ij90" width="1" height="1">`
		if cte == "quoted-printable" {
			img = strings.ReplaceAll(img, "=", "=3D")
		}
		for _, line := range []string{"--" + img + "zz--", img + "--zz", "-" + img + "-zz"} {
			msg := "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"zz\"\r\n\r\n" +
				"--zz\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
				"--zz\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: " + cte + "\r\n\r\n" +
				"<p>before</p>\r\n" + line + "\r\n<p>after</p>\r\n" +
				"--zz--\r\n"
			out, _, err := rw.Rewrite([]byte(msg), decisionFor(Refused))
			if err != nil {
				var pe *ParseError
				if !errors.As(err, &pe) || out != nil {
					t.Errorf("%s %q: %v", cte, line, err)
				}
				continue
			}
			if bytes.Contains(out, []byte("sendgrid")) {
				t.Errorf("%s %q: tracker left", cte, line)
			}
			if n := bytes.Count(out, []byte("\n--zz")); n != 3 {
				t.Errorf("%s %q: %d boundary lines after the rewrite, want 3:\n%s", cte, line, n, out)
			}
		}
	}
}

// Decision.Ask is asked only for a message with the request placeholder,
// once however many placeholders it has, and its answer is what fills them.
func TestAskOnlyWhenPlaceholder(t *testing.T) {
	rw := newTestRewriter(t)
	for _, tc := range []struct {
		body   string
		answer bool
		calls  int
		block  bool
	}{
		{"<p>no placeholder</p>", true, 0, false},
		{"<p>{{pixelgate_consent_request}}</p><p>{{pixelgate_consent_request}}</p>", true, 1, true},
		{"<p>{{pixelgate_consent_request}}</p>", false, 1, false},
	} {
		calls := 0
		d := decisionFor(Unknown)
		d.Ask = func() bool { calls++; return tc.answer }
		msg := "Content-Type: text/html\r\n\r\n" + tc.body
		out, rep, err := rw.Rewrite([]byte(msg), d)
		if err != nil {
			t.Fatal(err)
		}
		if calls != tc.calls || rep.ConsentRequested != tc.block {
			t.Errorf("%q: Ask called %d times (want %d), request block %v (want %v)", tc.body, calls, tc.calls, rep.ConsentRequested, tc.block)
		}
		if bytes.Contains(out, []byte("{{pixelgate_consent_request}}")) {
			t.Errorf("%q: placeholder left in the output", tc.body)
		}
	}
}
