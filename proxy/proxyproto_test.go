package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// TestReadProxyHeader: the two formats as the HAProxy specification
// writes them, and what they must refuse. After the header, the client's
// own bytes are still there to read.
func TestReadProxyHeader(t *testing.T) {
	local := append(append([]byte{}, proxyV2Sig...), 0x20, 0x00, 0x00, 0x00)
	for _, tc := range []struct {
		name, in, want string // want: "" for the balancer's own address, "error" for a refusal
	}{
		{"v1 TCP4", "PROXY TCP4 192.0.2.1 198.51.100.1 56324 25\r\n", "192.0.2.1:56324"},
		{"v1 TCP6", "PROXY TCP6 2001:db8::1 2001:db8::2 4000 25\r\n", "[2001:db8::1]:4000"},
		{"v1 UNKNOWN", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", ""},
		{"v1 UNKNOWN bare", "PROXY UNKNOWN\r\n", ""},
		{"v2 TCP4", string(proxyV2(netip.MustParseAddrPort("192.0.2.9:1234"))), "192.0.2.9:1234"},
		{"v2 TCP6", string(proxyV2(netip.MustParseAddrPort("[2001:db8::9]:1"))), "[2001:db8::9]:1"},
		{"v2 LOCAL", string(local), ""},
		{"no header", "EHLO client.example\r\n", "error"},
		{"v1 family mismatch", "PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n", "error"},
		{"v1 bad port", "PROXY TCP4 192.0.2.1 192.0.2.2 65536 25\r\n", "error"},
		{"v1 leading zero", "PROXY TCP4 192.0.2.1 192.0.2.2 025 25\r\n", "error"},
		{"v1 LF only", "PROXY TCP4 192.0.2.1 192.0.2.2 1 25\n", "error"},
		{"v1 too long", "PROXY UNKNOWN " + strings.Repeat("x", 100) + "\r\n", "error"},
		{"v1 extra field", "PROXY TCP4 192.0.2.1 192.0.2.2 1 25 x\r\n", "error"},
		{"v2 truncated", string(proxyV2(netip.MustParseAddrPort("192.0.2.9:1234")))[:20], "error"},
		{"v2 UDP", string(append(append([]byte{}, proxyV2Sig...), 0x21, 0x12, 0x00, 0x0c)) + strings.Repeat("\x00", 12), "error"},
		{"v2 version 1", string(append(append([]byte{}, proxyV2Sig...), 0x11, 0x11, 0x00, 0x0c)) + strings.Repeat("\x00", 12), "error"},
		{"v2 short addresses", string(append(append([]byte{}, proxyV2Sig...), 0x21, 0x11, 0x00, 0x04)) + "\x00\x00\x00\x00", "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tc.in + "EHLO after\r\n"))
			ap, err := readProxyHeader(r)
			switch {
			case tc.want == "error":
				if err == nil {
					t.Fatalf("accepted, gave %v", ap)
				}
				return
			case err != nil:
				t.Fatal(err)
			case tc.want == "" && ap.IsValid(), tc.want != "" && ap.String() != tc.want:
				t.Fatalf("got %v, want %q", ap, tc.want)
			}
			if rest, _ := io.ReadAll(r); string(rest) != "EHLO after\r\n" {
				t.Errorf("after the header: %q", rest)
			}
		})
	}
	if _, err := readProxyHeader(bufio.NewReader(strings.NewReader("EHLO x\r\n"))); !errors.Is(err, errNoProxyHeader) {
		t.Errorf("no header: %v", err)
	}
}

// FuzzReadProxyHeader: no input panics; an accepted header is exactly what
// the specification allows: a v1 line of at most 107 bytes ending in CRLF,
// or a v2 header of 16 bytes plus its length; nothing after it is consumed.
func FuzzReadProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.1 56324 25\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::1 2001:db8::2 4000 25\r\nEHLO x\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(proxyV2(netip.MustParseAddrPort("192.0.2.9:1234")))
	f.Add(proxyV2(netip.MustParseAddrPort("[2001:db8::9]:1")))
	f.Add(append(append([]byte{}, proxyV2Sig...), 0x20, 0x00, 0x00, 0x00))
	f.Add([]byte("EHLO client.example\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(in), 16)
		ap, err := readProxyHeader(r)
		if err != nil {
			return
		}
		rest, _ := io.ReadAll(r)
		used := in[:len(in)-len(rest)]
		switch {
		case bytes.HasPrefix(in, []byte("PROXY ")):
			if len(used) > proxyV1Max || !bytes.HasSuffix(used, []byte("\r\n")) || bytes.Count(used, []byte("\n")) != 1 {
				t.Fatalf("v1 header %q accepted", used)
			}
		case bytes.HasPrefix(in, proxyV2Sig):
			if len(used) < 16 || len(used) != 16+int(binary.BigEndian.Uint16(in[14:16])) {
				t.Fatalf("v2 header of %d bytes consumed %d", len(in), len(used))
			}
		default:
			t.Fatalf("accepted %q as a PROXY header", in)
		}
		if ap.IsValid() && ap.Addr().Zone() != "" {
			t.Fatalf("address with a zone: %v", ap)
		}
	})
}
