package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

// Linux routes all of 127.0.0.0/8 to the loopback interface, so a test can
// connect from several client addresses.
var (
	flooder = netip.MustParseAddr("127.0.0.2")
	sender  = netip.MustParseAddr("127.0.0.3")
	other   = netip.MustParseAddr("127.0.0.4")
)

// dialFrom connects to addr from the local address from.
func dialFrom(t testing.TB, from netip.Addr, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0)), Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// firstLine reads a connection's first reply line (the greeting or a
// refusal); "" when it was closed without one.
func firstLine(t testing.TB, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return line
}

// flood opens n connections from one address that send nothing, and
// returns how many got the greeting.
func flood(t testing.TB, from netip.Addr, addr string, n int) (greeted int) {
	t.Helper()
	for range n {
		if strings.HasPrefix(firstLine(t, dialFrom(t, from, addr)), "220 ") {
			greeted++
		}
	}
	return greeted
}

// sendFrom runs one whole transaction on a new connection from from.
func sendFrom(t testing.TB, from netip.Addr, addr string) error {
	t.Helper()
	c, err := smtp.NewClient(dialFrom(t, from, addr), "relay.test")
	if err != nil {
		return err
	}
	defer c.Close()
	return send(c, "news@shop.example", "a@example.net", marketingMsg("x"))
}

// TestRelaySilentFloodDoesNotLockOutOthers: one address opening as many
// silent connections as the relay takes in total leaves the relay serving
// everyone else. It uses the default limits: before per-address limits,
// the flood held all 100 slots and every sender got 421.
func TestRelaySilentFloodDoesNotLockOutOthers(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *smtpsink.Options) {
		c.RelayNetworks = []netip.Prefix{netip.PrefixFrom(sender, 32)}
	})
	greeted := flood(t, flooder, h.addr, 100)
	const tries = 10
	served := 0
	for range tries {
		if err := sendFrom(t, sender, h.addr); err == nil {
			served++
		} else {
			t.Log(err)
		}
	}
	t.Logf("flood of 100 silent connections from one address: %d greeted; %d of %d messages from another address served", greeted, served, tries)
	if served != tries {
		t.Fatalf("%d of %d messages served during the flood", served, tries)
	}
	if greeted != 20 {
		t.Errorf("flooder got %d connections, want the per-address limit 20", greeted)
	}
}

// TestRelayReserveKeepsSlotsForNewAddresses: a few addresses, each within
// its own limit, cannot take the last slots of the pool; an address that
// holds no connection still gets one. Relay networks, spared the
// per-address limit, are still held to the reserve.
func TestRelayReserveKeepsSlotsForNewAddresses(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *smtpsink.Options) {
		c.MaxConnections, c.MaxConnectionsPerAddress, c.ReservedConnections = 8, 3, 2
		c.RelayNetworks = []netip.Prefix{netip.PrefixFrom(sender, 32)}
	})
	if got := flood(t, flooder, h.addr, 5); got != 3 {
		t.Errorf("first address: %d connections, want its limit 3", got)
	}
	if got := flood(t, other, h.addr, 5); got != 3 {
		t.Errorf("second address: %d connections, want its limit 3", got)
	}
	// 6 of 8 are taken; the reserve of 2 is for addresses holding none.
	if got := flood(t, sender, h.addr, 5); got != 1 {
		t.Errorf("relay-network address: %d connections from the reserve, want 1", got)
	}
	if err := sendFrom(t, netip.MustParseAddr("127.0.0.5"), h.addr); err == nil || !strings.Contains(err.Error(), "530") {
		// Greeted (a slot), then asked to authenticate: not refused.
		t.Errorf("new address in the reserve: %v, want 530", err)
	}
}

// TestRelayClosesSilentSocketsBeforeAuth: a client outside the relay
// networks that says nothing is told 421 and closed after PreAuthTimeout;
// one that authenticated keeps the normal command timeout.
func TestRelayClosesSilentSocketsBeforeAuth(t *testing.T) {
	const preauth = 300 * time.Millisecond
	h := newHarness(t, func(c *Config, _ *smtpsink.Options) {
		c.RelayNetworks = []netip.Prefix{}
		c.PreAuthTimeout = preauth
		// Longer than the bound below: only the pre-AUTH cap can end
		// the silent connection in time.
		c.ReadTimeout = time.Minute
	})
	silent := dialFrom(t, flooder, h.addr)
	// Eventually closed: the bound only keeps a failure from hanging.
	_ = silent.SetReadDeadline(time.Now().Add(20 * time.Second))
	out, err := io.ReadAll(silent)
	if err != nil || !strings.Contains(string(out), "421 4.4.2") {
		t.Fatalf("silent connection: %q, %v; want 421 4.4.2 then close", out, err)
	}

	if err := h.cfg.Credentials.Set(context.Background(), "crm", "another long password"); err != nil {
		t.Fatal(err)
	}
	c := h.dial(true)
	if err := c.Auth(smtp.PlainAuth("", "crm", "another long password", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * preauth)
	if err := send(c, "news@shop.example", "a@example.net", marketingMsg("x")); err != nil {
		t.Fatalf("authenticated client cut by the pre-AUTH timeout: %v", err)
	}
}

// proxyV2 builds a v2 PROXY header for a TCP client.
func proxyV2(src netip.AddrPort) []byte {
	dst := netip.AddrPortFrom(netip.IPv6Loopback(), 25)
	fam := byte(0x21)
	if src.Addr().Is4() {
		fam, dst = 0x11, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 25)
	}
	addrs := append(src.Addr().AsSlice(), dst.Addr().AsSlice()...)
	addrs = binary.BigEndian.AppendUint16(addrs, src.Port())
	addrs = binary.BigEndian.AppendUint16(addrs, dst.Port())
	// A TLV (PP2_TYPE_AUTHORITY), which the relay skips.
	addrs = append(addrs, 0x02, 0x00, 0x03, 'l', 'b', '1')
	h := append(append([]byte{}, proxyV2Sig...), 0x21, fam)
	h = binary.BigEndian.AppendUint16(h, uint16(len(addrs)))
	return append(h, addrs...)
}

// TestRelayProxyProtocol: behind a configured balancer the address of the
// PROXY header (v1 or v2) is the client's for the relay networks, the
// Received field and the per-address limit; the balancer must send a
// header; anyone else sending one gets a syntax error.
func TestRelayProxyProtocol(t *testing.T) {
	lb := netip.MustParseAddr("127.0.0.9")
	h := newHarness(t, func(c *Config, _ *smtpsink.Options) {
		c.ProxyProtocolFrom = []netip.Prefix{netip.PrefixFrom(lb, 32)}
		c.RelayNetworks = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")}
		c.MaxConnectionsPerAddress = 1
		c.PreAuthTimeout = 2 * time.Second
	})
	viaLB := func(header string) *smtp.Client {
		t.Helper()
		conn := dialFrom(t, lb, h.addr)
		if _, err := io.WriteString(conn, header); err != nil {
			t.Fatal(err)
		}
		c, err := smtp.NewClient(conn, "relay.test")
		if err != nil {
			t.Fatalf("after %q: %v", header, err)
		}
		return c
	}
	for _, tc := range []struct{ header, client string }{
		{"PROXY TCP4 192.0.2.7 127.0.0.1 40001 25\r\n", "[192.0.2.7]"},
		{string(proxyV2(netip.MustParseAddrPort("192.0.2.8:40002"))), "[192.0.2.8]"},
		{string(proxyV2(netip.MustParseAddrPort("[2001:db8::8]:40003"))), "[2001:db8::8]"},
	} {
		c := viaLB(tc.header)
		// Allowed to relay without AUTH: the relay sees the client.
		if err := send(c, "news@shop.example", "a@example.net", marketingMsg("x")); err != nil {
			t.Fatalf("%s: %v", tc.client, err)
		}
		msgs := h.sink.Messages()
		if rcv := string(msgs[len(msgs)-1].Data); !strings.Contains(rcv, "("+tc.client+")") {
			t.Errorf("Received field does not name %s:\n%.300s", tc.client, rcv)
		}
		c.Quit()
	}
	// The per-address limit (1) counts the real client, not the balancer.
	outside := "PROXY TCP4 198.51.100.7 127.0.0.1 40004 25\r\n"
	if line := firstLine(t, proxyConn(t, lb, h.addr, outside)); !strings.HasPrefix(line, "220 ") {
		t.Errorf("first connection of a client behind the balancer got %q", line)
	}
	if line := firstLine(t, proxyConn(t, lb, h.addr, outside)); !strings.HasPrefix(line, "421 4.7.0 Too many connections from your address") {
		t.Errorf("second connection of that client got %q", line)
	}
	if line := firstLine(t, proxyConn(t, lb, h.addr, "PROXY TCP4 198.51.100.8 127.0.0.1 40005 25\r\n")); !strings.HasPrefix(line, "220 ") {
		t.Errorf("another client behind the balancer got %q", line)
	}
	// The balancer without a header: closed without a word.
	if line := firstLine(t, proxyConn(t, lb, h.addr, "EHLO x\r\n")); line != "" {
		t.Errorf("balancer without PROXY header got %q", line)
	}
	// Another peer's header is a command the relay does not know.
	c := dialFrom(t, flooder, h.addr)
	io.WriteString(c, "PROXY TCP4 192.0.2.7 127.0.0.1 40001 25\r\n")
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	greeting, _ := r.ReadString('\n')
	reply, _ := r.ReadString('\n')
	if !strings.HasPrefix(greeting, "220 ") || !strings.HasPrefix(reply, "501 5.5.2") {
		t.Errorf("PROXY header from a non-balancer: %q %q, want 220 then a 501 5.5.2 syntax error", greeting, reply)
	}
}

// proxyConn connects from from and sends header.
func proxyConn(t *testing.T, from netip.Addr, addr, header string) net.Conn {
	t.Helper()
	c := dialFrom(t, from, addr)
	if _, err := io.WriteString(c, header); err != nil {
		t.Fatal(err)
	}
	return c
}
