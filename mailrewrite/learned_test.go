package mailrewrite

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"html"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/mailrewrite/learn"
)

const linkRcpt = "reader@example.com"

// linkMsg is an HTML message with one link per href; extra header lines
// (List-Unsubscribe) go first.
func linkMsg(extraHeader string, hrefs ...string) []byte {
	var b strings.Builder
	b.WriteString("From: news@shop.example\r\nTo: " + linkRcpt + "\r\nSubject: t\r\nMIME-Version: 1.0\r\n" + extraHeader +
		"Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>\r\n")
	for i, h := range hrefs {
		b.WriteString(`<p><a href="` + html.EscapeString(h) + `">link ` + string(rune('A'+i%26)) + "</a></p>\r\n")
	}
	b.WriteString("</body></html>\r\n")
	return []byte(b.String())
}

func refused() Decision {
	return Decision{Recipient: linkRcpt, Consent: Refused, Campaign: "spring", URLs: testURLs(linkRcpt)}
}

// hrefs returns the href of every <a> of out, entities decoded.
func hrefs(out []byte) []string {
	var got []string
	s := string(out)
	for {
		i := strings.Index(s, `<a href="`)
		if i < 0 {
			return got
		}
		s = s[i+len(`<a href="`):]
		j := strings.IndexByte(s, '"')
		got = append(got, html.UnescapeString(s[:j]))
		s = s[j:]
	}
}

// linkCase is a link, what a refusing recipient's copy must hold instead,
// and (redirects) the rule that takes it apart.
type linkCase struct{ in, want, rule string }

// rewriteCases rewrites one message holding every case's link for a
// refusing recipient and checks each href.
func rewriteCases(t *testing.T, cases []linkCase) *Report {
	t.Helper()
	var in []string
	for _, c := range cases {
		in = append(in, c.in)
	}
	got, rep := rewriteLinks(t, linkMsg("", in...), refused())
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s\n  became %s\n  want   %s", c.in, got[i], c.want)
		}
	}
	return rep
}

func rewriteLinks(t *testing.T, msg []byte, d Decision) ([]string, *Report) {
	t.Helper()
	out, rep, err := newTestRewriter(t).Rewrite(msg, d)
	if err != nil {
		t.Fatal(err)
	}
	return hrefs(out), rep
}

// Every parameter family of the link rules: the per-recipient parameter
// goes, utm_* and other campaign-level parameters stay (R12).
func TestLinkParameterFamilies(t *testing.T) {
	cases := []linkCase{
		{"https://shop.example/p/1?utm_source=nl&mc_cid=abc123&mc_eid=8f0c0a0b2a", "https://shop.example/p/1?utm_source=nl&mc_cid=abc123", ""},
		{"https://www.shop.example/?_hsenc=p2ANqtz-8abc&_hsmi=123456&utm_campaign=spring", "https://www.shop.example/?utm_campaign=spring", ""},
		{"https://go.shop.example/page?mkt_tok=MTIzLUFCQy00NTY&utm_medium=email", "https://go.shop.example/page?utm_medium=email", ""},
		{"https://www.shop.example/?vero_id=42&vero_conv=abc", "https://www.shop.example/", ""},
		{"https://www.shop.example/a?oly_enc_id=1234A5678B&oly_anon_id=x&utm_source=nl", "https://www.shop.example/a?utm_source=nl", ""},
		{"https://www.shop.example/?sc_uid=abc&sc_llid=12&sfmc_id=3&utm_term=x", "https://www.shop.example/?utm_term=x", ""},
		{"https://www.shop.example/?ml_subscriber=123&ml_subscriber_hash=a1b2", "https://www.shop.example/", ""},
		{"https://www.shop.example/?_kx=abc.XYZ&_ke=YWxpY2U&utm_source=klaviyo", "https://www.shop.example/?utm_source=klaviyo", ""},
		{"https://www.shop.example/?vgo_ee=YWxpY2VAZXhhbXBsZS5vcmc%3D", "https://www.shop.example/", ""},
		{"https://www.shop.example/?__s=abc123&utm_content=hero", "https://www.shop.example/?utm_content=hero", ""},
		{"https://www.shop.example/?elqTrackId=abc&elqTrack=true&elq=def", "https://www.shop.example/", ""},
		{"https://www.shop.example/?omnisendContactID=5f1a2b&utm_source=omnisend", "https://www.shop.example/?utm_source=omnisend", ""},
		{"https://www.shop.example/x?email_md5=d08dd77fc8960dfee70de15c00ce42a2&hem=1&page=2", "https://www.shop.example/x?page=2", ""},
		{"https://www.shop.example/x?utm_source=nl#section", "https://www.shop.example/x?utm_source=nl#section", ""},
	}
	rep := rewriteCases(t, cases)
	if rep.Remote != 0 {
		t.Errorf("links counted as %d remote resources", rep.Remote)
	}
	if rep.TrackedLinks != len(cases)-1 || rep.LinksNeutralised != len(cases)-1 {
		t.Errorf("report: %d links, %d cleaned; want %d", rep.TrackedLinks, rep.LinksNeutralised, len(cases)-1)
	}
	if f := findingFor(rep, cases[0].in); f == nil || f.Class != ClassLinkTracker || f.Action != ActionIdentifierRemoved ||
		!strings.Contains(f.Reason, ReasonLinkParam) || f.Rewritten != cases[0].want {
		t.Errorf("finding for the Mailchimp link: %+v", f)
	}
}

// The recipient's address in a link, in every form identity detection
// knows, is taken out wherever it can be.
func TestLinkIdentity(t *testing.T) {
	sum := md5.Sum([]byte(linkRcpt))
	cases := []linkCase{
		{"https://shop.example/welcome?to=reader@example.com&utm_source=nl", "https://shop.example/welcome?utm_source=nl", ""},
		{"https://shop.example/welcome?to=reader%40example.com&lang=fr", "https://shop.example/welcome?lang=fr", ""},
		{"https://shop.example/welcome?h=" + hex.EncodeToString(sum[:]), "https://shop.example/welcome", ""},
		{"https://shop.example/p/" + hex.EncodeToString(sum[:]) + "/offer", "https://shop.example/p/offer", ""},
	}
	rep := rewriteCases(t, cases)
	for _, c := range cases {
		if f := findingFor(rep, c.in); f == nil || !strings.Contains(f.Reason, "identity-") {
			t.Errorf("%s: finding %+v", c.in, f)
		}
	}
}

// Every redirect format the link rules can take apart: the link goes
// straight to the destination, and the tracker never hears of the click.
func TestRedirectFormats(t *testing.T) {
	cases := []linkCase{
		{"https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fwww.shop.example%2Fpage&data=04", "https://www.shop.example/page", "unwrap-safelinks"},
		{"https://urldefense.proofpoint.com/v2/url?u=https-3A__www.shop.example_path&d=DwMFaQ", "https://www.shop.example/path", "unwrap-urldefense-v2"},
		{"https://urldefense.com/v3/__https://www.shop.example/a__;!!ABCdef!xyz$", "https://www.shop.example/a", "unwrap-urldefense-v3"},
		{"https://abc.r.us-east-1.awstrack.me/L0/https:%2F%2Fshop.example%2Fsale/1/0100018b5f3c2a1d/abc=123", "https://shop.example/sale", "unwrap-ses-click"},
		{"https://click.convertkit-mail4.com/p9unqonzo5iq/6qheh8hprod6/aHR0cHM6Ly9zaG9wLmV4YW1wbGUvcA==", "https://shop.example/p", "unwrap-convertkit-click"},
		{"https://www.google.com/url?q=https%3A%2F%2Fwww.shop.example%2F&sa=D", "https://www.shop.example/", "unwrap-google-url"},
		{"https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.shop.example%2F&h=AT0", "https://www.shop.example/", "unwrap-facebook-l"},
		{"https://link.shop.example/click/31234567.12345/aHR0cHM6Ly9zaG9wLmV4YW1wbGUvcA/5a1b2c3d", "https://shop.example/p", "unwrap-sailthru-click-anyhost"},
		{"https://news.shop.example/redirect?target=https%3A%2F%2Fwww.shop.example%2F", "https://www.shop.example/", "unwrap-generic-param-anyhost"},
		{"https://news.shop.example/x/12/aHR0cHM6Ly9zaG9wLmV4YW1wbGUvcA/y", "https://shop.example/p", "unwrap-generic-base64-segment"},
		// The destination's own per-recipient parameters go too.
		{"https://news.shop.example/r?url=https%3A%2F%2Fwww.shop.example%2F%3Futm_source%3Dnl%26mc_eid%3D8f0c0a0b2a", "https://www.shop.example/?utm_source=nl", "unwrap-generic-param-anyhost"},
	}
	rep := rewriteCases(t, cases)
	for _, c := range cases {
		f := findingFor(rep, c.in)
		if f == nil || f.Action != ActionUnwrapped || !strings.Contains(f.Reason, ReasonLinkUnwrapped+":"+c.rule) {
			t.Errorf("%s: finding %+v, want unwrapped by %s", c.in, f, c.rule)
		}
	}
}

// A click redirect that does not carry its destination stays: resolving
// it would register the click. It is reported and counted; per-recipient
// parameters the rules know still go.
func TestOpaqueRedirectsStayReported(t *testing.T) {
	const sendgrid = "https://u1234.ct.sendgrid.net/ls/click?upn=abcDEF-2B123xyz"
	const mailchimp = "https://acme.us3.list-manage.com/track/click?u=5e78d7ef2297cc8084&id=c3569d2df3&e=6496a8003f"
	got, rep := rewriteLinks(t, linkMsg("", sendgrid, mailchimp), refused())
	if got[0] != sendgrid {
		t.Errorf("opaque redirect changed to %s", got[0])
	}
	if got[1] != "https://acme.us3.list-manage.com/track/click?u=5e78d7ef2297cc8084&id=c3569d2df3" {
		t.Errorf("Mailchimp click kept its subscriber id: %s", got[1])
	}
	for _, u := range []string{sendgrid, mailchimp} {
		if f := findingFor(rep, u); f == nil || !strings.Contains(f.Reason, ReasonLinkOpaque) {
			t.Errorf("%s: finding %+v, want %s", u, f, ReasonLinkOpaque)
		}
	}
	if rep.LinksOpaque != 2 || rep.ReasonCounts()[ReasonLinkOpaque] != 2 {
		t.Errorf("opaque redirects counted %d (reasons %v), want 2", rep.LinksOpaque, rep.ReasonCounts())
	}
}

// Unsubscribe and preference links, List-Unsubscribe targets and
// pixelgate's own links are never touched, whatever they carry.
func TestLinksNeverTouched(t *testing.T) {
	header := "List-Unsubscribe: <mailto:u@shop.example?subject=x>, <https://shop.example/l/x?mc_eid=8f0c0a0b2a>\r\n"
	in := []string{
		"https://shop.example/l/x?mc_eid=8f0c0a0b2a",              // the List-Unsubscribe URL
		"https://shop.example/unsubscribe?mc_eid=8f0c0a0b2a",      // by its URL
		"https://shop.example/newsletter/abmelden?_hsenc=p2ANqtz", // German
		"https://acme.us3.list-manage.com/profile?u=5e7&id=c35&e=6496a8003f",
		"https://pg.example.net/c/abcdef",            // pixelgate's consent page
		"https://pg.example.net/l/abcdef?mc_eid=123", // pixelgate's click redirect
		"mailto:help@shop.example?body=reader@example.com",
	}
	msg := linkMsg(header, in...)
	// By its text: "Se désinscrire" around a tracked link.
	msg = bytes.Replace(msg, []byte("</body>"), []byte(`<a href="https://shop.example/go?mc_eid=8f0c0a0b2a"><span>Se d&eacute;sinscrire</span></a></body>`), 1)
	out, rep, err := newTestRewriter(t).Rewrite(msg, refused())
	if err != nil {
		t.Fatal(err)
	}
	got := hrefs(out)
	for i, h := range append(in, "https://shop.example/go?mc_eid=8f0c0a0b2a") {
		if got[i] != h {
			t.Errorf("%s changed to %s", h, got[i])
		}
	}
	if f := findingFor(rep, in[1]); f == nil || !strings.Contains(f.Reason, ReasonUnsubscribe) || f.Action != ActionKept || f.Rewritten != "" {
		t.Errorf("unsubscribe finding: %+v", f)
	}
	if !bytes.Contains(out, []byte(header)) {
		t.Error("List-Unsubscribe header changed")
	}
}

// Opt-in click analytics: a consenting recipient's links go through
// pixelgate's redirect, carrying the cleaned destination, except the
// unsubscribe link; without the setting, or without consent, nothing is
// wrapped.
func TestClickAnalytics(t *testing.T) {
	in := []string{
		"https://www.shop.example/sale?utm_source=nl&mc_eid=8f0c0a0b2a",
		"https://news.shop.example/r?url=https%3A%2F%2Fwww.shop.example%2Fb",
		"https://shop.example/unsubscribe?id=1",
	}
	d := Decision{Recipient: linkRcpt, Consent: Granted, Campaign: "spring", TrackClicks: true, URLs: testURLs(linkRcpt)}
	got, rep := rewriteLinks(t, linkMsg("", in...), d)
	urls := testURLs(linkRcpt)
	for i, dest := range []string{"https://www.shop.example/sale?utm_source=nl", "https://www.shop.example/b"} {
		want, _ := urls.LinkURL(dest)
		if got[i] != want {
			t.Errorf("%s became %s, want the redirect to %s", in[i], got[i], dest)
		}
		if f := findingFor(rep, in[i]); f == nil || f.Action != ActionWrapped {
			t.Errorf("%s: finding %+v", in[i], f)
		}
	}
	if got[2] != in[2] {
		t.Errorf("unsubscribe link wrapped: %s", got[2])
	}
	wrapped := 0
	for _, f := range rep.Findings {
		if f.Action == ActionWrapped {
			wrapped++
		}
	}
	if wrapped != 2 {
		t.Errorf("%d links reported wrapped, want 2", wrapped)
	}
	// Rewriting again does not wrap pixelgate's own redirect.
	out, _, err := newTestRewriter(t).Rewrite(linkMsg("", got...), d)
	if err != nil {
		t.Fatal(err)
	}
	if again := hrefs(out); again[0] != got[0] || again[1] != got[1] {
		t.Errorf("second rewrite changed %v to %v", got, again)
	}

	// Without the setting nothing is wrapped; links are cleaned as for
	// everyone.
	d.TrackClicks = false
	if got, _ := rewriteLinks(t, linkMsg("", in...), d); got[0] != "https://www.shop.example/sale?utm_source=nl" || got[1] != "https://www.shop.example/b" {
		t.Errorf("links without click analytics: %v", got)
	}
	d.Consent, d.TrackClicks = Refused, true
	if got, _ := rewriteLinks(t, linkMsg("", in...), d); strings.Contains(got[0], "/l/") {
		t.Errorf("a refusing recipient's link was wrapped: %s", got[0])
	}
}

// Links ride along in the rewrite's resources, in document order, for
// the learner.
func TestResourcesInDocumentOrder(t *testing.T) {
	msg := htmlMsg(`<img src="https://cdn.shop.example/a.png"><a href="https://shop.example/x?e=1">x</a>` +
		`<area href="https://shop.example/map"><div style="background:url(https://cdn.shop.example/bg.png)"></div>`)
	_, rep, err := newTestRewriter(t).Rewrite(msg, refused())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Resources {
		got = append(got, r.Carrier+" "+r.URL)
	}
	want := []string{"img https://cdn.shop.example/a.png", "link https://shop.example/x?e=1", "link https://shop.example/map", "style-attr https://cdn.shop.example/bg.png"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("resources\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// newLearning is a learner and a fresh campaign state with a fixed salt.
func newLearning(t *testing.T) (*learn.Learner, *learn.State) {
	t.Helper()
	l, err := learn.NewLearner([]byte("test"), learn.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	st, err := learn.NewState(bytes.NewReader(make([]byte, 16)))
	if err != nil {
		t.Fatal(err)
	}
	return l, st
}

// learnedCampaign returns what the learner knows after two copies of a
// campaign whose tokens no rule knows: a short id on a sender-domain
// image, a subscriber id on links, a token in an open pixel's path and in
// a click redirect's path.
func learnedCampaign(t *testing.T) (*learn.Shapes, func(n int) []byte) {
	t.Helper()
	msg := func(n int) []byte {
		id := []string{"a1b2c3d4e5", "f6e5d4c3b2", "9z8y7x6w5v"}[n]
		sid := []string{"4711001", "4711002", "4711003"}[n]
		return htmlMsg(`<img src="https://img.shop.example/hero/spring.jpg?u=` + id + `" width="600">` +
			`<a href="https://www.shop.example/sale?utm_source=nl&sid=` + sid + `">Sale</a>` +
			`<a href="https://go.shop.example/c/` + id + `Q7">Shop</a>` +
			`<img src="https://t.shop.example/o/` + id + `K9.gif" width="600" height="3">`)
	}
	l, st := newLearning(t)
	rw := newTestRewriter(t)
	for n := range 2 {
		rep, err := rw.Scan(msg(n), "")
		if err != nil {
			t.Fatal(err)
		}
		l.Observe(st, rep.Resources)
	}
	return st.Shapes(), msg
}

// What the campaign's copies showed to vary per recipient is treated as an
// identifier: the third recipient's content image keeps its URL without
// the token, links lose the parameter, a token in a path is reported.
func TestLearnedPartsAreIdentifiers(t *testing.T) {
	sh, msg := learnedCampaign(t)
	if sh.Len() == 0 {
		t.Fatal("nothing learned")
	}
	d := refused()
	d.Learned = sh
	out, rep, err := newTestRewriter(t).Rewrite(msg(2), d)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	// The click redirect's path token is the link itself: it stays (and is
	// reported below); the token is nowhere else.
	if n := strings.Count(s, "9z8y7x6w5v"); n != 1 || !strings.Contains(s, `href="https://go.shop.example/c/9z8y7x6w5vQ7"`) {
		t.Errorf("the third recipient's token appears %d times, want only in the click redirect:\n%s", n, s)
	}
	if !strings.Contains(s, `src="https://img.shop.example/hero/spring.jpg"`) {
		t.Errorf("the content image is not kept without its token:\n%s", s)
	}
	if !strings.Contains(s, `href="https://www.shop.example/sale?utm_source=nl"`) {
		t.Errorf("the link kept its subscriber id:\n%s", s)
	}
	if strings.Contains(s, "t.shop.example/o/9z8y7x6w5vK9") {
		t.Errorf("the open pixel kept its token:\n%s", s)
	}
	f := findingFor(rep, "https://go.shop.example/c/9z8y7x6w5vQ7")
	if f == nil || !strings.Contains(f.Reason, ReasonLinkOpaque) || !strings.Contains(f.Reason, "learned:path[1]") {
		t.Errorf("the click redirect with a learned path token: %+v", f)
	}
	// Without the learned shapes, the same copy keeps them: the rules
	// alone do not know these tokens.
	d.Learned = nil
	out, _, err = newTestRewriter(t).Rewrite(msg(2), d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "spring.jpg?u=9z8y7x6w5v") {
		t.Fatal("the fixture's token is caught by the rules: the test does not show learning")
	}
}
