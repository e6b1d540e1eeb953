package main

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/passhash"
	"github.com/pixelgate/pixelgate/consent/throttle"
	"github.com/pixelgate/pixelgate/proxy"
)

// loginFlags are the settings dashboard logins and relay AUTH share.
type loginFlags struct {
	hashMemory *int
}

func addLoginFlags(fs *flagSet) loginFlags {
	return loginFlags{
		hashMemory: fs.Int("password-hash-memory", passhash.DefaultMemoryBudget>>20,
			"MiB that password checks (dashboard logins and SMTP AUTH together) may use at once; each takes 19 MiB, further ones wait up to 10 s, then get \"try again later\""),
	}
}

func (f loginFlags) validate() error {
	if mib := passhash.Default.MemoryKiB >> 10; *f.hashMemory < int(mib) {
		return fmt.Errorf("--password-hash-memory %d: at least %d (one password check)", *f.hashMemory, mib)
	}
	return nil
}

// hashGate is the one bound on password hashing of the process: the
// dashboard and the relay share its memory.
func (f loginFlags) hashGate() *passhash.Gate {
	return passhash.NewGate(int64(*f.hashMemory)<<20, 0)
}

// relayCredentials are the relay's AUTH accounts, throttled with the
// default limits and hashed through hashes.
func relayCredentials(store consent.Store, kr *consent.Keyring, hashes *passhash.Gate, now func() time.Time) (*proxy.Credentials, error) {
	creds := proxy.NewCredentials(store.SharedKV(), rand.Reader)
	th, err := proxy.NewCredentialsThrottle(store.SharedKV(), kr.ThrottleKey(), throttle.Config{}, now)
	if err != nil {
		return nil, err
	}
	creds.Throttle, creds.Hashes = th, hashes
	return creds, nil
}
