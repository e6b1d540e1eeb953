package mailrewrite

import (
	"net/url"
	"strings"
	"testing"
)

// detectCase is one image in a message for a refusing recipient and what
// must happen to it.
type detectCase struct {
	name   string
	body   string // the HTML; it holds url once
	url    string
	action string // the finding's action
	reason string // a reason code the finding must carry ("" any)
	out    string // the URL left in the message ("" when removed)
}

func checkDetect(t *testing.T, cases []detectCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, rep := rewriteHTML(t, c.body, decisionFor(Refused))
			f := findingFor(rep, c.url)
			if f == nil {
				t.Fatalf("no finding for %s; findings %+v", c.url, rep.Findings)
			}
			if f.Action != c.action || (c.reason != "" && !strings.Contains(","+f.Reason+",", ","+c.reason)) {
				t.Errorf("%s: action %s reason %s; want %s with %s", c.url, f.Action, f.Reason, c.action, c.reason)
			}
			if c.out != "" && !strings.Contains(out, `"`+c.out+`"`) && !strings.Contains(out, `"`+escapeAttr(c.out)+`"`) {
				t.Errorf("want %s in the message:\n%s", c.out, out)
			}
		})
	}
}

// A parameter is taken out of a content image only on evidence that it
// identifies the reader: the address in some form, a name ESPs use for the
// recipient, a rule. Random-looking campaign codes, file and creative ids
// are the same for every recipient, and a signed URL is never altered.
func TestStripOnlyOnEvidence(t *testing.T) {
	const img = `<img width="300" src="`
	fileID := "https://files.example/uc?export=view&id=16GcBF2h-iJzmxvaENq7_J3WHQ5b3EntN"
	adID := "https://ads.example/serve/img?id=Zk3u9QmP2rT7vX1yB5nC&zone=12"
	proxy := "https://proxy.mail.example/mail?url=https%3A%2F%2Fx.example%2Fa.png&t=1610616070&ymreqid=f636fad6-4dfd-f99a-1c12-d90007018900&sig=OHJFAKzoYce7JYgff972AQ--~D"
	gproxy := "https://ci3.googleusercontent.com/proxy/sZeyTTjxRz9_LZ91fSBvXSQBi79rJChz003h_zUo55I18foF=s0-d-e1-ft#https://s.example/logo.png"
	fbcdn := "https://scontent.example/v/p50x50/36935697_n.jpg?_nc_cat=107&_nc_ohc=x-8XVuMChS0AQk89xEwYTsvJFPn51YGT&oh=2ab1a7ec32a4fc821d417e21859dd455&oe=5E6B5009"
	brevo := "https://img.shop.example/p.jpg?e=Xk29FqLmZt8RwP3nVb7CyA"
	signedID := "https://cdn.shop.example/a.png?email=reader%40example.com&sig=9f8e7d6c5b4a"
	checkDetect(t, []detectCase{
		{"file id", img + fileID + `">`, fileID, ActionKept, ReasonContent, fileID},
		{"ad creative id", img + adID + `">`, adID, ActionKept, ReasonContent, adID},
		{"signed webmail proxy", img + proxy + `">`, proxy, ActionKept, ReasonContent, proxy},
		{"gmail image proxy", img + gproxy + `">`, gproxy, ActionKept, ReasonContent, gproxy},
		{"signed cdn", img + fbcdn + `">`, fbcdn, ActionKept, ReasonContent, fbcdn},
		{"recipient parameter", img + brevo + `">`, brevo, ActionIdentifierRemoved, ReasonToken, "https://img.shop.example/p.jpg"},
		{"identity in a signed url", img + signedID + `">`, signedID, ActionRemoved, "signed-url", ""},
	})
}

// A Content-Transfer-Encoding no one defined ("8bit+") is shown by mail
// programs as it is: the part is read and rewritten as identity, not
// refused, and its tracker goes.
func TestUnknownTransferEncodingIsIdentity(t *testing.T) {
	const trk = "https://u1.ct.sendgrid.net/wf/open?upn=Zx81Kq3Lm5Np7Rs9Tv1Wx3Yz5Ab7Cd9Ef"
	for _, cte := range []string{"8bit+", "7-bit", "X-unknown"} {
		msg := "From: a@shop.example\r\nTo: reader@example.com\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n" +
			"--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: " + cte + "\r\n\r\n" +
			"<html><body><p>Caf\xc3\xa9</p><img src=\"" + trk + "\"><img src=\"https://cdn.shop.example/logo.png\"></body></html>\r\n--b--\r\n"
		out, rep, err := newTestRewriter(t).Rewrite([]byte(msg), decisionFor(Refused))
		if err != nil {
			t.Fatalf("%s: %v", cte, err)
		}
		if f := findingFor(rep, trk); f == nil || f.Action != ActionRemoved || strings.Contains(string(out), "sendgrid") {
			t.Errorf("%s: tracker not removed: %+v", cte, f)
		}
		if !strings.Contains(string(out), "Content-Transfer-Encoding: "+cte+"\r\n") ||
			!strings.Contains(string(out), "<p>Caf\xc3\xa9</p><img src=\"https://cdn.shop.example/logo.png\">") {
			t.Errorf("%s: part not kept as it was around the edit:\n%s", cte, out)
		}
	}
}

// Open pixels the markup does not give away: vendor endpoints on the
// sender's own host (Sailthru's link domain, Odoo), a SALESmanago pixel as
// a CSS background, an image endpoint named /track, an open path whose
// token is an unfilled merge field, and a background on a 1px element.
func TestUnsizedOpenPixels(t *testing.T) {
	sailthru := "https://link.news.example/img/5f976ba26365176ab66146a8j4frq.1c2b/b5cf7cc0.gif"
	odoo := "https://shop.example/mail/track/368168/blank.gif?db=odoo"
	sm := "https://app3.salesmanago.pl/api/vh108y66ehpysfmz/b5881056-41e3-46a3-8f80-2ca658999325/d473a9ca-98a6-11ee-8337-3cfdfeb6ee14/t.gif"
	bare := "https://news.example/track"
	merge := "http://news.example/track/[open]"
	bg := "http://t.news.example/kugbxhafbcybv=kwctvavtkwawk0bg9m"
	checkDetect(t, []detectCase{
		{"sailthru link domain", `<img src="` + sailthru + `" alt="">`, sailthru, ActionRemoved, "rule:sailthru-img-anyhost", ""},
		{"odoo", `<img src="` + odoo + `">`, odoo, ActionRemoved, "rule:odoo-mail-track", ""},
		{"salesmanago background", `<td style="background-image:url('` + sm + `')">x</td>`, sm, ActionRemoved, "rule:salesmanago-tgif", ""},
		{"bare track endpoint", `<img src="` + bare + `">`, bare, ActionRemoved, ReasonOpenEndpoint, ""},
		{"merge field", `<img src="` + merge + `">`, merge, ActionRemoved, ReasonOpenEndpoint, ""},
		{"1px background", `<div style="background: url('` + bg + `') no-repeat;height:1px;width:1;"> </div>`, bg, ActionRemoved, "tiny", ""},
	})
	// A background on an element of ordinary size is judged by its URL.
	big := "https://cdn.news.example/hero.jpg"
	checkDetect(t, []detectCase{{"background", `<div style="background:url('` + big + `');height:300px">x</div>`, big, ActionKept, ReasonContent, ""}})
}

// An image whose URL is a tracking endpoint carrying the real image in its
// query is replaced by that image, judged itself: kept when it is content,
// cleaned when it carries a recipient parameter, removed with the wrapper
// when it is a tracker too. A query with two URLs is not guessed at, and a
// content image proxy (no tracker) stays as written.
func TestImageTrackingWrapper(t *testing.T) {
	const banner = "https://cdn.news.example/img/banner.png"
	wrapped := "https://t.news.example/track?c=9&value=" + url.QueryEscape(banner)
	raw := "https://t.news.example/track/open?id=p9unqonzo5iqumomk5uq&value=" + banner
	ruled := "https://u1.ct.sendgrid.net/ls/click?upn=Zx81Kq3Lm5Np7Rs9Tv1Wx3&url=" + url.QueryEscape("https://cdn.news.example/p/42")
	tokened := "https://t.news.example/track?value=" + url.QueryEscape("https://img.news.example/p.jpg?e=Xk29FqLmZt8RwP3nVb7CyA")
	innerTrk := "https://t.news.example/track?value=" + url.QueryEscape("https://t.other.example/open.gif?id=p9unqonzo5iqumomk5uq")
	two := "https://t.news.example/track?value=" + url.QueryEscape(banner) + "&ref=" + url.QueryEscape("https://shop.example/")
	nested := "https://t.news.example/track?value=" + url.QueryEscape("https://t.news.example/track/open.gif?id=p9unqonzo5iqumomk5uq&value="+url.QueryEscape(banner))
	hostile := "https://t.news.example/track?value=" + url.QueryEscape("https://cdn.news.example/a');background:url('https://t.evil.example/x.png")
	proxy := "https://proxy.mail.example/image?url=" + url.QueryEscape(banner)
	checkDetect(t, []detectCase{
		{"encoded", `<img src="` + wrapped + `" width="600">`, wrapped, ActionUnwrapped, ReasonImageUnwrapped, banner},
		{"plain in query", `<img src="` + raw + `">`, raw, ActionUnwrapped, ReasonImageUnwrapped, banner},
		{"destination parameter of a rule", `<img src="` + ruled + `">`, ruled, ActionUnwrapped, "rule:sendgrid-click", "https://cdn.news.example/p/42"},
		{"inner recipient parameter", `<img src="` + tokened + `">`, tokened, ActionUnwrapped, ReasonImageUnwrapped, "https://img.news.example/p.jpg"},
		{"inner tracker", `<img src="` + innerTrk + `">`, innerTrk, ActionRemoved, ReasonInnerTracker, ""},
		{"two urls", `<img src="` + two + `">`, two, ActionRemoved, ReasonOpenEndpoint, ""},
		{"nested", `<img src="` + nested + `">`, nested, ActionUnwrapped, ReasonImageUnwrapped, banner},
		{"css background", `<td style="background-image:url('` + wrapped + `')">x</td>`, wrapped, ActionUnwrapped, ReasonImageUnwrapped, ""},
		{"content proxy", `<img src="` + proxy + `">`, proxy, ActionKept, ReasonContent, proxy},
	})
	// The inner URL stays one URL wherever it is written: what would end
	// a CSS url() or an attribute is percent-encoded.
	out, _ := rewriteHTML(t, `<td style="background-image:url('`+hostile+`')">x</td>`, decisionFor(Refused))
	if strings.Contains(out, "evil") && !strings.Contains(out, "a%27%29;background:url%28%27https://t.evil.example/x.png") {
		t.Errorf("inner URL escaped its url():\n%s", out)
	}
	if rep, err := newTestRewriter(t).Scan([]byte(out), fixtureRcpt); err != nil || len(rep.Findings) != 1 {
		t.Errorf("rewritten copy holds %d resources (%v), want the one image", len(rep.Findings), err)
	}
	// A consenting recipient gets the image too, and pixelgate's pixel
	// in the wrapper's stead.
	out, rep := rewriteHTML(t, `<img src="`+wrapped+`">`, decisionFor(Granted))
	if f := findingFor(rep, wrapped); f == nil || f.Action != ActionUnwrapped || !strings.Contains(out, `src="`+banner+`"`) ||
		strings.Count(out, "https://pg.example.net/o/") != 1 {
		t.Errorf("granted: finding %+v, output:\n%s", f, out)
	}
}

// An unsized image with an open-endpoint or id-shaped path on a host the
// same message uses for click redirects is the platform's open pixel,
// wherever it sits relative to the links. Without such a link, with a
// declared size, as a photo or on another host it stays.
func TestClickHostOpenPixel(t *testing.T) {
	px := "https://links.news.example/o2/1234567/9f86d081884c7d65.gif"
	numHash := "https://links.news.example/m/368168-9f86d081.gif"
	open := "https://links.news.example/newsletter/opened"
	photo := "https://links.news.example/m/9f86d081884c7d6512ab.jpg"
	other := "https://cdn.news.example/o2/1234567/9f86d081884c7d65.gif"
	logo := "https://links.news.example/assets/logo.gif"
	link := `<a href="https://links.news.example/ls/click?upn=8DVaPYyYoG9qGLem">Shop</a>`
	unquoted := `<A HREF=https://links.news.example/ls/click?upn=8DVaPYyYoG9qGLem&amp;x=1>Shop</A>`
	checkDetect(t, []detectCase{
		{"pixel before the link", `<img src="` + px + `" alt="">` + link, px, ActionRemoved, ReasonClickHost, ""},
		{"pixel after the link", link + `<img src="` + px + `">`, px, ActionRemoved, ReasonClickHost, ""},
		{"unquoted upper-case href", `<img src="` + px + `">` + unquoted, px, ActionRemoved, ReasonClickHost, ""},
		{"numeric id and hash", `<img src="` + numHash + `">` + link, numHash, ActionRemoved, ReasonClickHost, ""},
		{"open endpoint name", `<img src="` + open + `">` + link, open, ActionRemoved, ReasonClickHost, ""},
		{"no click link", `<img src="` + px + `"><a href="https://links.news.example/about">About</a>`, px, ActionKept, ReasonContent, px},
		{"sized", `<img src="` + px + `" width="600" height="300">` + link, px, ActionKept, ReasonContent, px},
		{"photo", `<img src="` + photo + `">` + link, photo, ActionKept, ReasonContent, photo},
		{"other host", `<img src="` + other + `">` + link, other, ActionKept, ReasonContent, other},
		{"named file", `<img src="` + logo + `">` + link, logo, ActionKept, ReasonContent, logo},
	})
	// For a consenting recipient it is the open pixel pixelgate's takes
	// the place of.
	out, rep := rewriteHTML(t, `<img src="`+px+`">`+link, decisionFor(Granted))
	if f := findingFor(rep, px); f == nil || f.Action != ActionSwapped || strings.Count(out, "https://pg.example.net/o/") != 1 {
		t.Errorf("granted: finding %+v, output:\n%s", f, out)
	}
}

// idShapedPath: opaque ids, hashes and numeric id + hash pairs; not the
// names, dates, sizes and counters of content image paths.
func TestIDShapedPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/o/p9unqonzo5iqumomk5uqX3b.gif":            true,
		"/img/9f86d081884c7d65.gif":                 true,
		"/m/368168/9f86d081.gif":                    true,
		"/m/9f86d081/368168":                        true,
		"/m/368168_9f86d081.gif":                    true,
		"/images/logo2019confidentcomputing600.png": false,
		"/ext/img/product/angebote/23_01_18/400_kunststoffbehaelter_799_wo.png": false,
		"/imgs/35/7/5/5/6/4/1/8/9/header.jpg":                                   false,
		"/m/2023/12345678.gif":                                                  false,
		"/m/368168/cafe.gif":                                                    false,
	} {
		if got := idShapedPath(path); got != want {
			t.Errorf("idShapedPath(%q) = %v, want %v", path, got, want)
		}
	}
}
