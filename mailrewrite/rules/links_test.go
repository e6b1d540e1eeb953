package rules

import (
	"slices"
	"testing"
)

func TestIdentifyingParams(t *testing.T) {
	s := defaultSet(t)
	tests := []struct {
		url  string
		want []string
	}{
		{"https://shop.example.com/p/1?utm_source=nl&utm_campaign=w3&mc_cid=abc123&mc_eid=8f0c0a0b2a", []string{"mc_eid"}},
		{"https://www.example.com/?_hsenc=p2ANqtz-8abc&_hsmi=123456&utm_medium=email", []string{"_hsenc", "_hsmi"}},
		{"https://www.example.com/?%5Fhsenc=p2ANqtz-8abc", []string{"_hsenc"}},
		{"https://go.example.com/page?mkt_tok=MTIzLUFCQy00NTY", []string{"mkt_tok"}},
		{"https://www.example.com/?vero_id=42&vero_conv=abc", []string{"vero_id", "vero_conv"}},
		{"https://www.example.com/a?oly_enc_id=1234A5678B&oly_anon_id=x", []string{"oly_enc_id", "oly_anon_id"}},
		{"https://www.example.com/?sc_uid=abc&sc_cid=camp", []string{"sc_uid"}},
		{"https://www.example.com/?ml_subscriber=123&ml_subscriber_hash=a1b2", []string{"ml_subscriber", "ml_subscriber_hash"}},
		{"https://www.example.com/?_kx=abc.XYZ&utm_source=klaviyo", []string{"_kx"}},
		{"https://www.example.com/?vgo_ee=YWxpY2VAZXhhbXBsZS5vcmc%3D", []string{"vgo_ee"}},
		{"https://www.example.com/?elqTrackId=abc&elq=def&elqaid=12&elqat=1", []string{"elqTrackId", "elq"}},
		{"https://p.example.com/em/172/115/1318.gif?email_md5_lc=d08dd77fc8960dfee70de15c00ce42a2", []string{"email_md5_lc"}},
		{"https://acme.us3.list-manage.com/track/click?u=5e78d7ef2297cc80842b7591e&id=c3569d2df3&e=6496a8003f", []string{"e"}},
		{"https://img.email.example.de/im/2827948/98153d34c949b456c8017467a00ce94696335d875932fe3783c73c9672fb3542.png?e=XREzmznVNgap", []string{"e"}},
		{"https://www.example.com/?mc_eid=1&mc_eid=2", []string{"mc_eid"}},
		{"http://ads-d.openx.net/e/1.0/ai?auid=538021210&cs=538021210g_NG39CBIIRUHNSA1&c.channel=email", []string{"cs"}},
		{"http://li.example.com/imp?s=155386&layout=marquee&li=Daily&m=d08dd77fc8960dfee70de15c00ce42a2&p=x", []string{"m"}},
		{"http://www.example.com/imp?s=155386&m=d08dd77f", nil},
		// Not identifying, or not on these URLs.
		{"https://shop.example.com/p/1?utm_source=nl&utm_medium=email&utm_campaign=w3", nil},
		{"https://www.example.com/img/logo.png?e=1", nil},
		{"https://acme.us3.list-manage.com/unsubscribe?u=5e78d7ef2297cc80842b7591e&id=93b720b585&e=6496a8003f", nil},
		{"https://www.example.com/", nil},
		{"mailto:someone@example.com?subject=mc_eid", nil},
	}
	for _, tc := range tests {
		got := s.IdentifyingParams(mustURL(t, tc.url))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestUnwrap(t *testing.T) {
	s := defaultSet(t)
	tests := []struct {
		url, dest, rule string
	}{
		{"https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fwww.example.com%2Fpage%3Fa%3D1&data=04%7C01%7C&reserved=0",
			"https://www.example.com/page?a=1", "unwrap-safelinks"},
		{"https://urldefense.proofpoint.com/v2/url?u=https-3A__www.example.com_path_page.html-3Fa-3D1&d=DwMFaQ&c=abc&r=def",
			"https://www.example.com/path/page.html?a=1", "unwrap-urldefense-v2"},
		{"https://urldefense.com/v3/__https://www.example.com/a?b=1__;!!ABCdef!xyz$",
			"https://www.example.com/a?b=1", "unwrap-urldefense-v3"},
		{"https://urldefense.com/v3/__https://www.example.com/a*b__;Kw!!ABCdef!xyz$",
			"https://www.example.com/a+b", "unwrap-urldefense-v3"},
		{"https://abc.r.us-east-1.awstrack.me/L0/https:%2F%2Fshop.example.com%2Fsale%3Fx=1/1/0100018b5f3c2a1d-8e2f4a1b/abc=123",
			"https://shop.example.com/sale?x=1", "unwrap-ses-click"},
		{"https://click.convertkit-mail4.com/p9unqonzo5iqumomk5uq/6qheh8hprod6d4so/aHR0cHM6Ly96ZWl0enVsZWJlbi5kZS9uZXdzbGV0dGVyLw==",
			"https://zeitzuleben.de/newsletter/", "unwrap-convertkit-click"},
		{"http://t.livingsocial.com/track/g_NG39CBIIRUHNSA1SESS8LO9TUUDUL7VNKPJ4RA3OO7PGT5370C40?url=https%3A%2F%2Fwww.livingsocial.com%2Fgift-ideas%3Futm_medium%3Demail",
			"https://www.livingsocial.com/gift-ideas?utm_medium=email", "unwrap-livingsocial-track"},
		{"https://news.example.com/redirect?target=https%3A%2F%2Fwww.example.org%2F", "https://www.example.org/", "unwrap-generic-param-anyhost"},
		// The click form an ESP documents (Unosend's API reference).
		{"https://mail.shop.example/api/v1/track/click/abc123?url=https%3A%2F%2Fwww.example.org%2Fpage", "https://www.example.org/page", "unwrap-generic-param-anyhost"},
		{"https://news.example.com/click?u=aHR0cHM6Ly93d3cuZXhhbXBsZS5vcmcvcGF0aA", "https://www.example.org/path", "unwrap-generic-param-anyhost"},
		// ahoy_email's documented click forms carry the destination.
		{"https://app.example.org/ahoy/messages/QeSfFVouRqwUiDU60YiFuk0RsSCFBIxK/click?signature=1663c9093c5a&url=https%3A%2F%2Fwww.example.org%2Ftest%2F", "https://www.example.org/test/", "unwrap-generic-param-anyhost"},
		{"https://app.example.org/ahoy/click?c=welcome&u=https%3A%2F%2Fwww.example.org%2F&s=2b1f", "https://www.example.org/", "unwrap-generic-param-anyhost"},
		{"https://news.example.com/c/12/aHR0cHM6Ly93d3cuZXhhbXBsZS5vcmcvcGF0aA==/x", "https://www.example.org/path", "unwrap-generic-base64-segment"},
		// Nested: a safelink around an ESP redirect around the destination.
		{"https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fnews.example.com%2Fredirect%3Furl%3Dhttps%253A%252F%252Fwww.example.org%252Fx&data=1",
			"https://www.example.org/x", "unwrap-safelinks"},
	}
	for _, tc := range tests {
		dest, rule, ok := s.Unwrap(mustURL(t, tc.url))
		if !ok {
			t.Errorf("%s: not unwrapped, want %s", tc.url, tc.dest)
			continue
		}
		if dest.String() != tc.dest || rule != tc.rule {
			t.Errorf("%s: got %s (%s), want %s (%s)", tc.url, dest, rule, tc.dest, tc.rule)
		}
	}
}

func TestUnwrapRefuses(t *testing.T) {
	s := defaultSet(t)
	for _, raw := range []string{
		// Opaque ESP redirects: the destination is only known to the tracker.
		"https://acme.us3.list-manage.com/track/click?u=5e78d7ef2297cc80842b7591e&id=c3569d2df3&e=6496a8003f",
		"https://trk.klclick.com/ls/click?upn=L3exNPy0YRiEtcQ01BHws124cbmIsg3RFdP7xOVAp49gWZJ",
		"https://r.email.example.de/tr/cl/KbNPRyPQjPQcDulkdpnFFNFgsqAcmItP1fN7f5gK",
		// Share and login pages take a URL but are not redirects.
		"https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Fwww.example.com%2F",
		"https://twitter.com/intent/tweet?url=https%3A%2F%2Fwww.example.com%2F",
		"https://www.example.com/login?redirect=https%3A%2F%2Fwww.example.com%2Faccount",
		// Destinations that are not absolute http(s) URLs.
		"https://news.example.com/redirect?url=javascript%3Aalert(1)",
		"https://news.example.com/redirect?url=%2Flocal%2Fpath",
		"https://news.example.com/redirect?url=https%3A%2F%2Fuser%3Apass%40evil.example%2F",
		"https://news.example.com/redirect?url=https%3A%2F%2Fwww.example.com%2Fa%20b",
		"https://eur01.safelinks.protection.outlook.com/?url=ftp%3A%2F%2Ffiles.example.com%2F",
		"https://urldefense.com/v3/__https://www.example.com/a**Bb__;Kw!!ABCdef!xyz$",
		"mailto:someone@example.com",
	} {
		if dest, rule, ok := s.Unwrap(mustURL(t, raw)); ok {
			t.Errorf("%s: unwrapped to %s by %s", raw, dest, rule)
		}
	}
}

func TestIsClickTracker(t *testing.T) {
	s := defaultSet(t)
	m, ok := s.IsClickTracker(mustURL(t, "https://acme.us3.list-manage.com/track/click?u=5e78d7ef2297cc80842b7591e&id=c3569d2df3&e=6496a8003f"))
	if !ok || m.Vendor != "Mailchimp" || m.Kind != KindClick {
		t.Errorf("Mailchimp click: got %+v %v", m, ok)
	}
	if _, ok := s.IsClickTracker(mustURL(t, "https://www.example.com/products/shoes?utm_source=nl")); ok {
		t.Error("ordinary link reported as click tracker")
	}
}
