package proxy

import "testing"

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
