package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pixelgate/pixelgate/consent/passhash"
	"github.com/pixelgate/pixelgate/consent/throttle"

	"github.com/pixelgate/pixelgate/consent"
)

// SharedKV namespaces used by this package. Keys are account names or hashes
// of secrets, never an email address.
const (
	nsAccounts   = "accounts"
	nsSessions   = "sessions"
	nsAPITokens  = "apitokens"
	nsSetupLinks = "setuplinks"
	nsTOTPUsed   = "totp-used"
)

// Config holds the timeouts and costs of the auth service. Zero fields take
// the defaults in brackets.
type Config struct {
	// IdleTimeout ends a session nobody used for this long [30m].
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after login, used or not [12h].
	AbsoluteTimeout time.Duration
	// SetupLinkTTL is how long a one-time setup or reset link works [24h].
	SetupLinkTTL time.Duration
	// Hash is the argon2id cost [DefaultHashParams].
	Hash HashParams
	// Throttle shapes the growing delays after failed logins.
	Throttle ThrottleConfig
	// ThrottleKey keys the throttle's counter names (required; see
	// consent.Keyring.ThrottleKey).
	ThrottleKey []byte
	// Hashes bounds the memory of concurrent password hashes; share one
	// per process [a gate of passhash.DefaultMemoryBudget].
	Hashes *passhash.Gate
}

func (c *Config) defaults() {
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.AbsoluteTimeout == 0 {
		c.AbsoluteTimeout = 12 * time.Hour
	}
	if c.SetupLinkTTL == 0 {
		c.SetupLinkTTL = 24 * time.Hour
	}
	if c.Hash == (HashParams{}) {
		c.Hash = DefaultHashParams
	}
	c.Throttle = c.Throttle.WithDefaults()
	if c.Hashes == nil {
		c.Hashes = passhash.NewGate(passhash.DefaultMemoryBudget, 0)
	}
}

// Service is the accounts, sessions and tokens of one deployment.
type Service struct {
	rec      consent.SharedKV
	cfg      Config
	throttle *throttle.Throttle
	now      func() time.Time
	rand     io.Reader
	policy   *Policy
	// dummyHash is verified when an account does not exist, so a login for
	// an unknown name takes as long as one for a known name.
	dummyHash string
}

// New builds the service over the store's SharedKV. now and rand are
// injected so tests control time and secrets.
func New(rec consent.SharedKV, cfg Config, now func() time.Time, rand io.Reader) (*Service, error) {
	cfg.defaults()
	th, err := throttle.New(rec, throttle.Options{Scope: "login", Key: cfg.ThrottleKey, Config: cfg.Throttle, Now: now})
	if err != nil {
		return nil, fmt.Errorf("dashboard accounts: %w", err)
	}
	s := &Service{rec: rec, cfg: cfg, throttle: th, now: now, rand: rand, policy: NewPolicy()}
	h, err := passhash.Hash(rand, cfg.Hash, "no account has this password")
	if err != nil {
		return nil, err
	}
	s.dummyHash = h
	return s, nil
}

// Config returns the effective configuration (with defaults applied).
func (s *Service) Config() Config { return s.cfg }

// Policy is the password policy used for new passwords.
func (s *Service) Policy() *Policy { return s.policy }

// randomToken returns n random bytes as unpadded base32 (URL- and
// cookie-safe, case-insensitive when typed).
func (s *Service) randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b), nil
}

// secretKey is the SharedKV key of a secret token: its SHA-256. Tokens are
// 160+ random bits, so a fast hash is enough (no dictionary to attack), and
// a copy of the store yields no usable session or API token.
func secretKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (s *Service) getJSON(ctx context.Context, ns, key string, v any) error {
	b, err := s.rec.Get(ctx, ns, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s record: %w", ns, err)
	}
	return nil
}

func (s *Service) putJSON(ctx context.Context, ns, key string, v any, ttl time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s record: %w", ns, err)
	}
	if err := s.rec.Put(ctx, ns, key, b, ttl); err != nil {
		return fmt.Errorf("store %s record: %w", ns, err)
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, consent.ErrNotFound) }

func jsonBytes(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	return b, nil
}
