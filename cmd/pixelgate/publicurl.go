package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/pixelgate/pixelgate/web/consentpage"
)

// publicURLFlags are --http-addr and --public-url: where the HTTP side
// listens and the base of every link pixelgate writes (pixel, consent page,
// click redirect, dashboard setup link). Without --public-url the links
// point where pixelgate listens, so that a changed --http-addr alone never
// sends recipients to a port nothing answers on.
type publicURLFlags struct {
	httpAddr, publicURL *string
}

func addPublicURLFlags(fs *flagSet, what string) publicURLFlags {
	return publicURLFlags{
		httpAddr: fs.String("http-addr", "127.0.0.1:8080", "HTTP address: pixel, consent pages, dashboard, metrics"),
		publicURL: fs.String("public-url", "", what+
			" (default: http://HTTP-ADDR, derived from --http-addr; a wildcard host becomes this host's name)"),
	}
}

// publicURL is the effective base URL and whether it was derived.
type publicURL struct {
	url     string
	derived bool
}

// resolve returns --public-url, checked, or the URL derived from
// --http-addr; hostname stands in for a wildcard listen address.
func (f publicURLFlags) resolve(hostname string) (publicURL, error) {
	if *f.publicURL == "" {
		return derivePublicURL(*f.httpAddr, hostname)
	}
	u, err := url.Parse(*f.publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return publicURL{}, fmt.Errorf("--public-url %q: want http(s)://host[:port][/path]", *f.publicURL)
	}
	return publicURL{url: strings.TrimRight(*f.publicURL, "/")}, nil
}

// derivePublicURL is http://LISTEN. A wildcard (0.0.0.0, ::, empty) host
// listens on every interface; recipients cannot reach "0.0.0.0", so the
// host name stands in for it.
func derivePublicURL(listen, hostname string) (publicURL, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return publicURL{}, fmt.Errorf("--public-url is not set and --http-addr %q is no host:port to derive it from: %v", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = hostname
		if host == "" {
			host = "localhost"
		}
	}
	return publicURL{url: "http://" + net.JoinHostPort(host, port), derived: true}, nil
}

// isLoopbackHost: links to it reach only this machine (tests, the quick
// start), where plain http is harmless.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// publicURLWarnings are the settings that work but are most likely a
// mistake in production, for serve's log and check-config.
func publicURLWarnings(pu publicURL, consentTexts string) []string {
	var warns []string
	u, err := url.Parse(pu.url)
	if err != nil {
		return nil // validate has reported it
	}
	origin := "--public-url"
	if pu.derived {
		origin = "the public URL derived from --http-addr"
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		warns = append(warns, fmt.Sprintf("%s is %s: plain http on a non-loopback address, so recipients' tokens travel "+
			"unencrypted (R10, GDPR Art. 32); put a TLS-terminating reverse proxy in front and set --public-url to its https:// address", origin, pu.url))
	}
	if u.Scheme == "https" && showsExampleController(consentTexts) {
		warns = append(warns, "the consent page still shows the example controller details (\"Example Company\", "+
			"contact@example.com) while --public-url is https: recipients must be told who you are (R2, GDPR Art. 13); "+
			"set --consent-texts to a file with your organisation's details (see web/consentpage/texts/default.json)")
	}
	return warns
}

// showsExampleController: the texts in force name the placeholder
// controller of the embedded texts (whether from the embedded file or a
// copy of it that kept them).
func showsExampleController(consentTexts string) bool {
	t, err := loadConsentTexts(consentTexts, nil)
	if err != nil {
		return false // validate has reported it
	}
	def, err := consentpage.DefaultTexts()
	return err == nil && t.Controller() == def.Controller()
}
