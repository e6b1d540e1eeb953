package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/pixelgate/pixelgate/consent/passhash"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/pixelgate/pixelgate/consent"
)

// Records namespaces of the relay. Credentials live in the store so every
// replica sharing it accepts the same senders (R10: individual accounts,
// hashed passwords).
const (
	nsCredentials = "smtp-credentials"
	nsAuthFailure = "smtp-auth-failures"
)

var (
	// ErrNoSuchUser is returned by Remove for an unknown user name.
	ErrNoSuchUser = errors.New("no such relay user")

	errAuthThrottled = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Too many failed authentication attempts, try again later"}
	errAuthUnavailable = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Temporary authentication failure"}
)

// Credentials are the relay's AUTH accounts, stored hashed with argon2id in
// the store's Records, with failed attempts throttled per client address.
type Credentials struct {
	rec  consent.Records
	rand io.Reader
	// MaxFailures failed AUTHs from one address within Window lock that
	// address out of AUTH until the window ends.
	MaxFailures int64
	Window      time.Duration
}

// NewCredentials uses rec for storage and random for salts.
func NewCredentials(rec consent.Records, random io.Reader) *Credentials {
	return &Credentials{rec: rec, rand: random, MaxFailures: 10, Window: 15 * time.Minute}
}

// validUser keeps user names printable and short; they are record keys.
func validUser(user string) error {
	if user == "" || len(user) > 128 {
		return fmt.Errorf("relay user name must be 1 to 128 characters")
	}
	for _, r := range user {
		if r <= ' ' || r == 0x7f || r == ':' {
			return fmt.Errorf("relay user name %q: no spaces, control characters or ':'", user)
		}
	}
	return nil
}

// Set creates or replaces user's password.
func (c *Credentials) Set(ctx context.Context, user, password string) error {
	if err := validUser(user); err != nil {
		return err
	}
	if len(password) < 12 {
		return fmt.Errorf("relay password must have at least 12 characters")
	}
	enc, err := passhash.Hash(c.rand, passhash.Default, password)
	if err != nil {
		return fmt.Errorf("hash relay password: %w", err)
	}
	if err := c.rec.Put(ctx, nsCredentials, user, []byte(enc), 0); err != nil {
		return fmt.Errorf("store relay credentials: %w", err)
	}
	return nil
}

// Remove deletes user.
func (c *Credentials) Remove(ctx context.Context, user string) error {
	if _, err := c.rec.Get(ctx, nsCredentials, user); err != nil {
		if errors.Is(err, consent.ErrNotFound) {
			return fmt.Errorf("%w: %q", ErrNoSuchUser, user)
		}
		return fmt.Errorf("read relay credentials: %w", err)
	}
	if err := c.rec.Delete(ctx, nsCredentials, user); err != nil {
		return fmt.Errorf("delete relay credentials: %w", err)
	}
	return nil
}

// List returns the user names, sorted.
func (c *Credentials) List(ctx context.Context) ([]string, error) {
	users, err := c.rec.List(ctx, nsCredentials)
	if err != nil {
		return nil, fmt.Errorf("list relay credentials: %w", err)
	}
	return users, nil
}

// throttleKey hides the client address in the shared store: the counter
// only needs to be stable, not readable. IPv6 clients count per /64, the
// block one host usually holds, so rotating addresses does not escape.
func throttleKey(clientIP string) string {
	if ip, err := netip.ParseAddr(clientIP); err == nil && ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		clientIP = p.String()
	}
	s := sha256.Sum256([]byte("smtp-auth\x00" + clientIP))
	return hex.EncodeToString(s[:12])
}

// Check verifies user/password for a client address. It returns
// smtp.ErrAuthFailed for a wrong pair and errAuthThrottled once the address
// has failed too often; the store being down is a temporary failure.
func (c *Credentials) Check(ctx context.Context, clientIP, user, password string) error {
	tk := throttleKey(clientIP)
	// Incr by 0 reads the counter in whatever form the store keeps it.
	if n, err := c.rec.Incr(ctx, nsAuthFailure, tk, 0, c.Window); err == nil && n >= c.MaxFailures {
		return errAuthThrottled
	}
	enc, err := c.rec.Get(ctx, nsCredentials, user)
	ok := false
	switch {
	case err == nil:
		ok = verifyArgon2id(string(enc), password)
	case errors.Is(err, consent.ErrNotFound) || validUser(user) != nil:
		// Spend the same time as for a real user so a probe cannot tell
		// which names exist.
		verifyArgon2id("", password)
	default:
		return errAuthUnavailable
	}
	if ok {
		return nil
	}
	if _, err := c.rec.Incr(ctx, nsAuthFailure, tk, 1, c.Window); err != nil {
		return errAuthUnavailable
	}
	return smtp.ErrAuthFailed
}

// dummyArgon is used to burn the same time for unknown users.
const dummyArgon = "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// verifyArgon2id checks password against a stored hash; "" verifies
// against a dummy hash of the same cost and always fails.
func verifyArgon2id(enc, password string) bool {
	real := enc != ""
	if !real {
		enc = dummyArgon
	}
	ok, err := passhash.Verify(enc, password)
	return ok && err == nil && real
}

// saslServer returns the SASL server for mech, authenticating with check.
func saslServer(mech string, check func(user, pass string) error) (sasl.Server, error) {
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return smtp.ErrAuthFailed
			}
			return check(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// loginServer is the obsolete but widespread LOGIN mechanism
// (draft-murchison-sasl-login): prompt for user name, then password.
type loginServer struct {
	check func(user, pass string) error
	user  string
	step  int
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if response != nil {
			// Initial response carries the user name.
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(response)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		return nil, true, l.check(l.user, string(response))
	}
	return nil, false, errors.New("unexpected LOGIN response")
}
