package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/redisstore"
)

// backupWriter is the embedded store, opened directly or reached through
// the running server's admin socket: both write a consistent copy while
// the server goes on serving.
type backupWriter interface {
	WriteBackup(ctx context.Context, path string) (int64, error)
}

// backupCommand is `pixelgate backup`. The backup is itself audited (R10):
// a copy of the store is a copy of personal data.
func backupCommand(who whoAmI) func(ctx context.Context, env *environ, args []string) error {
	return func(ctx context.Context, env *environ, args []string) error {
		fs := newFlagSet(env, "backup --out FILE [flags]", "Back up the store while pixelgate serves.\n"+
			"Embedded store: writes a consistent copy of the bbolt file to --out (through the running server's admin socket when it holds the file).\n"+
			"Redis: makes every master write an RDB snapshot (BGSAVE), waits for it, says where each file is, and copies it to --out when it is readable from here.\n"+
			"Back up the keys directory too, separately: without it the copy cannot be read.")
		sf := addStoreFlags(fs)
		out := fs.String("out", "", "file to write the copy to; it must not exist (required for the embedded store)")
		wait := fs.Duration("wait", 10*time.Minute, "longest time to wait for the copy or the Redis snapshots")
		if err := fs.parse(args); err != nil {
			return err
		}
		if err := fs.wantArgs("backup", 0, ""); err != nil {
			return err
		}
		embedded := *sf.redisURL == ""
		if embedded && *out == "" {
			return fmt.Errorf("%w: --out FILE is required for the embedded store", errUsage)
		}
		if *out != "" {
			if _, err := os.Lstat(*out); err == nil {
				return fmt.Errorf("%w: %s already exists; a backup never replaces another", errUsage, *out)
			}
		}
		h, actor, err := openAsOperator(ctx, who, sf)
		if err != nil {
			return err
		}
		defer h.close()
		ctx, cancel := context.WithTimeout(ctx, *wait)
		defer cancel()

		var detail string
		switch st := h.store.(type) {
		case backupWriter:
			var n int64
			n, err = st.WriteBackup(ctx, *out)
			if err == nil {
				detail = fmt.Sprintf("%d bytes", n)
				fmt.Fprintf(env.stdout, "wrote %s (%d bytes): a consistent copy of the %s\n", *out, n, h.describe)
				fmt.Fprintf(env.stdout, "restore: stop pixelgate serve, copy it to %s, start serve with the same keys (%s)\n", sf.boltPath(), sf.keysDir())
			}
		case *redisstore.Store:
			detail, err = redisBackup(ctx, env.stdout, st, *out)
		default:
			err = fmt.Errorf("the %s cannot be backed up by pixelgate", h.describe)
		}
		err = auditOutcome(ctx, h.store, consent.AuditEntry{Actor: actor, Action: "store.backup", Target: *out, Detail: detail}, err)
		if err == nil {
			fmt.Fprintf(env.stdout, "keys: back up %s as well, apart from the data (it holds the secrets)\n", sf.keysDir())
		}
		return err
	}
}

// redisBackup snapshots every master and copies the snapshot to out when
// there is exactly one and this host can read it (Redis on the same host).
func redisBackup(ctx context.Context, w io.Writer, st *redisstore.Store, out string) (string, error) {
	snaps, err := st.Snapshot(ctx)
	if err != nil {
		return "", err
	}
	var detail string
	for _, s := range snaps {
		file := s.File
		if file == "" {
			file = "(CONFIG disabled: use your provider's snapshots)"
		}
		aof := "off"
		if s.AOF {
			aof = "on"
		}
		fmt.Fprintf(w, "Redis %s: RDB snapshot written at %s to %s (on the Redis host; AOF %s)\n", s.Addr, s.Saved.Format(time.RFC3339), file, aof)
		detail += s.Addr + " " + file + "; "
	}
	if out == "" {
		fmt.Fprintln(w, "copy that file off the Redis host now; restore: stop Redis, put the file in its dir as its dbfilename (with appendonly off for the first start), start Redis")
		return detail, nil
	}
	if len(snaps) != 1 || snaps[0].File == "" {
		return detail, fmt.Errorf("--out: %d snapshots on the Redis hosts; copy them from there (see above)", len(snaps))
	}
	n, err := copyNew(snaps[0].File, out)
	if err != nil {
		return detail, fmt.Errorf("copy the snapshot (is Redis on another host? copy it from there): %w", err)
	}
	fmt.Fprintf(w, "copied it to %s (%d bytes)\n", out, n)
	return detail, nil
}

// copyNew copies src to a new file dst (mode 0600: consent evidence).
func copyNew(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, in)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(dst)
	}
	return n, err
}
