// Package remote lets CLI commands reach the store of a running `pixelgate
// serve`: the embedded bbolt file is locked by the server, so the server
// offers the whole consent.Store over net/rpc on a Unix socket,
// DATA_DIR/admin.sock, mode 0600. Only the server's OS user (and
// root) can connect; the socket never listens on the network.
package remote

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// serviceName is the net/rpc service the server registers.
const serviceName = "Store"

// SocketName is the admin socket's file name inside the data directory.
const SocketName = "admin.sock"

// callTimeout bounds one call on the server side: net/rpc carries no
// deadline, and a CLI command must not hold the store for ever.
const callTimeout = 30 * time.Second

// Typed errors cross the socket as a code before the message, so a caller
// of the remote store can still test them with errors.Is and fail closed.
var errorCodes = []struct {
	code string
	err  error
}{
	{"not-found", consent.ErrNotFound},
	{"invalid", consent.ErrInvalid},
	{"secrets-mismatch", consent.ErrSecretsMismatch},
	{"unavailable", consent.ErrUnavailable},
}

const codeSep = "\x1f"

func encodeError(err error) error {
	if err == nil {
		return nil
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return errors.New(c.code + codeSep + err.Error())
		}
	}
	return errors.New("error" + codeSep + err.Error())
}

// decodeError turns a server error back into a typed one. The message
// already names the typed error, so only the type is re-attached.
func decodeError(op string, msg string) error {
	code, text, ok := strings.Cut(msg, codeSep)
	if !ok {
		return fmt.Errorf("%s: admin socket: %s", op, msg)
	}
	for _, c := range errorCodes {
		if c.code == code {
			return fmt.Errorf("%s: %w", op, typedError{text, c.err})
		}
	}
	return fmt.Errorf("%s: %s", op, text)
}

// typedError is a server's message with its type restored.
type typedError struct {
	msg string
	err error
}

func (e typedError) Error() string { return e.msg }
func (e typedError) Unwrap() error { return e.err }

// Wire types of the RPC methods; exported only because net/rpc requires
// it. Use Dial and the consent.Store it returns instead.
type (
	// KeyEvidence carries a decision.
	KeyEvidence struct {
		Key      consent.Key
		Evidence consent.Evidence
	}
	// KeyTime carries a deliverability open.
	KeyTime struct {
		Key consent.Key
		At  time.Time
	}
	TimeRange struct{ From, To time.Time }
	// RecordArgs carries a SharedKV call.
	RecordArgs struct {
		NS, Key string
		Val     []byte
		TTL     time.Duration
		Delta   int64
	}
	// None is the argument or reply of calls without one.
	None struct{}
)
