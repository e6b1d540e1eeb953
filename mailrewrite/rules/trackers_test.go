package rules

import (
	"fmt"
	"net/url"
	"testing"
)

func defaultSet(t testing.TB) *Set {
	t.Helper()
	s, err := Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	return s
}

func mustURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return u
}

// Each vendor family: a realistic tracking URL matches with the right
// vendor and kind, and a content image from the same vendor's hosting does
// not. The URLs are made up in the vendors' formats.
func TestMatchTrackerVendors(t *testing.T) {
	s := defaultSet(t)
	tests := []struct {
		url, vendor, kind string
	}{
		{"https://acme.us3.list-manage.com/track/open.php?u=5e78d7ef2297cc8084&id=2ed1232679&e=6496a8003f", "Mailchimp", "open"},
		{"https://acme.us3.list-manage.com/track/click?u=5e78d7ef2297cc8084&id=c3569d2df3&e=6496a8003f", "Mailchimp", "click"},
		{"https://us12.mailchimp.com/mctx/opens?xid=123&uid=abc", "Mailchimp", "open"},
		{"https://mandrillapp.com/track/open.php?u=30515288&id=8f0c0a0b2a0c4f", "Mandrill", "open"},
		{"https://mail.acme.com/track/open.php?u=30515288&id=8f0c0a0b2a0c4f", "Mailchimp", "open"},
		{"https://u1234.ct.sendgrid.net/wf/open?upn=abcDEF-2B123xyz", "SendGrid", "open"},
		{"https://u1234.ct.sendgrid.net/ls/click?upn=abcDEF-2B123xyz", "SendGrid", "click"},
		{"https://links.shop.example/wf/open?upn=8DVaPYyYoG9qGLem", "SendGrid", "open"},
		{"https://trk.klclick.com/wf/open?upn=8DVaPYyYoG9qGLemYc-2Fqld", "Klaviyo", "open"},
		{"https://trk.klclick.com/ls/click?upn=L3exNPy0YRiEtcQ01B", "Klaviyo", "click"},
		{"https://ctrk.klclick3.com/o/abc123", "Klaviyo", "open"},
		{"https://trk.klaviyomail.com/abc/open.gif", "Klaviyo", "open"},
		{"https://email.mg.example.org/o/eJwljEEOgyAQRU_DLg0gYlywcNNrkGEYK1HRMKDx9kWb_Mx7i5_5s82kgI", "Mailgun", "open"},
		{"https://email.mg.example.org/c/eJwljEEOgyAQRU_DLg0gYlywcNNrkGEYK1HRMKDx9kWb_Mx7i5_5s82kgI", "Mailgun", "click"},
		{"https://abcdef12.r.us-east-1.awstrack.me/I0/0100018b5f3c2a1d-8e2f4a1b-1c2d-4e5f-9a8b-000000/xyz", "Amazon SES", "open"},
		{"https://t.news.example.com/I0/0100018b5f3c2a1d-8e2f4a1b-1c2d-4e5f-9a8b-000000/xyz", "Amazon SES", "open"},
		{"https://pstmrk.it/open?m=v3_1.abc&r=xyz", "Postmark", "open"},
		{"https://click.pstmrk.it/3s/example.com%2F/AbC/xyz/sig", "Postmark", "click"},
		{"http://go.sparkpostmail.com/q/22ca3lBlMyxzQXZHPP8obQ~~/AABO7gA~/RgRkvUagPVcDc3BjQgpi1aTB2mLvBOAPUhdh", "SparkPost", "open"},
		{"https://links.example.com/q/22ca3lBlMyxzQXZHPP8obQ~~/AABO7gA~/RgRkvUag", "SparkPost", "open"},
		{"https://links.example.com/f/a/22ca3lBlMyxzQXZHPP8obQ~~/AABO7gA~/RgRkvUag", "SparkPost", "click"},
		{"https://r.email.example.de/tr/op/8Va9zm620jliLZ8Ib48PeJjjd-_0e2Vt8dyIwyj7o_PVzcYCBp", "Brevo", "open"},
		{"https://r.email.example.de/tr/cl/KbNPRyPQjPQcDulkdpnFFNFgsqAcmItP1fN7f5gK", "Brevo", "click"},
		{"https://abc.sendibtd.com/track/o/xyz", "Brevo", "open"},
		{"http://amxe.net/uxz7dfiv-k6h71u6r-o6cz2uk0-1dg5.gif", "Newsletter2Go", "open"},
		{"https://amxe.net/uxz7dfiv-o6cz2uk0-uaiqiwjb-5oy", "Newsletter2Go", "click"},
		{"https://x7k2p.mjt.lu/oo/BAAABz1c2d3e4f5g6h/7e4d9a3c/e.gif", "Mailjet", "open"},
		{"https://news.example.com/oo/BAAABz1c2d3e4f5g6h/7e4d9a3c/e.gif", "Mailjet", "open"},
		{"https://x7k2p.mjt.lu/lnk/BAAABz1c2d3e4f5g6h/1/aBcD", "Mailjet", "click"},
		{"https://t.hubspotemail.net/e2t/to/VWl5xy8x2BpfW4Qx", "HubSpot", "open"},
		{"https://info.example.com/e2t/o/5/VWl5xy8x2BpfW4Qx", "HubSpot", "open"},
		{"https://d1NXYZ04.na1.hubspotlinks.com/Ctc/DM+113/d1NXYZ04/VWl5xy8x2", "HubSpot", "click"},
		{"https://example.com/e3t/Ctc/DM+113/d1NXYZ04/VWl5xy8x2", "HubSpot", "click"},
		{"https://click.e.example.com/open.aspx?ffcb10-fe8c1c7771640d7c71-fe2a15707d6d0c7c7c1c75", "Salesforce Marketing Cloud", "open"},
		{"https://click.e.example.com/?qs=3e1c6a7b9d0f2e4a6c8b0d2f4e6a8c0b2d4f6e8a0c2e4b6d", "Salesforce Marketing Cloud", "click"},
		{"http://pixel.inbox.exacttarget.com/pixel.gif?r=abc", "Salesforce Marketing Cloud", "open"},
		{"https://pi.pardot.com/r/123456/t/abc", "Pardot", "click"},
		{"https://ablink.e.example.com/ls/click?upn=abcDEF123", "Braze", "click"},
		{"https://links.example.com/s/eo/AbCdEf123/XyZ987/01", "Iterable", "open"},
		{"https://links.iterable.com/a/click?_t=abc&_m=def&_e=ghi", "Iterable", "click"},
		{"https://track.customer.io/e/o/eyJlbWFpbF9pZCI6IkRnVGpCZ0FBQVlBQUFBRkFBQUFBQUFBQUFBPT0ifQ==", "Customer.io", "open"},
		{"https://e.customeriomail.com/e/c/eyJlbWFpbF9pZCI6IkRnVGpCZ0FBQVlB", "Customer.io", "click"},
		{"https://acme.lt.acemlnb.com/Prod/link-tracker?nl=2&c=12&m=34&s=abc", "ActiveCampaign", "click"},
		{"https://acme.activehosted.com/lt.php?nl=2&c=12&m=34&s=abc&l=open", "ActiveCampaign", "open"},
		{"https://acme.cmail20.com/t/d-o-qkhjyt-l/o.gif", "Campaign Monitor", "open"},
		{"https://acme.cmail20.com/t/d-l-qkhjyt-jlhljuihkd-r/", "Campaign Monitor", "click"},
		{"https://r20.rs6.net/on.jsp?a=1102&r=3&c=abc&d=123&ch=x", "Constant Contact", "open"},
		{"https://r20.rs6.net/tn.jsp?f=001abc&c=xyz", "Constant Contact", "click"},
		{"https://open.convertkit-mail4.com/p9unqonzo5iqumomk5uq", "ConvertKit", "open"},
		{"https://click.convertkit-mail4.com/p9unqonzo5iqumomk5uq/6qheh8hprod6d4so/aHR0cHM6Ly96ZWl0", "ConvertKit", "click"},
		{"https://acme.substack.com/o/eyJhbGciOiJIUzI1NiJ9", "Substack", "open"},
		{"https://substack.com/redirect/2f1c7c8e-1111-2222-3333-444455556666?j=eyJ1", "Substack", "click"},
		{"https://mail.example.com/ss/o/AbC123.xyz/3xd/AbCdEf-123/ho.gif", "beehiiv", "open"},
		{"https://blog.example.com/r/4f7a9c2e?m=2f1c7c8e-1111-2222-3333-444455556666", "Ghost", "click"},
		{"https://link.sailthru.com/trk?abc", "Sailthru", "open"},
		{"https://go.example.com/trk?t=1&mid=MTIzLUFCQy00NTY6MToxMjM0", "Marketo", "open"},
		{"https://s1234.t.en25.com/e/FooterImages/FooterImage1?elq=abc&siteid=123", "Oracle Eloqua", "open"},
		{"https://img.en25.com/e/er?s=1&lid=2&elqTrackId=abc&elq=def", "Oracle Eloqua", "click"},
		{"https://news.example.com/e/er?s=1&lid=2&elqTrackId=abc&elq=def", "Oracle Eloqua", "click"},
		{"https://news.example.com/pub/as?_ri_=X0Gzc2X%3DYQpglLjHJlTQGlsg", "Oracle Responsys", "open"},
		{"https://acme.mkt4711.com/open?abc", "Acoustic", "open"},
		{"https://links.e.theatlantic.com/open/log/123/abc", "Acoustic", "open"},
		{"https://t.example.com/r/?id=h1a2b3c,9d8e7f,1", "Adobe Campaign", "open"},
		{"https://t.example.com/r/?id=h1a2b3c,9d8e7f,12", "Adobe Campaign", "click"},
		{"https://dpm.demdex.net/ibs:dpid=123", "Adobe Audience Manager", "analytics"},
		{"https://link.example.com/mo/AbCdEfGhIjKlMnOp12.gif", "Emarsys", "open"},
		{"https://suite1.emarsys.com/e2t/o/123/abc", "Emarsys", "open"},
		{"https://news.example.com/optiext/optiextension.dll?ID=abc", "Selligent", "open"},
		{"https://stats-eu2.crsend.com/stats/mc_121070_14141611_bd26b37c503-ro9gur.gif", "CleverReach", "open"},
		{"https://121070.seu2.cleverreach.com/c/79204320/bd26b37c503-ro9gur", "CleverReach", "click"},
		{"https://newsletter.example.de/d?o0c3tol00bmx3ed0h0000lgq00000000c5dbh3g052lovruo42pjs4yb2d0336", "Inxmail", "open"},
		{"https://rdir.inxmail.com/d?abc", "Inxmail", "click"},
		{"https://news.example.com/open.html?x=a62b&m=abc", "GetResponse", "open"},
		{"https://news.example.com/link/o/eyJ0eXAiOiJKV1Qi", "MailerLite", "open"},
		{"https://clicks.mlsend.com/tj/c/abc", "MailerLite", "click"},
		{"https://api.example.com/transactional/track/open?signature=abc", "Omnisend", "open"},
		{"https://www.dripemail2.com/o/abc", "Drip", "open"},
		{"https://via.intercom.io/o?ab=1", "Intercom", "open"},
		{"https://intercom-mail-200.com/via/o/abc", "Intercom", "open"},
		{"https://dqmaer86.emltrk.com/v2/dqmaer86?d=Vyau4ZI", "Litmus", "analytics"},
		{"http://li.example.com/imp?s=155387&sz=1x1&li=Daily&m=d08dd77f", "LiveIntent", "beacon"},
		{"https://oekoligenta.fairmailing.net/lists/ut.php?u=a3415d1d918ccd&m=28", "phpList", "open"},
		{"https://oekoligenta.fairmailing.net/lists/lt.php?tid=cR8CUwYAVQFSAUkBDAVSHQ", "phpList", "click"},
		{"https://de.ioam.de/tx.io?st=rponl&ct=010fff0fff", "INFOnline (IVW)", "analytics"},
		{"https://openrate.aweber.com/y/o/abc", "AWeber", "open"},
		{"HTTPS://Open.ConvertKit-Mail2.COM./abcdef", "ConvertKit", "open"},
		// Forms taken from the vendors' documentation or source (README
		// table): a URL in each form, other than the rule's own example.
		{"https://news.example.org/lists/campaign/e1b2c3d4-0000-4a1b-8c2d-3e4f5a6b7c8d/a0b1c2d3-1111-4e5f-9a8b-7c6d5e4f3a2b/px.png", "listmonk", "open"},
		{"https://news.example.org/link/00000000-1111-4222-8333-444444444444/e1b2c3d4-0000-4a1b-8c2d-3e4f5a6b7c8d/a0b1c2d3-1111-4e5f-9a8b-7c6d5e4f3a2b", "listmonk", "click"},
		{"https://mautic.example.org/email/5f3c9b1e2a7d4.gif", "Mautic", "open"},
		{"https://mautic.example.org/r/0123456789abcdef012345678?ct=YTo0OntzOjY6InNvdXJjZSI7YToyOntp", "Mautic", "click"},
		{"https://click.example.org/img/abcdef/Zx9Yw8Vu7Ts6Rq5P", "Postal", "open"},
		{"https://example.org/civicrm/mailing/open?qid=987", "CiviCRM", "open"},
		{"https://example.org/wp-content/plugins/civicrm/civicrm/extern/open.php?q=987", "CiviCRM", "open"},
		{"https://example.org/civicrm/mailing/url?u=7&qid=987", "CiviCRM", "click"},
		{"https://app.example.org/ahoy/messages/QeSfFVouRqwUiDU60YiFuk0RsSCFBIxK/click?signature=1663c9&url=https%3A%2F%2Fexample.org%2F", "Ahoy Email", "click"},
		{"https://sp.example.org/i?e=se&se_ca=email&se_ac=open&tv=no-js-0.1.0", "Snowplow", "open"},
		{"https://api.segment.io/v1/pixel/page?data=eyJ1c2VySWQiOiI0MiJ9", "Segment", "open"},
		{"https://mkto-q0123.com/ODM0LUdBVy0xNjgAAAGMabcdef", "Marketo", "click"},
	}
	for _, tc := range tests {
		m, ok := s.MatchTracker(mustURL(t, tc.url))
		if !ok {
			t.Errorf("%s: no match, want %s %s", tc.url, tc.vendor, tc.kind)
			continue
		}
		if m.Vendor != tc.vendor || m.Kind != tc.kind {
			t.Errorf("%s: got %s %s (rule %s), want %s %s", tc.url, m.Vendor, m.Kind, m.RuleID, tc.vendor, tc.kind)
		}
		if m.RuleID == "" {
			t.Errorf("%s: empty rule id", tc.url)
		}
	}
}

// Content hosted by the same vendors (logos, product photos, CDN assets)
// must never match: stripping it would break the email.
func TestMatchTrackerContentOfSameVendors(t *testing.T) {
	s := defaultSet(t)
	content := []string{
		"https://mcusercontent.com/5e78d7ef2297cc80842b7591e/images/1a2b3c4d-logo.png",
		"https://gallery.mailchimp.com/5e78d7ef2297cc80842b7591e/images/header.jpg",
		"https://acme.us3.list-manage.com/vcard?u=5e78d7ef2297cc80842b7591e&id=93b720b585",
		"https://d3k81ch9hvuctc.cloudfront.net/company/TXS8dR/images/91f6a664-43e1-4fd0-acaa-564f7a423619.png",
		"https://embed.filekitcdn.com/e/eL5LWq71Y2wMt3kNZCG5Ex/wRFssBaJq8ojJgJ4C5KzH1/email",
		"http://amxe.net/qp1sq8qr/s_uxz7dfiv/files/Logo_standard_RGB.png",
		"https://img.mailinblue.com/2670624/images/rnb/original/5f44f4cadaf403767c4b57a1.png",
		"https://img.email.example.de/im/2827948/98153d34c949b456c8017467a00ce94696335d875932fe3783c73c9672fb3542.png?e=XREzmznVNgapuUvel",
		"https://i1.createsend1.com/ei/d/0D/123/ABC/csimport/logo.png",
		"https://cdn.sendgrid.com/images/logo.png",
		"https://static.hsappstatic.net/logo.png",
		"https://f.hubspotusercontent10.net/hubfs/123/logo.png",
		"https://image.e.example.com/lib/fe9112/m/1/logo.png",
		"https://img06.en25.com/EloquaImages/clients/Acme/{abc}_logo.png",
		"https://s3.amazonaws.com/bucket/newsletter/hero.jpg",
		"https://cdn.shopify.com/s/files/1/0550/9061/0358/products/2022030090k_mix.png?v=1646911697",
		"https://substackcdn.com/image/fetch/w_1456/https%3A%2F%2Fbucket.s3.amazonaws.com%2Fimg.png",
		"https://media.beehiiv.com/cdn-cgi/image/fit=scale-down/uploads/asset/file/123/logo.png",
		"https://static.ghost.org/v5/images/logo.png",
		"https://assets.mlcdn.com/ml/images/icons/default/round/black/facebook.png",
		"https://gallery.mailchimp.com/track/open.php.png",
		"https://example.com/images/open.png",
		"https://example.com/r/logo.png",
		"https://example.com/d/d.png",
		"https://example.com/track/banner.jpg",
		"https://ts-svc.inxserver.com/transparent.gif",
		// Near misses of the documented open-source forms.
		"https://example.com/campaign/summer-sale/hero/px.png",
		"https://example.com/email/newsletter-header.gif",
		"https://example.com/img/header/logo-banner.png",
		"https://example.com/img/banner/summer2024.jpg",
		"https://example.com/i/logo.png",
		"https://example.com/i?size=large",
		"https://example.com/civicrm/mailing/open-graph.png",
		"https://example.com/ahoy/logo.gif",
		"https://121070.seu2.cleverreach.com/m/14141611/0-3c4dfa1f961676fd7b0e951f5905277da862cf",
		"https://mkt.com/opengraph.png",
		"https://firebasestorage.googleapis.com/v0/b/app.appspot.com/o/images%2Fphoto.jpg?alt=media&token=2f1c7c8e-1111-2222-3333-444455556666",
		"cid:logo@example",
		"data:image/gif;base64,R0lGODlhAQABAAAAACw=",
	}
	for _, raw := range content {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("parse %q: %v", raw, err)
		}
		if m, ok := s.MatchTracker(u); ok {
			t.Errorf("content %s matched rule %s (%s)", raw, m.RuleID, m.Vendor)
		}
		if s.OpenEndpointShape(u) {
			t.Errorf("content %s has an open-endpoint shape", raw)
		}
	}
}

func TestMatchTrackerNil(t *testing.T) {
	s := defaultSet(t)
	if _, ok := s.MatchTracker(nil); ok {
		t.Error("nil URL matched")
	}
	if _, ok := s.MatchTracker(&url.URL{Scheme: "mailto", Opaque: "a@b.example"}); ok {
		t.Error("mailto matched")
	}
}

// A Set is shared by every rewrite of the relay: concurrent use gives the
// same answers as sequential use (and is clean under -race).
func TestConcurrentUse(t *testing.T) {
	s := defaultSet(t)
	answer := func(u *url.URL) string {
		m, _ := s.MatchTracker(u)
		d, id, _ := s.Unwrap(u)
		return fmt.Sprint(m, s.OpenEndpointShape(u), s.IdentifyingParams(u), d, id)
	}
	var us []*url.URL
	var want []string
	for _, raw := range benchURLs() {
		u := mustURL(t, raw)
		us = append(us, u)
		want = append(want, answer(u))
	}
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i, u := range us {
				if got := answer(u); got != want[i] {
					errs <- fmt.Sprintf("%s: concurrent %s, sequential %s", u, got, want[i])
					return
				}
			}
			errs <- ""
		}()
	}
	for g := 0; g < 4; g++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
