package pixel

import (
	"net/http"
	"net/netip"
	"strings"
)

// ForwardedClientAddr returns a PixelConfig.ClientAddr for a pixel served
// behind reverse proxies (TLS terminators, load balancers): when the TCP
// peer is one of the trusted networks, the client is the right-most
// X-Forwarded-For entry that is not itself trusted; otherwise the peer.
// Entries further left are written by the client and never believed. The
// address only feeds the machine-open verdict and is then dropped (R8).
func ForwardedClientAddr(trusted []netip.Prefix) func(*http.Request) netip.Addr {
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) netip.Addr {
		peer := peerAddr(r)
		if !peer.IsValid() || !isTrusted(peer) {
			return peer
		}
		hops := r.Header.Values("X-Forwarded-For")
		for i := len(hops) - 1; i >= 0; i-- {
			parts := strings.Split(hops[i], ",")
			for j := len(parts) - 1; j >= 0; j-- {
				a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
				if err != nil {
					// A hop we cannot read: stop rather than trust
					// what stands left of it.
					return peer
				}
				if !isTrusted(a) {
					return a.Unmap()
				}
			}
		}
		return peer
	}
}
