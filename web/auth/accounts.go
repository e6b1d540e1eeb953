package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pixelgate/pixelgate/consent/passhash"
)

// Account is one person's dashboard account. There are no shared accounts
// (R10): every audit entry names the person.
type Account struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// PasswordHash is empty until the person sets a password through a
	// one-time link (new account or after a reset).
	PasswordHash string `json:"password_hash,omitempty"`
	Disabled     bool   `json:"disabled,omitempty"`
	// TOTPSecret is the confirmed second-factor secret (base32); TOTPPending
	// one being enrolled and not yet confirmed with a code.
	TOTPSecret  string `json:"totp_secret,omitempty"`
	TOTPPending string `json:"totp_pending,omitempty"`
	// Epoch is bumped to end every session of the account at once (logout
	// everywhere, reset, disable, role change).
	Epoch           int64     `json:"epoch"`
	Created         time.Time `json:"created"`
	PasswordChanged time.Time `json:"password_changed,omitzero"`
	LastLogin       time.Time `json:"last_login,omitzero"`
}

// NeedsPassword reports whether the account must set a password (new or
// reset) before it can log in.
func (a Account) NeedsPassword() bool { return a.PasswordHash == "" }

// TOTPEnabled reports whether logins need a one-time code.
func (a Account) TOTPEnabled() bool { return a.TOTPSecret != "" }

// Errors of account operations.
var (
	ErrAccountExists   = errors.New("an account with that name already exists")
	ErrNoAccount       = errors.New("no such account")
	ErrLastAdmin       = errors.New("this is the last enabled admin account; create another admin first")
	ErrWrongPassword   = errors.New("current password is wrong")
	ErrSamePassword    = errors.New("the new password must differ from the current one")
	ErrTOTPNotEnrolled = errors.New("no second factor enrolment in progress")
)

// Account returns one account.
func (s *Service) Account(ctx context.Context, name string) (Account, error) {
	var a Account
	if err := ValidName(name); err != nil {
		return a, fmt.Errorf("%w: %q", ErrNoAccount, name)
	}
	if err := s.getJSON(ctx, nsAccounts, name, &a); err != nil {
		if isNotFound(err) {
			return a, fmt.Errorf("%w: %q", ErrNoAccount, name)
		}
		return a, fmt.Errorf("read account %s: %w", name, err)
	}
	return a, nil
}

// Accounts lists every account, sorted by name.
func (s *Service) Accounts(ctx context.Context) ([]Account, error) {
	names, err := s.rec.List(ctx, nsAccounts)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	out := make([]Account, 0, len(names))
	for _, n := range names {
		a, err := s.Account(ctx, n)
		if errors.Is(err, ErrNoAccount) {
			continue // deleted between List and Get
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// HasAccounts reports whether any account exists (first start otherwise).
func (s *Service) HasAccounts(ctx context.Context) (bool, error) {
	names, err := s.rec.List(ctx, nsAccounts)
	if err != nil {
		return false, fmt.Errorf("list accounts: %w", err)
	}
	return len(names) > 0, nil
}

func (s *Service) saveAccount(ctx context.Context, a Account) error {
	return s.putJSON(ctx, nsAccounts, a.Name, a, 0)
}

// AddAccount creates an account without a password and returns a one-time
// link token with which its owner sets one. There is no default password.
func (s *Service) AddAccount(ctx context.Context, name string, role Role) (string, error) {
	if err := ValidName(name); err != nil {
		return "", err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return "", err
	}
	a := Account{Name: name, Role: role, Created: s.now().UTC()}
	b, err := jsonBytes(a)
	if err != nil {
		return "", err
	}
	ok, err := s.rec.PutIfAbsent(ctx, nsAccounts, name, b, 0)
	if err != nil {
		return "", fmt.Errorf("create account %s: %w", name, err)
	}
	if !ok {
		return "", fmt.Errorf("create account %s: %w", name, ErrAccountExists)
	}
	return s.issueSetupLink(ctx, setupLink{Purpose: PurposeSetPassword, Account: name})
}

// ResetAccount removes the password and second factor, ends every session
// and returns a one-time link to set a new password: the old password stops
// working at once and the next login needs a new one (R10: forced change
// after reset).
func (s *Service) ResetAccount(ctx context.Context, name string) (string, error) {
	a, err := s.Account(ctx, name)
	if err != nil {
		return "", err
	}
	a.PasswordHash, a.TOTPSecret, a.TOTPPending = "", "", ""
	a.Epoch++
	if err := s.saveAccount(ctx, a); err != nil {
		return "", err
	}
	return s.issueSetupLink(ctx, setupLink{Purpose: PurposeSetPassword, Account: name})
}

// SetDisabled disables or re-enables an account; disabling ends its
// sessions and stops its API tokens.
func (s *Service) SetDisabled(ctx context.Context, name string, disabled bool) error {
	a, err := s.Account(ctx, name)
	if err != nil {
		return err
	}
	if disabled && a.Role == RoleAdmin && !a.Disabled {
		if err := s.ensureAnotherAdmin(ctx, name); err != nil {
			return err
		}
	}
	a.Disabled = disabled
	a.Epoch++
	return s.saveAccount(ctx, a)
}

// SetRole changes an account's role and ends its sessions, so the new role
// applies from the next login.
func (s *Service) SetRole(ctx context.Context, name string, role Role) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	a, err := s.Account(ctx, name)
	if err != nil {
		return err
	}
	if a.Role == RoleAdmin && role != RoleAdmin && !a.Disabled {
		if err := s.ensureAnotherAdmin(ctx, name); err != nil {
			return err
		}
	}
	a.Role = role
	a.Epoch++
	return s.saveAccount(ctx, a)
}

// ensureAnotherAdmin keeps the deployment manageable: some enabled admin
// other than name must remain.
func (s *Service) ensureAnotherAdmin(ctx context.Context, name string) error {
	all, err := s.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.Name != name && o.Role == RoleAdmin && !o.Disabled {
			return nil
		}
	}
	return ErrLastAdmin
}

// ChangePassword replaces the password of a logged-in account after
// checking the current one and the policy; other sessions are ended.
func (s *Service) ChangePassword(ctx context.Context, name, current, next string) error {
	a, err := s.Account(ctx, name)
	if err != nil {
		return err
	}
	if err := s.checkPassword(ctx, a, current); err != nil {
		return err
	}
	if current == next {
		return ErrSamePassword
	}
	return s.setPassword(ctx, &a, next)
}

func (s *Service) setPassword(ctx context.Context, a *Account, password string) error {
	if err := s.policy.Check(a.Name, password); err != nil {
		return err
	}
	h, err := s.cfg.Hashes.Hash(ctx, s.rand, s.cfg.Hash, password)
	if err != nil {
		return err
	}
	a.PasswordHash = h
	a.PasswordChanged = s.now().UTC()
	a.Epoch++
	return s.saveAccount(ctx, *a)
}

// checkPassword confirms a logged-in account's password before a change
// to its credentials: ErrWrongPassword, or passhash.ErrBusy when there is
// no room to hash now.
func (s *Service) checkPassword(ctx context.Context, a Account, password string) error {
	ok, err := s.cfg.Hashes.Verify(ctx, a.PasswordHash, password)
	if errors.Is(err, passhash.ErrBusy) {
		return err
	}
	if err != nil || !ok {
		return ErrWrongPassword
	}
	return nil
}
