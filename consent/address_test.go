package consent

import (
	"errors"
	"testing"
)

// The forms of RFC 5321 §4.1.2 and §4.1.3 besides dot-string@domain are
// accepted, and each mailbox has one normal form (one recipient key).
func TestNormalizeAddressRFC5321Forms(t *testing.T) {
	for in, want := range map[string]string{
		"user@[127.0.0.1]":                 "user@[127.0.0.1]",
		"<user@[127.0.0.1]>":               "user@[127.0.0.1]",
		"user@[IPv6:::1]":                  "user@[IPv6:::1]",
		"user@[ipv6:0:0:0:0:0:0:0:1]":      "user@[IPv6:::1]",
		"user@[IPv6:2001:DB8::0:1]":        "user@[IPv6:2001:db8::1]",
		`"john doe"@example.org`:           `"john doe"@example.org`,
		`"john\ doe"@Example.ORG`:          `"john doe"@example.org`,
		`"john"@example.org`:               "john@example.org",
		`"j\ohn.smith"@example.org`:        "john.smith@example.org",
		`"a\"b"@example.org`:               `"a\"b"@example.org`,
		`"back\\slash"@example.org`:        `"back\\slash"@example.org`,
		`"a@b"@example.org`:                `"a@b"@example.org`,
		`".dot"@example.org`:               `".dot"@example.org`,
		`"Anna"@example.org`:               "Anna@example.org",
		`"john doe"@[IPv6:::ffff:1.2.3.4]`: `"john doe"@[IPv6:::ffff:1.2.3.4]`,
	} {
		got, err := NormalizeAddress(in)
		if err != nil || got != want {
			t.Errorf("NormalizeAddress(%q) = %q, %v; want %q", in, got, err, want)
			continue
		}
		if again, err := NormalizeAddress(got); err != nil || again != got {
			t.Errorf("normal form %q is not stable: %q, %v", got, again, err)
		}
	}
	for _, bad := range []string{
		`user@[127.0.0.256]`, `user@[127.0.0.1`, `user@[IPv6:1.2.3.4]`, `user@[::1]`, `user@[IPv6:fe80::1%eth0]`,
		`user@[x-tag:abc]`, `user@[]`, `"unterminated@example.org`, `"a"b"@example.org`, `"tab\	x"@example.org`,
		"\"ctl\x01\"@example.org", `""@example.org`, `"trailing\"@example.org`,
	} {
		if got, err := NormalizeAddress(bad); !errors.Is(err, ErrBadAddress) {
			t.Errorf("NormalizeAddress(%q) = %q, %v; want ErrBadAddress", bad, got, err)
		}
	}
}
