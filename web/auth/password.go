package auth

import "github.com/pixelgate/pixelgate/consent/passhash"

// HashParams are the argon2id cost parameters of account passwords.
type HashParams = passhash.Params

// DefaultHashParams is used when Config leaves HashParams zero.
var DefaultHashParams = passhash.Default
