package pixel

import (
	"net/netip"
	"strings"
	"testing"
)

func TestDefaultMachineList(t *testing.T) {
	d, err := DefaultMachineDetector()
	if err != nil {
		t.Fatal(err)
	}
	if d.Version() == "" {
		t.Fatal("embedded list has no version")
	}
	cases := []struct {
		name     string
		ua       string
		addr     string
		provider string
	}{
		{"gmail by user agent", "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", "203.0.113.9", "gmail"},
		{"gmail by address", "Mozilla/5.0 (X11; Linux x86_64)", "66.249.84.10", "gmail"},
		{"yahoo", "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", "198.51.100.7", "yahoo"},
		{"apple mpp by exact user agent", "Mozilla/5.0", "198.51.100.7", "apple-mpp"},
		{"apple mpp by v4 address", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "17.58.1.2", "apple-mpp"},
		{"apple mpp by v4-mapped address", "", "::ffff:17.58.1.2", "apple-mpp"},
		{"apple mpp by v6 address", "", "2620:149:a:1::5", "apple-mpp"},
		{"person on a desktop client", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.0", "198.51.100.7", ""},
		{"person, unknown address", "Mozilla/5.0 (Macintosh)", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var a netip.Addr
			if c.addr != "" {
				a = netip.MustParseAddr(c.addr)
			}
			p, machine := d.Detect(c.ua, a)
			if machine != (c.provider != "") || p != c.provider {
				t.Errorf("Detect = (%q, %v), want provider %q", p, machine, c.provider)
			}
		})
	}
}

func TestParseMachineListErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ua X gmail\n", "no version"},
		{"version 2026-01-01\nversion 2026-01-02\n", "line 2: version given twice"},
		{"version yesterday\n", "line 1: want `version"},
		{"version 2026-01-01\nnet 10.0.0.0/33 x\n", "line 2:"},
		{"version 2026-01-01\nua GoogleImageProxy Gmail\n", "provider \"Gmail\""},
		{"version 2026-01-01\nua GoogleImageProxy\n", "line 2: want `ua VALUE PROVIDER`"},
		{"version 2026-01-01\nip 1.2.3.4 x\n", "unknown rule \"ip\""},
	} {
		_, err := ParseMachineList(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseMachineList(%q) error = %v, want it to mention %q", c.in, err, c.want)
		}
	}
}

func FuzzParseMachineList(f *testing.F) {
	f.Add(defaultMachineList)
	f.Add("version 2026-01-01\nnet ::/0 all\nua-exact x y\n")
	f.Add("version 2026-01-01.2\n# c\n\nua \xff\xfe z\n")
	f.Fuzz(func(t *testing.T, in string) {
		d, err := ParseMachineList(strings.NewReader(in))
		if err != nil {
			return
		}
		if d.Version() == "" {
			t.Fatal("accepted a list without version")
		}
		// Detect must never panic on whatever the list held.
		d.Detect(in, netip.MustParseAddr("17.0.0.1"))
		d.Detect("", netip.Addr{})
	})
}
