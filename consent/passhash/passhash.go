// Package passhash hashes the passwords pixelgate keeps in its store:
// dashboard accounts (R10: hashed passwords) and relay AUTH credentials. One
// format and one verifier for both, so a parameter raise or a fix lands
// everywhere at once.
package passhash

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// Default follows the OWASP password storage minimum for argon2id (19 MiB,
// 2 passes, 1 lane; RFC 9106 §4's second option scaled down): slow enough to
// make a stolen store expensive to crack, fast enough for a login on a
// 2-core machine.
var Default = Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// ErrMalformed: the stored string is not a hash this package made.
var ErrMalformed = errors.New("malformed password hash")

// Hash returns the PHC string form $argon2id$v=19$m=...,t=...,p=...$salt$hash,
// which carries its parameters so they can be raised later without
// invalidating existing hashes.
func Hash(rand io.Reader, p Params, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Verify checks password against a hash made by Hash, in constant time with
// respect to the stored key. It allocates the hash's memory cost: servers
// check passwords through a Gate, which bounds how many run at once.
func Verify(hash, password string) (bool, error) {
	ph, err := parse(hash)
	if err != nil {
		return false, err
	}
	return ph.verify(password), nil
}

// parsed is a stored hash taken apart.
type parsed struct {
	p          Params
	salt, want []byte
}

func parse(hash string) (parsed, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return parsed{}, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return parsed{}, ErrMalformed
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return parsed{}, ErrMalformed
	}
	// Refuse absurd parameters from a tampered record rather than
	// allocating gigabytes.
	if p.MemoryKiB == 0 || p.MemoryKiB > 1<<20 || p.Time == 0 || p.Time > 16 || p.Threads == 0 {
		return parsed{}, ErrMalformed
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return parsed{}, ErrMalformed
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return parsed{}, ErrMalformed
	}
	return parsed{p: p, salt: salt, want: want}, nil
}

func (ph parsed) verify(password string) bool {
	got := argon2.IDKey([]byte(password), ph.salt, ph.p.Time, ph.p.MemoryKiB, ph.p.Threads, uint32(len(ph.want)))
	return subtle.ConstantTimeCompare(got, ph.want) == 1
}
