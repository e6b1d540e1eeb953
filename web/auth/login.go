package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pixelgate/pixelgate/consent/passhash"
)

// ErrBadLogin is the one answer to a wrong name, password, code, a disabled
// account or one without a password: the form must not tell an attacker
// which part was right.
var ErrBadLogin = errors.New("wrong account name, password or one-time code")

// LoginRequest is one attempt from the login form.
type LoginRequest struct {
	Name, Password string
	// Code is the TOTP code; needed only when the account enrolled one.
	Code string
	// Addr is the client address, for per-address throttling only.
	Addr string
}

// Login checks a login attempt under throttling and starts a session. It
// returns the session token for the cookie. Errors are ErrBadLogin, a
// *ThrottledError (the password was not checked), passhash.ErrBusy (too
// many checks at once: try again shortly), or a store error.
func (s *Service) Login(ctx context.Context, req LoginRequest) (string, Account, error) {
	// The attempt counts before its password is hashed: an attempt over
	// the limit costs no hash, and parallel guesses cannot all pass (R10).
	att, err := s.throttle.Begin(ctx, req.Name, req.Addr)
	if err != nil {
		return "", Account{}, err
	}
	a, err := s.checkCredentials(ctx, req)
	if errors.Is(err, ErrBadLogin) {
		return "", Account{}, err
	}
	if err != nil {
		// Nothing was learnt about the password.
		att.Refund(ctx)
		return "", Account{}, err
	}
	if err := att.Succeeded(ctx); err != nil {
		return "", Account{}, err
	}
	a.LastLogin = s.now().UTC()
	if err := s.saveAccount(ctx, a); err != nil {
		return "", Account{}, err
	}
	tok, err := s.newSession(ctx, a)
	if err != nil {
		return "", Account{}, err
	}
	return tok, a, nil
}

func (s *Service) checkCredentials(ctx context.Context, req LoginRequest) (Account, error) {
	if len(req.Password) > maxPasswordLen*4 {
		return Account{}, ErrBadLogin
	}
	a, err := s.Account(ctx, req.Name)
	if errors.Is(err, ErrNoAccount) {
		// Same cost as a real account, so a probe cannot tell which
		// names exist.
		if _, err := s.cfg.Hashes.Verify(ctx, s.dummyHash, req.Password); errors.Is(err, passhash.ErrBusy) {
			return Account{}, err
		}
		return Account{}, ErrBadLogin
	}
	if err != nil {
		return Account{}, err
	}
	hash := a.PasswordHash
	if hash == "" {
		hash = s.dummyHash
	}
	ok, err := s.cfg.Hashes.Verify(ctx, hash, req.Password)
	if errors.Is(err, passhash.ErrBusy) {
		return Account{}, err
	}
	if err != nil || !ok || a.PasswordHash == "" || a.Disabled {
		return Account{}, ErrBadLogin
	}
	if a.TOTPEnabled() {
		ok, err := s.useTOTP(ctx, a.Name, a.TOTPSecret, req.Code)
		if err != nil {
			return Account{}, err
		}
		if !ok {
			return Account{}, ErrBadLogin
		}
	}
	return a, nil
}

// Session is one logged-in browser. Its token is only in the cookie; the
// store keeps its hash.
type Session struct {
	Account  string    `json:"account"`
	Epoch    int64     `json:"epoch"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
}

// ErrNoSession: no valid session (unknown, idle too long, too old, ended by
// logout everywhere, or the account was disabled or changed).
var ErrNoSession = errors.New("not logged in or session expired")

// touchEvery limits session writes to one per minute of activity.
const touchEvery = time.Minute

func (s *Service) newSession(ctx context.Context, a Account) (string, error) {
	tok, err := s.randomToken(32)
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	sess := Session{Account: a.Name, Epoch: a.Epoch, Created: now, LastSeen: now}
	if err := s.putJSON(ctx, nsSessions, secretKey(tok), sess, s.sessionTTL(sess, now)); err != nil {
		return "", err
	}
	return tok, nil
}

// sessionTTL lets the store drop a session record once it can no longer be
// valid; validity itself is judged on the injected clock in Authenticate.
func (s *Service) sessionTTL(sess Session, now time.Time) time.Duration {
	left := min(s.cfg.IdleTimeout, sess.Created.Add(s.cfg.AbsoluteTimeout).Sub(now))
	return max(left, 0) + time.Minute
}

// Authenticate returns the session and current account of a cookie token,
// extending the idle timeout. Role changes and disabling apply at once
// because the account is read on every request.
func (s *Service) Authenticate(ctx context.Context, tok string) (Session, Account, error) {
	if tok == "" || len(tok) > 128 {
		return Session{}, Account{}, ErrNoSession
	}
	var sess Session
	key := secretKey(tok)
	if err := s.getJSON(ctx, nsSessions, key, &sess); err != nil {
		if isNotFound(err) {
			return Session{}, Account{}, ErrNoSession
		}
		return Session{}, Account{}, fmt.Errorf("read session: %w", err)
	}
	now := s.now().UTC()
	if now.Sub(sess.LastSeen) >= s.cfg.IdleTimeout || now.Sub(sess.Created) >= s.cfg.AbsoluteTimeout {
		_ = s.rec.Delete(ctx, nsSessions, key)
		return Session{}, Account{}, ErrNoSession
	}
	a, err := s.Account(ctx, sess.Account)
	if errors.Is(err, ErrNoAccount) {
		return Session{}, Account{}, ErrNoSession
	}
	if err != nil {
		return Session{}, Account{}, err
	}
	if a.Disabled || a.Epoch != sess.Epoch || a.PasswordHash == "" {
		_ = s.rec.Delete(ctx, nsSessions, key)
		return Session{}, Account{}, ErrNoSession
	}
	if now.Sub(sess.LastSeen) >= touchEvery {
		sess.LastSeen = now
		if err := s.putJSON(ctx, nsSessions, key, sess, s.sessionTTL(sess, now)); err != nil {
			return Session{}, Account{}, err
		}
	}
	return sess, a, nil
}

// Logout ends one session.
func (s *Service) Logout(ctx context.Context, tok string) error {
	if tok == "" {
		return nil
	}
	if err := s.rec.Delete(ctx, nsSessions, secretKey(tok)); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// LogoutEverywhere ends every session of the account on every replica.
func (s *Service) LogoutEverywhere(ctx context.Context, name string) error {
	a, err := s.Account(ctx, name)
	if err != nil {
		return err
	}
	a.Epoch++
	return s.saveAccount(ctx, a)
}

// ChangePasswordSession is ChangePassword that keeps the caller logged in:
// every other session ends, and a new token replaces the caller's.
func (s *Service) ChangePasswordSession(ctx context.Context, name, current, next, oldTok string) (string, error) {
	if err := s.ChangePassword(ctx, name, current, next); err != nil {
		return "", err
	}
	_ = s.Logout(ctx, oldTok)
	a, err := s.Account(ctx, name)
	if err != nil {
		return "", err
	}
	return s.newSession(ctx, a)
}
