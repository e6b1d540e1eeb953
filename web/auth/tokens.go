package auth

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// APIToken is one per-account token of the JSON API. The token itself is
// shown once at creation; the store keeps its SHA-256 only. A token acts
// with its account's current role, so disabling the account or changing
// its role applies to its tokens at once.
type APIToken struct {
	// ID is a prefix of the stored hash, enough to name the token in lists
	// and revoke it, useless to authenticate.
	ID      string    `json:"-"`
	Account string    `json:"account"`
	Label   string    `json:"label"`
	Created time.Time `json:"created"`
}

const (
	apiTokenPrefix = "pgt_"
	tokenIDLen     = 16
)

// ErrBadToken: unknown or revoked token, or its account is disabled.
var ErrBadToken = errors.New("invalid or revoked API token")

// CreateAPIToken makes a token for account and returns it in plain form,
// the only time it is ever available.
func (s *Service) CreateAPIToken(ctx context.Context, account, label string) (string, APIToken, error) {
	if _, err := s.Account(ctx, account); err != nil {
		return "", APIToken{}, err
	}
	label = strings.TrimSpace(label)
	if label == "" || len(label) > 64 {
		return "", APIToken{}, fmt.Errorf("token label: give 1-64 characters saying what uses the token")
	}
	raw, err := s.randomToken(25)
	if err != nil {
		return "", APIToken{}, err
	}
	plain := apiTokenPrefix + raw
	t := APIToken{Account: account, Label: label, Created: s.now().UTC()}
	key := secretKey(plain)
	if err := s.putJSON(ctx, nsAPITokens, key, t, 0); err != nil {
		return "", APIToken{}, err
	}
	t.ID = key[:tokenIDLen]
	return plain, t, nil
}

// APITokens lists the tokens of account (all accounts when account is "").
func (s *Service) APITokens(ctx context.Context, account string) ([]APIToken, error) {
	keys, err := s.rec.List(ctx, nsAPITokens)
	if err != nil {
		return nil, fmt.Errorf("list API tokens: %w", err)
	}
	var out []APIToken
	for _, k := range keys {
		var t APIToken
		if err := s.getJSON(ctx, nsAPITokens, k, &t); err != nil {
			if isNotFound(err) {
				continue
			}
			return nil, err
		}
		if account != "" && t.Account != account {
			continue
		}
		t.ID = k[:min(len(k), tokenIDLen)]
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// RevokeAPIToken deletes the token with id owned by account (any account's
// when account is "", for admins).
func (s *Service) RevokeAPIToken(ctx context.Context, account, id string) (APIToken, error) {
	if len(id) != tokenIDLen {
		return APIToken{}, ErrBadToken
	}
	keys, err := s.rec.List(ctx, nsAPITokens)
	if err != nil {
		return APIToken{}, fmt.Errorf("list API tokens: %w", err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, id) {
			continue
		}
		var t APIToken
		if err := s.getJSON(ctx, nsAPITokens, k, &t); err != nil {
			return APIToken{}, err
		}
		if account != "" && t.Account != account {
			return APIToken{}, ErrBadToken
		}
		if err := s.rec.Delete(ctx, nsAPITokens, k); err != nil {
			return APIToken{}, fmt.Errorf("revoke API token: %w", err)
		}
		t.ID = id
		return t, nil
	}
	return APIToken{}, ErrBadToken
}

// AuthenticateAPIToken returns the token and its account's current state.
func (s *Service) AuthenticateAPIToken(ctx context.Context, plain string) (APIToken, Account, error) {
	if !strings.HasPrefix(plain, apiTokenPrefix) || len(plain) > 128 {
		return APIToken{}, Account{}, ErrBadToken
	}
	var t APIToken
	key := secretKey(plain)
	if err := s.getJSON(ctx, nsAPITokens, key, &t); err != nil {
		if isNotFound(err) {
			return APIToken{}, Account{}, ErrBadToken
		}
		return APIToken{}, Account{}, err
	}
	a, err := s.Account(ctx, t.Account)
	if errors.Is(err, ErrNoAccount) {
		return APIToken{}, Account{}, ErrBadToken
	}
	if err != nil {
		return APIToken{}, Account{}, err
	}
	if a.Disabled {
		return APIToken{}, Account{}, ErrBadToken
	}
	t.ID = key[:tokenIDLen]
	return t, a, nil
}
