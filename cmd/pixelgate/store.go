package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
	"github.com/pixelgate/pixelgate/consent/redisstore"
	"github.com/pixelgate/pixelgate/consent/remote"
)

// storeSecretFlags say where the secrets live and how long data is kept
// (R9; operator guide §8, §9). Every command that opens the store has them, so the CLI
// and all replicas can point at the same key files.
type storeSecretFlags struct {
	keysDir             *string
	recipientSecretFile *string
	auditKeyFile        *string

	retainOpens, retainAudit, retainEvidence, retainDeliverability, askQuiet, retainLedger *time.Duration
}

func addStoreSecretFlags(fs *flagSet) storeSecretFlags {
	d := consent.DefaultRetention()
	return storeSecretFlags{
		keysDir:             fs.String("keys-dir", "", "directory of the token keys and generated secrets (default DATA_DIR/keys, created 0700)"),
		recipientSecretFile: fs.String("recipient-secret-file", "", "file holding the recipient-key HMAC secret (hex); every replica and CLI call on one Redis must use the same"),
		auditKeyFile:        fs.String("audit-key-file", "", "file holding the audit chain key (hex); shared like --recipient-secret-file"),

		retainOpens:          fs.Duration("retain-opens", d.Opens, "how long a recipient's opens of a campaign are kept after the first (R9: 13 months)"),
		retainAudit:          fs.Duration("retain-audit", d.Audit, "how long audit entries are kept (R9: 1 year)"),
		retainEvidence:       fs.Duration("retain-evidence", d.Evidence, "how long consent evidence is kept after consent ended (R9: 5 years)"),
		retainDeliverability: fs.Duration("retain-deliverability", d.Deliverability, "how long the deliverability last-open date is kept (R9: 3 years)"),
		askQuiet:             fs.Duration("ask-quiet", d.AskQuiet, "no new consent request this long after a refusal or unanswered request (R5: 6 months)"),
		retainLedger:         fs.Duration("retain-ledger", d.Ledger, "how long the delivery ledger remembers that a recipient's copy of a message was delivered (the longest MTA retry window: 5 days)"),
	}
}

func (f storeSecretFlags) retention() consent.Retention {
	return consent.Retention{Opens: *f.retainOpens, Audit: *f.retainAudit, Evidence: *f.retainEvidence,
		Deliverability: *f.retainDeliverability, AskQuiet: *f.askQuiet, Ledger: *f.retainLedger}
}

// keysDir is --keys-dir or DATA_DIR/keys.
func (sf storeFlags) keysDir() string {
	if *sf.secrets.keysDir != "" {
		return *sf.secrets.keysDir
	}
	return filepath.Join(*sf.dataDir, "keys")
}

// boltPath is the embedded store's file; socketPath the running server's
// admin socket (consent/remote).
func (sf storeFlags) boltPath() string   { return filepath.Join(*sf.dataDir, "pixelgate.db") }
func (sf storeFlags) socketPath() string { return filepath.Join(*sf.dataDir, remote.SocketName) }

func (sf storeFlags) keyring() (*consent.Keyring, error) {
	return consent.OpenKeyring(consent.KeyringOptions{
		Dir:                 sf.keysDir(),
		RecipientSecretFile: *sf.secrets.recipientSecretFile,
		AuditKeyFile:        *sf.secrets.auditKeyFile,
	})
}

// storeHandle is an open store with the keyring that belongs to it.
type storeHandle struct {
	store   consent.Store
	keyring *consent.Keyring
	// describe says which store was reached and how, for messages.
	describe string

	closeOnce sync.Once
	stops     []func()
}

// close stops what openServeStore started, then closes the store.
func (h *storeHandle) close() error {
	var err error
	h.closeOnce.Do(func() {
		for i := len(h.stops) - 1; i >= 0; i-- {
			h.stops[i]()
		}
		err = h.store.Close()
	})
	return err
}

// cliLockWait is how long a CLI command waits for the embedded file before
// it concludes the server holds it and uses the admin socket.
const cliLockWait = 300 * time.Millisecond

// openStore opens the store for a CLI command: Redis when --redis-url is
// set; otherwise the embedded file, or, when `pixelgate serve` holds that
// file, the server's admin socket (consent/remote).
func openStore(ctx context.Context, sf storeFlags) (*storeHandle, error) {
	if err := checkRecordStore(sf); err != nil {
		return nil, err
	}
	kr, err := sf.keyring()
	if err != nil {
		return nil, err
	}
	h := &storeHandle{keyring: kr}
	opts := consent.StoreOptions{Retention: sf.secrets.retention(), Audit: kr.AuditChain()}
	switch {
	case *sf.redisURL != "":
		h.describe = "Redis " + maskURL(*sf.redisURL)
		h.store, err = redisstore.Open(ctx, *sf.redisURL, redisstore.Options{StoreOptions: opts})
	default:
		h.store, h.describe, err = openEmbeddedOrSocket(sf, opts)
	}
	if err != nil {
		return nil, err
	}
	if err := checkSecrets(ctx, h); err != nil {
		_ = h.store.Close()
		return nil, err
	}
	return h, nil
}

func openEmbeddedOrSocket(sf storeFlags, opts consent.StoreOptions) (consent.Store, string, error) {
	if err := os.MkdirAll(*sf.dataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("create data directory: %w", err)
	}
	st, err := boltstore.Open(sf.boltPath(), boltstore.Options{StoreOptions: opts, LockTimeout: cliLockWait})
	if err == nil {
		return st, "embedded " + sf.boltPath(), nil
	}
	if !errors.Is(err, boltstore.ErrLocked) {
		return nil, "", err
	}
	c, derr := remote.Dial(sf.socketPath())
	if derr != nil {
		return nil, "", fmt.Errorf("%s is locked by another process, and no pixelgate server answers on %s (%v); "+
			"stop the other process or start `pixelgate serve` with the same --data-dir", sf.boltPath(), sf.socketPath(), derr)
	}
	return c, "running server's admin socket " + sf.socketPath(), nil
}

// checkSecrets refuses to work with secrets other than the ones the store
// was first used with: recipient keys would not match and the audit chain
// would break (operator guide §6).
func checkSecrets(ctx context.Context, h *storeHandle) error {
	err := h.store.CheckFingerprint(ctx, h.keyring.Fingerprint())
	if errors.Is(err, consent.ErrSecretsMismatch) {
		return fmt.Errorf("the secrets in %s are not the ones this store (%s) was created with; point --keys-dir, "+
			"--recipient-secret-file and --audit-key-file at the shared key files: %w", h.keyringDir(), h.describe, err)
	}
	return err
}

func (h *storeHandle) keyringDir() string { return h.keyring.Dir() }

// purgeEvery is how often the server enforces retention (R9).
const purgeEvery = time.Hour

// openServeStore opens the store for `pixelgate serve`: Redis, or the
// embedded file, which the server then owns. With the embedded store it also
// serves the admin socket so CLI commands work while the server runs
// (consent/remote). Either way it starts the periodic retention purge. close
// stops both and closes the store.
func openServeStore(ctx context.Context, _ *environ, sf storeFlags, log *slog.Logger) (*storeHandle, error) {
	kr, err := sf.keyring()
	if err != nil {
		return nil, err
	}
	h := &storeHandle{keyring: kr}
	opts := consent.StoreOptions{Retention: sf.secrets.retention(), Audit: kr.AuditChain()}
	embedded := *sf.redisURL == ""
	if embedded {
		if err := os.MkdirAll(*sf.dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		h.describe = "embedded " + sf.boltPath() + ", admin socket " + sf.socketPath()
		h.store, err = boltstore.Open(sf.boltPath(), boltstore.Options{StoreOptions: opts, LockTimeout: 5 * time.Second, Logger: log})
		if errors.Is(err, boltstore.ErrLocked) {
			err = fmt.Errorf("%w: is another `pixelgate serve` running with --data-dir %s?", err, *sf.dataDir)
		}
	} else {
		h.describe = "Redis " + maskURL(*sf.redisURL)
		h.store, err = redisstore.Open(ctx, *sf.redisURL, redisstore.Options{StoreOptions: opts, Logger: log})
	}
	if err != nil {
		return nil, err
	}
	if err := checkSecrets(ctx, h); err != nil {
		_ = h.store.Close()
		return nil, err
	}
	// Other commands read it to refuse the wrong store (storecheck.go).
	if err := writeStoreMarker(sf); err != nil {
		log.Warn("could not record the store in the data directory; CLI commands there cannot tell it is "+sf.storeKind(), "err", err)
	}
	bg, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	h.stops = append(h.stops, func() { cancel(); wg.Wait() })
	if embedded {
		ln, err := remote.Listen(sf.socketPath())
		if err != nil {
			_ = h.close()
			return nil, err
		}
		wg.Go(func() {
			if err := remote.Serve(bg, ln, h.store, log); err != nil {
				log.Error("admin socket stopped", "err", err)
			}
		})
	}
	wg.Go(func() { consent.RunPurge(bg, h.store, purgeEvery, log) })
	return h, nil
}

// openCLIStore is openStore for commands that need only the store.
func openCLIStore(ctx context.Context, _ *environ, sf storeFlags) (consent.Store, error) {
	h, err := openStore(ctx, sf)
	if err != nil {
		return nil, err
	}
	return h.store, nil
}
