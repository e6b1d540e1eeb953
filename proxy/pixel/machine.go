package pixel

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strings"
)

//go:embed machine_list.txt
var defaultMachineList string

// MachineDetector tells prefetching image proxies (Apple Mail Privacy
// Protection, the Gmail and Yahoo image proxies) from a mail client fetching
// an image because a person opened the message. A match makes the open a
// machine open (consent.Open.Machine), counted apart. Only the boolean
// verdict leaves the detector: the user agent and address it looked at are
// never kept or logged (R8).
type MachineDetector struct {
	version  string
	contains []machineRule
	exact    map[string]string
	nets     []machineNet
}

type machineRule struct{ token, provider string }

type machineNet struct {
	prefix   netip.Prefix
	provider string
}

var (
	machineVersionRE  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(\.\d+)?$`)
	machineProviderRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
)

// DefaultMachineDetector is the detector built from the embedded, versioned
// list (proxy/pixel/machine_list.txt), which names the source of every rule.
func DefaultMachineDetector() (*MachineDetector, error) {
	d, err := ParseMachineList(strings.NewReader(defaultMachineList))
	if err != nil {
		return nil, fmt.Errorf("embedded machine list: %w", err)
	}
	return d, nil
}

// ParseMachineList reads a list in the format documented at the top of
// machine_list.txt. Errors name the line.
func ParseMachineList(r io.Reader) (*MachineDetector, error) {
	d := &MachineDetector{exact: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		kind := f[0]
		if kind == "version" {
			if len(f) != 2 || !machineVersionRE.MatchString(f[1]) {
				return nil, fmt.Errorf("machine list line %d: want `version YYYY-MM-DD[.n]`", n)
			}
			if d.version != "" {
				return nil, fmt.Errorf("machine list line %d: version given twice", n)
			}
			d.version = f[1]
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("machine list line %d: want `%s VALUE PROVIDER`, got %d fields", n, kind, len(f))
		}
		value, provider := f[1], f[2]
		if !machineProviderRE.MatchString(provider) {
			return nil, fmt.Errorf("machine list line %d: provider %q: want lower-case letters, digits and '-'", n, provider)
		}
		switch kind {
		case "ua":
			d.contains = append(d.contains, machineRule{value, provider})
		case "ua-exact":
			d.exact[value] = provider
		case "net":
			p, err := netip.ParsePrefix(value)
			if err != nil {
				return nil, fmt.Errorf("machine list line %d: %w", n, err)
			}
			d.nets = append(d.nets, machineNet{p.Masked(), provider})
		default:
			return nil, fmt.Errorf("machine list line %d: unknown rule %q (want version, ua, ua-exact or net)", n, kind)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read machine list: %w", err)
	}
	if d.version == "" {
		return nil, fmt.Errorf("machine list: no version line")
	}
	return d, nil
}

// Version is the list's version line, reported in metrics and check-config.
func (d *MachineDetector) Version() string { return d.version }

// Detect reports whether a hit from addr with user agent ua comes from a
// machine, and which provider's rule matched ("" when none). addr may be the
// zero Addr when unknown.
func (d *MachineDetector) Detect(ua string, addr netip.Addr) (provider string, machine bool) {
	if p, ok := d.exact[ua]; ok {
		return p, true
	}
	for _, r := range d.contains {
		if strings.Contains(ua, r.token) {
			return r.provider, true
		}
	}
	if addr.IsValid() {
		addr = addr.Unmap()
		for _, n := range d.nets {
			if n.prefix.Contains(addr) {
				return n.provider, true
			}
		}
	}
	return "", false
}
