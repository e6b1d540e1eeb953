// Package webdeps holds Deps, the parts the admin dashboard and the JSON
// API both work with, so that neither imports the other for them.
package webdeps

import (
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web/auditlog"
	"github.com/pixelgate/pixelgate/web/auth"
)

// Deps are the parts the dashboard works with, shared with the JSON API.
type Deps struct {
	Store   consent.Store
	Keyring *consent.Keyring
	Users   *auth.Service
	Audit   *auditlog.Recorder
	Logger  *slog.Logger
	Now     func() time.Time
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
}

// Complete checks the required parts and fills the optional ones (a
// discarding logger, the wall clock).
func (d Deps) Complete() (Deps, error) {
	if d.Store == nil || d.Keyring == nil || d.Users == nil || d.Audit == nil {
		return d, errors.New("store, keyring, accounts and audit recorder are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return d, nil
}
