package remote

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/pixelgate/pixelgate/consent"
)

// backupWriter is a store that can copy itself to a file while in use (the
// embedded store: its file is locked by the server, so only the server can
// read it).
type backupWriter interface {
	WriteBackup(ctx context.Context, path string) (int64, error)
}

// Backup writes the served store's backup to path, on the server's side.
// The socket is the server user's only (mode 0600), and that user may write
// where it likes anyway, so the path is taken as given.
func (s *service) Backup(path string, n *int64) error {
	b, ok := s.st.(backupWriter)
	if !ok {
		return encodeError(fmt.Errorf("backup: %w: the server's store cannot write a backup file", consent.ErrInvalid))
	}
	return answer(s, n, func(ctx context.Context) (int64, error) { return b.WriteBackup(ctx, path) })
}

// WriteBackup asks the server to write a consistent copy of its store to
// path (made absolute here: the server's working directory differs) and
// returns the bytes written.
func (c *Client) WriteBackup(ctx context.Context, path string) (int64, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return get[int64](ctx, c, "backup", "Backup", abs)
}
