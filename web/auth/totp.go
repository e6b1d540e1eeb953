package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TOTP per RFC 6238 with the parameters every authenticator app supports:
// HMAC-SHA-1, 30-second steps, 6 digits (RFC 6238 §4, RFC 4226 §5.3). It is
// twenty lines over crypto/hmac, so no third-party dependency is taken for it.
const (
	totpStep   = 30 * time.Second
	totpDigits = 6
	// totpSkew accepts the previous and next step for clock drift
	// (RFC 6238 §5.2 recommends at most one step).
	totpSkew = 1
)

var totpEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// totpCode is the RFC 4226 HOTP value of counter.
func totpCode(secret []byte, counter uint64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f // dynamic truncation, RFC 4226 §5.3
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", totpDigits, bin%1_000_000)
}

// TOTPCode returns the code of secret (base32) at t, for tests and tools.
func TOTPCode(secret string, t time.Time) (string, error) {
	key, err := totpEncoding.DecodeString(strings.ToUpper(secret))
	if err != nil {
		return "", fmt.Errorf("decode TOTP secret: %w", err)
	}
	return totpCode(key, uint64(t.Unix())/uint64(totpStep/time.Second)), nil
}

// matchTOTP returns the step that code matches around now, or -1.
func matchTOTP(secret, code string, now time.Time) int64 {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != totpDigits {
		return -1
	}
	key, err := totpEncoding.DecodeString(secret)
	if err != nil {
		return -1
	}
	cur := now.Unix() / int64(totpStep/time.Second)
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		step := cur + d
		if step < 0 {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(totpCode(key, uint64(step))), []byte(code)) == 1 {
			return step
		}
	}
	return -1
}

// useTOTP checks a code and burns its step, so a code seen over a shoulder
// cannot be replayed (RFC 6238 §5.2).
func (s *Service) useTOTP(ctx context.Context, name, secret, code string) (bool, error) {
	step := matchTOTP(secret, code, s.now())
	if step < 0 {
		return false, nil
	}
	fresh, err := s.rec.PutIfAbsent(ctx, nsTOTPUsed, name+":"+strconv.FormatInt(step, 10), []byte{1},
		time.Duration(2*totpSkew+2)*totpStep)
	if err != nil {
		return false, fmt.Errorf("record used one-time code: %w", err)
	}
	return fresh, nil
}

// BeginTOTP starts enrolment: a new secret is kept pending until a code
// from it is confirmed. It returns the secret and the otpauth:// URI.
func (s *Service) BeginTOTP(ctx context.Context, name, issuer string) (secret, uri string, err error) {
	a, err := s.Account(ctx, name)
	if err != nil {
		return "", "", err
	}
	secret, err = s.randomToken(20) // 160 bits, RFC 4226 §4 R6
	if err != nil {
		return "", "", err
	}
	a.TOTPPending = secret
	if err := s.saveAccount(ctx, a); err != nil {
		return "", "", err
	}
	label := url.PathEscape(issuer + ":" + name)
	q := url.Values{"secret": {secret}, "issuer": {issuer}, "digits": {"6"}, "period": {"30"}, "algorithm": {"SHA1"}}
	return secret, "otpauth://totp/" + label + "?" + q.Encode(), nil
}

// ConfirmTOTP enables the pending secret when code matches it.
func (s *Service) ConfirmTOTP(ctx context.Context, name, code string) error {
	a, err := s.Account(ctx, name)
	if err != nil {
		return err
	}
	if a.TOTPPending == "" {
		return ErrTOTPNotEnrolled
	}
	ok, err := s.useTOTP(ctx, name, a.TOTPPending, code)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the code does not match; check the device clock and try the next code")
	}
	a.TOTPSecret, a.TOTPPending = a.TOTPPending, ""
	return s.saveAccount(ctx, a)
}

// DisableTOTP removes the second factor after checking the password.
func (s *Service) DisableTOTP(ctx context.Context, name, password string) error {
	a, err := s.Account(ctx, name)
	if err != nil {
		return err
	}
	if err := s.checkPassword(ctx, a, password); err != nil {
		return err
	}
	a.TOTPSecret, a.TOTPPending = "", ""
	return s.saveAccount(ctx, a)
}
