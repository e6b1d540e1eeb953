package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/learnstore"
)

// learnSecretName derives the key of the learner's value fingerprints from
// the recipient-key secret, so that every replica sharing the secrets
// (operator guide §6) computes the same fingerprints, and nobody without them can
// test a guess against a stored one.
const learnSecretName = "learned-url-fingerprints@pixelgate.invalid"

// learner is the per-campaign URL learner of `serve` (R12), nil with
// --learn=false.
func (s *serveSettings) learner(store consent.Store, kr *consent.Keyring, reg prometheus.Registerer, logger *slog.Logger) (*learnstore.Store, error) {
	if !*s.learn {
		return nil, nil
	}
	if *s.learnTTL <= 0 {
		return nil, fmt.Errorf("%w: --learn-ttl must be positive", errUsage)
	}
	k, err := kr.RecipientKey(learnSecretName)
	if err != nil {
		return nil, fmt.Errorf("derive the learner's key: %w", err)
	}
	return learnstore.NewStore(store.SharedKV(), learnstore.StoreOptions{TTL: *s.learnTTL, Secret: k[:],
		Registerer: reg, Logger: logger.With("part", "learn")})
}
