package consent

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// secretLen is the size of every generated secret (256 bits).
const secretLen = 32

// File names inside the keys directory (--keys-dir, operator guide §9).
const (
	recipientSecretName = "recipient.key"
	auditKeyName        = "audit.key"
	tokenKeyPrefix      = "token-"
	tokenKeySuffix      = ".key"
	tokenRetiredSuffix  = ".retired"
)

// KeyringOptions say where pixelgate's secrets live.
type KeyringOptions struct {
	// Dir holds the secrets (usually DATA_DIR/keys). It is created with
	// mode 0700 and missing secrets are generated into it with mode 0600.
	Dir string
	// RecipientSecretFile and AuditKeyFile, when set, name files that hold
	// these secrets instead of Dir (config: several replicas and CLI calls
	// sharing one Redis must use the same secrets). They are never created.
	RecipientSecretFile string
	AuditKeyFile        string
	// NoCreate refuses to generate missing secrets: a command that works on
	// an existing store must not invent new ones.
	NoCreate bool
	// Rand is the randomness for new secrets and token nonces; nil means
	// crypto/rand.
	Rand io.Reader
	// Now is the clock for token issue days and expiry; nil means time.Now.
	Now func() time.Time
	// MaxAge is how long a token of a purpose is accepted after its issue
	// day; missing purposes take DefaultTokenMaxAge, a zero value disables
	// expiry for that purpose.
	MaxAge map[Purpose]time.Duration
}

// DefaultTokenMaxAge is the age after which a token is refused. Open, link and
// deliverability tokens live as long as the opens they record (R9); the
// consent-page token never expires, because withdrawing must work from any
// email ever received (R3).
func DefaultTokenMaxAge(p Purpose) time.Duration {
	if p == PurposeConsentPage {
		return 0
	}
	return DefaultRetention().Opens
}

// Keyring holds the secrets: the recipient-key HMAC secret, the token keys by
// id and the audit chain key. It is safe for concurrent use.
type Keyring struct {
	dir       string
	rand      io.Reader
	now       func() time.Time
	maxAge    map[Purpose]time.Duration
	recipient []byte
	audit     []byte

	mu      sync.RWMutex
	tokens  map[uint8]cipher.AEAD
	retired map[uint8]bool
	newest  uint8
}

// OpenKeyring loads the secrets, generating the missing ones on first start
// unless o.NoCreate is set.
func OpenKeyring(o KeyringOptions) (*Keyring, error) {
	if o.Dir == "" {
		return nil, errors.New("open keyring: no keys directory given")
	}
	kr := &Keyring{dir: o.Dir, rand: o.Rand, now: o.Now, maxAge: map[Purpose]time.Duration{},
		tokens: map[uint8]cipher.AEAD{}, retired: map[uint8]bool{}}
	if kr.rand == nil {
		kr.rand = rand.Reader
	}
	if kr.now == nil {
		kr.now = time.Now
	}
	for _, p := range purposes {
		age, ok := o.MaxAge[p]
		if !ok {
			age = DefaultTokenMaxAge(p)
		}
		kr.maxAge[p] = age
	}
	if !o.NoCreate {
		// 0700: nobody but pixelgate's user may even list the secrets.
		if err := os.MkdirAll(o.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("create keys directory: %w", err)
		}
	}
	var err error
	if kr.recipient, err = kr.secret(o.RecipientSecretFile, recipientSecretName, !o.NoCreate); err != nil {
		return nil, err
	}
	if kr.audit, err = kr.secret(o.AuditKeyFile, auditKeyName, !o.NoCreate); err != nil {
		return nil, err
	}
	if err := kr.loadTokenKeys(!o.NoCreate); err != nil {
		return nil, err
	}
	return kr, nil
}

// secret reads the named config file, or Dir/name, generating the latter
// when allowed.
func (kr *Keyring) secret(configured, name string, create bool) ([]byte, error) {
	if configured != "" {
		return readSecret(configured)
	}
	path := filepath.Join(kr.dir, name)
	b, err := readSecret(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !create {
		return b, err
	}
	return kr.generate(path)
}

func (kr *Keyring) generate(path string) ([]byte, error) {
	b := make([]byte, secretLen)
	if _, err := io.ReadFull(kr.rand, b); err != nil {
		return nil, fmt.Errorf("generate secret %s: %w", filepath.Base(path), err)
	}
	// O_EXCL: two processes starting at once must not overwrite each
	// other's fresh secret; the loser reads the winner's.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("write secret: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(b) + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("write secret %s: %w", path, werr)
	}
	return b, nil
}

// readSecret reads a hex secret and refuses files others may read.
func readSecret(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("read secret %s: mode %v lets other users read it; run chmod 600", path, st.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(b) < 16 {
		return nil, fmt.Errorf("read secret %s: want at least 32 hex digits", path)
	}
	return b, nil
}

// loadTokenKeys reads token-NNN.key and token-NNN.retired; the highest live
// id seals new tokens.
func (kr *Keyring) loadTokenKeys(create bool) error {
	entries, err := os.ReadDir(kr.dir)
	if err != nil && !(errors.Is(err, fs.ErrNotExist) && !create) {
		return fmt.Errorf("list token keys: %w", err)
	}
	for _, e := range entries {
		id, suffix, ok := parseTokenKeyName(e.Name())
		if !ok {
			continue
		}
		if suffix == tokenRetiredSuffix {
			kr.retired[id] = true
			continue
		}
		b, err := readSecret(filepath.Join(kr.dir, e.Name()))
		if err != nil {
			return err
		}
		if err := kr.addTokenKey(id, b); err != nil {
			return err
		}
	}
	for id := range kr.retired {
		delete(kr.tokens, id)
	}
	if len(kr.tokens) == 0 {
		if !create {
			return fmt.Errorf("no token key in %s", kr.dir)
		}
		if _, err := kr.Rotate(); err != nil {
			return err
		}
	}
	return nil
}

func (kr *Keyring) addTokenKey(id uint8, b []byte) error {
	if len(b) != chacha20poly1305.KeySize {
		return fmt.Errorf("token key %d: want %d bytes, got %d", id, chacha20poly1305.KeySize, len(b))
	}
	aead, err := chacha20poly1305.NewX(b)
	if err != nil {
		return fmt.Errorf("token key %d: %w", id, err)
	}
	kr.tokens[id] = aead
	if id > kr.newest {
		kr.newest = id
	}
	return nil
}

func tokenKeyName(id uint8, suffix string) string {
	return fmt.Sprintf("%s%03d%s", tokenKeyPrefix, id, suffix)
}

func parseTokenKeyName(name string) (uint8, string, bool) {
	rest, ok := strings.CutPrefix(name, tokenKeyPrefix)
	if !ok {
		return 0, "", false
	}
	for _, suffix := range []string{tokenKeySuffix, tokenRetiredSuffix} {
		if num, ok := strings.CutSuffix(rest, suffix); ok {
			n, err := strconv.ParseUint(num, 10, 8)
			if err != nil || n == 0 {
				return 0, "", false
			}
			return uint8(n), suffix, true
		}
	}
	return 0, "", false
}

// Rotate generates a new token key; new tokens are sealed with it while
// tokens sealed with older keys still open until those are retired. Other
// processes pick the new key up when they restart.
func (kr *Keyring) Rotate() (uint8, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	// A new id is above every id ever used, retired ones included, so an
	// old token can never open with a new key.
	highest := kr.newest
	for id := range kr.retired {
		highest = max(highest, id)
	}
	if highest == 255 {
		return 0, errors.New("rotate token key: all 255 key ids used")
	}
	next := highest + 1
	b, err := kr.generate(filepath.Join(kr.dir, tokenKeyName(next, tokenKeySuffix)))
	if err != nil {
		return 0, fmt.Errorf("rotate token key: %w", err)
	}
	if err := kr.addTokenKey(next, b); err != nil {
		return 0, err
	}
	return next, nil
}

// Retire deletes an old token key and remembers its id, so tokens sealed
// with it fail with ErrTokenRetired rather than look tampered. The newest key
// cannot be retired: rotate first.
func (kr *Keyring) Retire(id uint8) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if _, ok := kr.tokens[id]; !ok {
		return fmt.Errorf("retire token key %d: no such live key", id)
	}
	if id == kr.newest {
		return fmt.Errorf("retire token key %d: it is the newest key; rotate first", id)
	}
	marker := filepath.Join(kr.dir, tokenKeyName(id, tokenRetiredSuffix))
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		return fmt.Errorf("retire token key %d: %w", id, err)
	}
	if err := os.Remove(filepath.Join(kr.dir, tokenKeyName(id, tokenKeySuffix))); err != nil {
		return fmt.Errorf("retire token key %d: %w", id, err)
	}
	delete(kr.tokens, id)
	kr.retired[id] = true
	return nil
}

// Dir is the keys directory.
func (kr *Keyring) Dir() string { return kr.dir }

// TokenKeyIDs lists the live token key ids, oldest first.
func (kr *Keyring) TokenKeyIDs() []uint8 {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	ids := make([]uint8, 0, len(kr.tokens))
	for id := range kr.tokens {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// RecipientKey derives the recipient key of an address: the
// HMAC-SHA256 of the normalised address, truncated to 128 bits. The address
// itself is never kept (R6, R8).
func (kr *Keyring) RecipientKey(addr string) (Key, error) {
	norm, err := NormalizeAddress(addr)
	if err != nil {
		return Key{}, err
	}
	m := hmac.New(sha256.New, kr.recipient)
	m.Write([]byte(norm))
	var k Key
	copy(k[:], m.Sum(nil))
	return k, nil
}

// AuditChain is the HMAC chain of the audit log, keyed with the audit key.
func (kr *Keyring) AuditChain() AuditChain { return NewAuditChain(kr.audit) }

// Fingerprint identifies the recipient and audit secrets without revealing
// them, for Store.CheckFingerprint: two processes with different secrets
// would split recipients and break the audit chain (R10). Token keys
// are left out because they rotate.
func (kr *Keyring) Fingerprint() string {
	m := hmac.New(sha256.New, kr.recipient)
	m.Write([]byte("pixelgate secrets fingerprint v1\x00"))
	m.Write(kr.audit)
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// ThrottleKey keys the names of login throttling counters. It is derived
// from the recipient secret, which every replica sharing a store already
// holds (the store's fingerprint checks it), so no further secret file is
// needed; the derivation label keeps it independent of recipient keys.
func (kr *Keyring) ThrottleKey() []byte {
	m := hmac.New(sha256.New, kr.recipient)
	m.Write([]byte("pixelgate login throttle key v1"))
	return m.Sum(nil)
}
