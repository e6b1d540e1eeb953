package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// The PROXY protocol (HAProxy, "The PROXY protocol" versions 1 and 2) lets
// a TCP load balancer tell the relay who the client is: it sends one
// header before the client's bytes. pixelgate has its own reader rather
// than github.com/pires/go-proxyproto: the relay needs the source address
// only (no TLVs, no UDP, no writing), the library's current release needs
// a newer Go than the project builds with, and its default policy changed
// between releases; a reader of two fixed formats is short enough to own,
// and FuzzReadProxyHeader holds it to them.

// errNoProxyHeader: a configured load balancer connected without a header.
var errNoProxyHeader = errors.New("PROXY protocol header missing")

// proxyV1Max is the longest v1 header, CRLF included (spec §2.1).
const proxyV1Max = 107

// proxyV2Sig starts every v2 header (spec §2.2).
var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// readProxyHeader reads a v1 or v2 header from r. It returns the client's
// address and port, or an invalid AddrPort when the balancer speaks for
// itself (v2 LOCAL, v1 UNKNOWN: health checks), in which case the
// connection's own address stands (spec §2.1, §2.2). It reads nothing past
// the header.
func readProxyHeader(r *bufio.Reader) (netip.AddrPort, error) {
	first, err := r.Peek(1)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("read PROXY header: %w", err)
	}
	switch first[0] {
	case 'P':
		return readProxyV1(r)
	case proxyV2Sig[0]:
		return readProxyV2(r)
	}
	return netip.AddrPort{}, errNoProxyHeader
}

// readProxyV1 reads "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or
// "PROXY UNKNOWN ...\r\n".
func readProxyV1(r *bufio.Reader) (netip.AddrPort, error) {
	var line []byte
	for len(line) < proxyV1Max {
		b, err := r.ReadByte()
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("read PROXY v1 header: %w", err)
		}
		line = append(line, b)
		if b == '\n' {
			break
		}
	}
	text, ok := bytes.CutSuffix(line, []byte("\r\n"))
	if !ok {
		return netip.AddrPort{}, errors.New("PROXY v1 header: no CRLF within 107 bytes")
	}
	f := strings.Split(string(text), " ")
	if f[0] != "PROXY" || len(f) < 2 {
		return netip.AddrPort{}, errNoProxyHeader
	}
	if f[1] == "UNKNOWN" {
		// The rest of the line is to be ignored (spec §2.1).
		return netip.AddrPort{}, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return netip.AddrPort{}, fmt.Errorf("PROXY v1 header: want TCP4, TCP6 or UNKNOWN and 4 fields, got %q", text)
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	sport, err3 := parseProxyPort(f[4])
	_, err4 := parseProxyPort(f[5])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return netip.AddrPort{}, fmt.Errorf("PROXY v1 header: %w", err)
	}
	// The family names both addresses' form; no zones, no mapped forms.
	if v4 := f[1] == "TCP4"; src.Is4() != v4 || dst.Is4() != v4 || src.Zone() != "" || dst.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("PROXY v1 header: addresses do not match %s", f[1])
	}
	return netip.AddrPortFrom(src, sport), nil
}

// parseProxyPort reads a decimal port 0-65535.
func parseProxyPort(s string) (uint16, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("port %q", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q", s)
	}
	return uint16(n), nil
}

// readProxyV2 reads the binary header: signature, version and command,
// family and transport, length, then addresses and TLVs (ignored).
func readProxyV2(r *bufio.Reader) (netip.AddrPort, error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return netip.AddrPort{}, fmt.Errorf("read PROXY v2 header: %w", err)
	}
	if !bytes.Equal(hdr[:12], proxyV2Sig) {
		return netip.AddrPort{}, errNoProxyHeader
	}
	if hdr[12]>>4 != 2 {
		return netip.AddrPort{}, fmt.Errorf("PROXY v2 header: version %d", hdr[12]>>4)
	}
	cmd, fam := hdr[12]&0xf, hdr[13]
	n := int(binary.BigEndian.Uint16(hdr[14:]))
	var ap netip.AddrPort
	switch cmd {
	case 0: // LOCAL: the balancer's own connection; addresses ignored.
	case 1: // PROXY
		var need int
		switch fam {
		case 0x11: // TCP over IPv4
			need = 12
		case 0x21: // TCP over IPv6
			need = 36
		default:
			return netip.AddrPort{}, fmt.Errorf("PROXY v2 header: family/transport 0x%02x is not TCP", fam)
		}
		if n < need {
			return netip.AddrPort{}, fmt.Errorf("PROXY v2 header: %d address bytes, need %d", n, need)
		}
		addr := make([]byte, need)
		if _, err := io.ReadFull(r, addr); err != nil {
			return netip.AddrPort{}, fmt.Errorf("read PROXY v2 addresses: %w", err)
		}
		alen := need/2 - 2
		src, _ := netip.AddrFromSlice(addr[:alen])
		ap = netip.AddrPortFrom(src, binary.BigEndian.Uint16(addr[2*alen:]))
		n -= need
	default:
		return netip.AddrPort{}, fmt.Errorf("PROXY v2 header: command %d", cmd)
	}
	// TLVs (and a LOCAL header's addresses) are skipped, not kept.
	if _, err := r.Discard(n); err != nil {
		return netip.AddrPort{}, fmt.Errorf("read PROXY v2 header: %w", err)
	}
	return ap, nil
}
