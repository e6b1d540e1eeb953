package pixel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// errNotPublic: the forwarder refused to connect to an address that is not
// on the public Internet (SSRF guard).
var errNotPublic = errors.New("destination address is not public")

// nonPublic are the special-purpose ranges (IANA IPv4/IPv6 Special-Purpose
// Address Registries, RFC 6890) that netip's predicates do not already
// cover and that must never be reached from a server-side fetch.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network", RFC 791
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGNAT), RFC 6598
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments, RFC 6890
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1, RFC 5737
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast, RFC 7526
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking, RFC 2544
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, includes broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64, may embed a private IPv4, RFC 6052
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64, RFC 8215
	netip.MustParsePrefix("100::/64"),        // discard-only, RFC 6666
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo...), RFC 2928
	netip.MustParsePrefix("2001:db8::/32"),   // documentation, RFC 3849
	netip.MustParsePrefix("2002::/16"),       // 6to4, embeds an IPv4 address, RFC 3056
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local, RFC 3879
}

// IsPublicAddr reports whether a is a unicast address on the public
// Internet: not loopback, private (RFC 1918, ULA), link-local, multicast,
// unspecified, CGNAT, documentation, benchmarking, NAT64/6to4 or otherwise
// reserved. It is the forwarder's default guard.
func IsPublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() ||
		a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// dialGuard builds a net.Dialer Control function. It runs after name
// resolution, on the exact address about to be connected, so a name that
// resolves to a public address when checked and to a private one when
// dialled (DNS rebinding) is still refused, and so is every redirect hop.
func dialGuard(allow func(netip.Addr) bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("forward: dial %s: %w", network, err)
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("forward: dial %s: %w", network, err)
		}
		if !allow(a) {
			return errNotPublic
		}
		return nil
	}
}
