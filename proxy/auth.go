package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pixelgate/pixelgate/consent/passhash"
	"github.com/pixelgate/pixelgate/consent/throttle"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/pixelgate/pixelgate/consent"
)

// SharedKV namespaces of the relay. Credentials live in the store so every
// replica sharing it accepts the same senders (R10: individual accounts,
// hashed passwords).
const nsCredentials = "smtp-credentials"

var (
	// ErrNoSuchUser is returned by Remove for an unknown user name.
	ErrNoSuchUser = errors.New("no such relay user")

	errAuthThrottled = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Too many failed authentication attempts, try again later"}
	errAuthUnavailable = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Temporary authentication failure"}
	errAuthBusy = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Too many logins at once, try again later"}
)

// Credentials are the relay's AUTH accounts, stored hashed with argon2id in
// the store's SharedKV, with failed attempts throttled per account and per
// client address.
type Credentials struct {
	rec  consent.SharedKV
	rand io.Reader
	// Throttle counts AUTH attempts; Check refuses every attempt without
	// one (fail closed). Managing accounts needs none.
	Throttle *throttle.Throttle
	// Hashes bounds the memory of concurrent password checks; share the
	// dashboard's. Nil: a gate of passhash.DefaultMemoryBudget of its own.
	Hashes    *passhash.Gate
	ownHashes *passhash.Gate
}

// NewCredentials uses rec for storage and random for salts.
func NewCredentials(rec consent.SharedKV, random io.Reader) *Credentials {
	return &Credentials{rec: rec, rand: random, ownHashes: passhash.NewGate(passhash.DefaultMemoryBudget, 0)}
}

// NewCredentialsThrottle is the AUTH throttle of the relay over rec, its
// counter names keyed with key (consent.Keyring.ThrottleKey).
func NewCredentialsThrottle(rec consent.SharedKV, key []byte, cfg throttle.Config, now func() time.Time) (*throttle.Throttle, error) {
	return throttle.New(rec, throttle.Options{Scope: "smtp-auth", Key: key, Config: cfg, Now: now})
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

// Check verifies user/password for a client address (R10: throttled
// logins). It returns smtp.ErrAuthFailed for a wrong pair, errAuthThrottled
// without checking the password once the account or the address has failed
// too often, and errAuthUnavailable (454, try again) whenever the attempt
// cannot be counted or hashed now: never an unthrottled check.
func (c *Credentials) Check(ctx context.Context, clientIP, user, password string) error {
	if c.Throttle == nil {
		return errAuthUnavailable
	}
	att, err := c.Throttle.Begin(ctx, user, clientIP)
	var throttled *throttle.Error
	switch {
	case errors.As(err, &throttled):
		return errAuthThrottled
	case err != nil:
		return errAuthUnavailable
	}
	enc, err := c.rec.Get(ctx, nsCredentials, user)
	switch {
	case err == nil:
	case errors.Is(err, consent.ErrNotFound) || validUser(user) != nil:
		// Spend the same time as for a real user so a probe cannot tell
		// which names exist.
		enc = []byte(dummyArgon)
	default:
		att.Refund(ctx)
		return errAuthUnavailable
	}
	ok, err := c.hashes().Verify(ctx, string(enc), password)
	if errors.Is(err, passhash.ErrBusy) {
		att.Refund(ctx)
		return errAuthBusy
	}
	if err != nil || !ok || string(enc) == dummyArgon {
		return smtp.ErrAuthFailed
	}
	if err := att.Succeeded(ctx); err != nil {
		return errAuthUnavailable
	}
	return nil
}

func (c *Credentials) hashes() *passhash.Gate {
	if c.Hashes == nil {
		return c.ownHashes
	}
	return c.Hashes
}

// dummyArgon is verified for unknown users: the same cost as a real user's
// hash, and no password matches it.
const dummyArgon = "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

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
