package consent

import "errors"

// Typed errors. Stores wrap them with what was being done; callers test with
// errors.Is and fail closed on anything else.
var (
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the store could not be reached or timed out.
	ErrUnavailable = errors.New("consent store unavailable")
	// ErrSecretsMismatch: this process's secrets differ from the ones the
	// store was first used with (Keyring.Fingerprint).
	ErrSecretsMismatch = errors.New("secrets do not match the ones this store was created with")
	// ErrInvalid: the call itself is wrong (a missing campaign id, evidence
	// without a source, an audit entry without actor or action, a record
	// without namespace or key). Nothing was written.
	ErrInvalid = errors.New("invalid input")
)
