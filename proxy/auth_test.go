package proxy

import (
	"bytes"
	"errors"
	"testing"
)

func TestThrottleKey(t *testing.T) {
	if throttleKey("2001:db8:1:2::1") != throttleKey("2001:db8:1:2:ffff::9") {
		t.Error("two addresses of one IPv6 /64 throttled apart")
	}
	if throttleKey("2001:db8:1:2::1") == throttleKey("2001:db8:1:3::1") {
		t.Error("two IPv6 /64s share a counter")
	}
	if throttleKey("192.0.2.1") == throttleKey("192.0.2.2") {
		t.Error("two IPv4 addresses share a counter")
	}
}

func TestVerifyArgon2id(t *testing.T) {
	for _, bad := range []string{"", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=9999999,t=1,p=1$AAAA$AAAA", "plain", "$bcrypt$x"} {
		if verifyArgon2id(bad, "pw") {
			t.Errorf("%q accepted", bad)
		}
	}
	if verifyArgon2id(dummyArgon, "") {
		t.Error("dummy hash accepted")
	}
}

// FuzzSASL feeds arbitrary client responses to the PLAIN and LOGIN servers:
// they must never panic, and only the right pair may authenticate.
func FuzzSASL(f *testing.F) {
	f.Add("PLAIN", []byte("\x00user\x00pass"), []byte(nil), []byte(nil))
	f.Add("LOGIN", []byte("user"), []byte("pass"), []byte(nil))
	f.Add("LOGIN", []byte(nil), []byte("user"), []byte("pass"))
	f.Fuzz(func(t *testing.T, mech string, r1, r2, r3 []byte) {
		check := func(u, p string) error {
			if u == "user" && p == "pass" {
				return nil
			}
			return errors.New("no")
		}
		srv, err := saslServer(mech, check)
		if err != nil {
			return
		}
		for _, r := range [][]byte{r1, r2, r3} {
			_, done, err := srv.Next(r)
			if err != nil {
				return
			}
			if done {
				ok := (bytes.Contains(r1, []byte("user")) || bytes.Contains(r2, []byte("user"))) &&
					(bytes.Contains(r1, []byte("pass")) || bytes.Contains(r2, []byte("pass")) || bytes.Contains(r3, []byte("pass")))
				if !ok {
					t.Fatalf("authenticated with %q %q %q", r1, r2, r3)
				}
				return
			}
		}
	})
}
