package auth

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Purpose says what a one-time link does.
type Purpose string

const (
	// PurposeFirstAdmin creates the first admin account; issued only while
	// no account exists.
	PurposeFirstAdmin Purpose = "first-admin"
	// PurposeSetPassword sets the password of a new or reset account.
	PurposeSetPassword Purpose = "set-password"
)

// ErrLinkInvalid: the link is unknown, used or expired.
var ErrLinkInvalid = errors.New("this link is invalid, already used or expired; ask an administrator for a new one")

type setupLink struct {
	Purpose Purpose   `json:"purpose"`
	Account string    `json:"account,omitempty"`
	Expires time.Time `json:"expires"`
}

// SetupLink is what a one-time link is for, shown on its form.
type SetupLink struct {
	Purpose Purpose
	// Account is empty for PurposeFirstAdmin: the person chooses the name.
	Account string
	Expires time.Time
}

func (s *Service) issueSetupLink(ctx context.Context, l setupLink) (string, error) {
	tok, err := s.randomToken(20)
	if err != nil {
		return "", err
	}
	l.Expires = s.now().UTC().Add(s.cfg.SetupLinkTTL)
	if err := s.putJSON(ctx, nsSetupLinks, secretKey(tok), l, s.cfg.SetupLinkTTL); err != nil {
		return "", err
	}
	return tok, nil
}

// FirstRunLink returns a new one-time link token that creates the first
// admin, or "" when accounts exist already. `serve` prints it at start.
func (s *Service) FirstRunLink(ctx context.Context) (string, error) {
	has, err := s.HasAccounts(ctx)
	if err != nil || has {
		return "", err
	}
	return s.issueSetupLink(ctx, setupLink{Purpose: PurposeFirstAdmin})
}

// PeekLink says what a link token is for without using it up.
func (s *Service) PeekLink(ctx context.Context, tok string) (SetupLink, error) {
	var l setupLink
	if tok == "" || len(tok) > 64 {
		return SetupLink{}, ErrLinkInvalid
	}
	if err := s.getJSON(ctx, nsSetupLinks, secretKey(tok), &l); err != nil {
		if isNotFound(err) {
			return SetupLink{}, ErrLinkInvalid
		}
		return SetupLink{}, fmt.Errorf("read setup link: %w", err)
	}
	if !s.now().Before(l.Expires) {
		return SetupLink{}, ErrLinkInvalid
	}
	if l.Purpose == PurposeFirstAdmin {
		// A first-run link dies as soon as any account exists.
		if has, err := s.HasAccounts(ctx); err != nil {
			return SetupLink{}, err
		} else if has {
			return SetupLink{}, ErrLinkInvalid
		}
	}
	return SetupLink(l), nil
}

// RedeemLink uses a link: it creates the first admin named name, or sets
// the password of the link's account. The password must pass the policy;
// when it does not, the link stays usable. It returns the account.
func (s *Service) RedeemLink(ctx context.Context, tok, name, password string) (Account, error) {
	l, err := s.PeekLink(ctx, tok)
	if err != nil {
		return Account{}, err
	}
	var a Account
	switch l.Purpose {
	case PurposeFirstAdmin:
		if err := ValidName(name); err != nil {
			return Account{}, err
		}
		a = Account{Name: name, Role: RoleAdmin, Created: s.now().UTC()}
		if err := s.policy.Check(name, password); err != nil {
			return Account{}, err
		}
		b, err := jsonBytes(a)
		if err != nil {
			return Account{}, err
		}
		ok, err := s.rec.PutIfAbsent(ctx, nsAccounts, name, b, 0)
		if err != nil {
			return Account{}, fmt.Errorf("create first admin: %w", err)
		}
		if !ok {
			return Account{}, ErrAccountExists
		}
	case PurposeSetPassword:
		if a, err = s.Account(ctx, l.Account); err != nil {
			return Account{}, err
		}
	default:
		return Account{}, ErrLinkInvalid
	}
	if err := s.setPassword(ctx, &a, password); err != nil {
		return Account{}, err
	}
	if err := s.rec.Delete(ctx, nsSetupLinks, secretKey(tok)); err != nil {
		return Account{}, fmt.Errorf("use up setup link: %w", err)
	}
	return a, nil
}
