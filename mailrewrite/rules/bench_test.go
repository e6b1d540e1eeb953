package rules

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// benchURLs is a realistic mix for one batch of marketing mail: mostly
// content images and ordinary links, some ESP pixels and tracked links.
func benchURLs() []string {
	var out []string
	content := []string{
		"https://d3k81ch9hvuctc.cloudfront.net/company/TXS8dR/images/%08x-43e1-4fd0-acaa-564f7a423619.png",
		"https://cdn.shopify.com/s/files/1/0550/9061/0358/products/20220%d_mix.png?v=1646911697",
		"https://www.norma-online.de/ext/img/product/angebote/23_01_18/%d_gruenpflanzen.png",
		"https://mcusercontent.com/5e78d7ef2297cc80842b7591e/images/%x-hero.jpg",
		"https://img.mailinblue.com/2670624/images/rnb/original/5f44f4ca%08x.png",
		"https://a0.lscdn.net/imgs/%08x-e1c8-4523-97b5-f409b8869564/600_q60.jpg",
		"http://amxe.net/qp1sq8qr/s_uxz7dfiv/files/Photo_%d.jpg",
		"https://i1.createsend1.com/ei/d/0D/%d/ABC/csimport/logo.png",
		"https://static.rp-online.de/layout/img/newsletter/%d.png",
		"https://embed.filekitcdn.com/e/eL5LWq71Y2wMt3kNZCG5Ex/wRFss%dBaJq8/email",
		"https://www.shop.example.com/products/item-%d?utm_source=newsletter&utm_medium=email&utm_campaign=w3",
		"https://fonts.googleapis.com/css?family=Lato:%d",
	}
	trackers := []string{
		"https://acme.us3.list-manage.com/track/open.php?u=5e78d7ef2297cc8084&id=2ed1232679&e=%x",
		"https://trk.klclick.com/wf/open?upn=8DVaPYyYoG9qGLemYc-2Fqld%x",
		"https://open.convertkit-mail4.com/p9unqonzo5iq%x",
		"https://r.email.trustedshops.de/tr/op/8Va9zm620jliLZ8Ib48PeJjjd-_0e2Vt8dy%x",
		"http://amxe.net/uxz7dfiv-k6h71u6r-o6cz%04x-1dg5.gif",
		"https://newsletter.rp-online.de/d?o0c3tol00bmx3ed0h0000lgq00000000c5dbh3g052lovruo%08x",
		"https://acme.cmail20.com/t/d-o-qkhjyt-%x/o.gif",
		"https://u1234.ct.sendgrid.net/wf/open?upn=abcDEF-2B%x",
		"http://go.sparkpostmail.com/q/22ca3lBlMyxzQXZHPP8obQ~~/AABO7gA~/RgRk%x",
		"https://t.news.example.com/I0/0100018b5f3c2a1d-8e2f4a1b-1c2d-4e5f-9a8b-%06x/xyz",
		"https://s1234.t.en25.com/e/FooterImages/FooterImage1?elq=%x&siteid=123",
		"https://dqmaer86.emltrk.com/v2/dqmaer86?d=V%x",
	}
	links := []string{
		"https://acme.us3.list-manage.com/track/click?u=5e78d7ef2297cc80842b7591e&id=c3569d2df3&e=%x",
		"https://r.email.trustedshops.de/tr/cl/KbNPRyPQjPQcDulkdpnFFNFgsqA%x",
		"https://www.example.com/?_hsenc=p2ANqtz-%x&_hsmi=123456&utm_medium=email",
		"https://eur01.safelinks.protection.outlook.com/?url=https%%3A%%2F%%2Fwww.example.com%%2F%d&data=04",
	}
	for i := 0; len(out) < 200; i++ {
		switch {
		case i%10 < 6:
			out = append(out, fmt.Sprintf(content[i%len(content)], i*7919))
		case i%10 < 9:
			out = append(out, fmt.Sprintf(trackers[i%len(trackers)], i*104729))
		default:
			out = append(out, fmt.Sprintf(links[i%len(links)], i*15485863))
		}
	}
	return out
}

func parsedBenchURLs(b *testing.B) []*url.URL {
	var us []*url.URL
	for _, raw := range benchURLs() {
		us = append(us, mustURL(b, raw))
	}
	return us
}

// BenchmarkMatchTracker: one op is one URL of the mix.
func BenchmarkMatchTracker(b *testing.B) {
	s := defaultSet(b)
	us := parsedBenchURLs(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.MatchTracker(us[i%len(us)])
	}
}

func BenchmarkOpenEndpointShape(b *testing.B) {
	s := defaultSet(b)
	us := parsedBenchURLs(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.OpenEndpointShape(us[i%len(us)])
	}
}

func BenchmarkIdentifyingParams(b *testing.B) {
	s := defaultSet(b)
	us := parsedBenchURLs(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.IdentifyingParams(us[i%len(us)])
	}
}

func BenchmarkUnwrap(b *testing.B) {
	s := defaultSet(b)
	us := parsedBenchURLs(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Unwrap(us[i%len(us)])
	}
}

// Reference 1: parsing the same URL, a cost the caller pays anyway.
func BenchmarkReferenceURLParse(b *testing.B) {
	raws := benchURLs()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, _ = url.Parse(raws[i%len(raws)])
	}
}

// Reference 2: what the index replaces, one regexp per tracker rule tried
// in turn on "host/path?query" (how the open lists are used as published).
func BenchmarkReferenceRegexpScan(b *testing.B) {
	s := defaultSet(b)
	var res []*regexp.Regexp
	for _, p := range s.trackerIdx.pats {
		expr := regexp.QuoteMeta(strings.ReplaceAll(p.host, "#", "")) + "/"
		if p.kind == hostAny {
			expr = "/"
		}
		if p.pathRE != nil {
			expr += ".*" + strings.TrimPrefix(p.pathRE.String(), "^")
		} else if p.pathPrefix != "" {
			expr += regexp.QuoteMeta(strings.TrimPrefix(p.pathPrefix, "/"))
		}
		res = append(res, regexp.MustCompile(expr))
	}
	raws := benchURLs()
	for i, r := range raws {
		raws[i] = strings.TrimPrefix(strings.TrimPrefix(r, "https://"), "http://")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := raws[i%len(raws)]
		for _, re := range res {
			if re.MatchString(r) {
				break
			}
		}
	}
}

// BenchmarkDefault: parsing the embedded files, paid once per process.
func BenchmarkDefault(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Default(); err != nil {
			b.Fatal(err)
		}
	}
}
