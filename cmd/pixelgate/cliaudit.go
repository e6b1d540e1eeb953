package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// openAsOperator opens the store for a CLI command and names the command's
// actor in the audit log: "cli:<OS user>" (R10, individual accounts).
func openAsOperator(ctx context.Context, who whoAmI, sf storeFlags) (*storeHandle, string, error) {
	name, err := who()
	if err != nil {
		return nil, "", err
	}
	h, err := openStore(ctx, sf)
	if err != nil {
		return nil, "", err
	}
	return h, "cli:" + name, nil
}

// auditWriteTimeout bounds the audit write after the operation itself.
const auditWriteTimeout = 10 * time.Second

// auditOutcome records one CLI operation in the audit log whatever its
// outcome (R10) and returns the operation's error, joined with the failure
// to record it if that failed too.
func auditOutcome(ctx context.Context, st consent.Store, e consent.AuditEntry, opErr error) error {
	e.Result = "ok"
	if opErr != nil {
		e.Result = "error: " + opErr.Error()
	}
	// An operation that ran out of time is recorded all the same.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWriteTimeout)
	defer cancel()
	if _, err := st.AppendAudit(ctx, e); err != nil {
		return errors.Join(opErr, fmt.Errorf("write the audit entry: %w", err))
	}
	return opErr
}
