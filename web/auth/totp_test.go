package auth

import (
	"encoding/base32"
	"testing"
	"time"
)

// RFC 6238 Appendix B, SHA-1 rows, last six digits.
func TestTOTPVectors(t *testing.T) {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	for _, v := range []struct {
		unix int64
		code string
	}{{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"}} {
		got, err := TOTPCode(secret, time.Unix(v.unix, 0))
		if err != nil {
			t.Fatal(err)
		}
		if got != v.code {
			t.Errorf("T=%d: code %s, want %s", v.unix, got, v.code)
		}
	}
	now := time.Unix(1234567890, 0)
	if matchTOTP(secret, "005924", now.Add(29*time.Second)) < 0 {
		t.Error("code of the previous step refused")
	}
	if matchTOTP(secret, "005924", now.Add(91*time.Second)) >= 0 {
		t.Error("code three steps old accepted")
	}
	if matchTOTP(secret, "00592", now) >= 0 || matchTOTP(secret, "abcdef", now) >= 0 {
		t.Error("malformed code accepted")
	}
}
