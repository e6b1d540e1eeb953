package remote

import (
	"context"
	"fmt"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// LedgerArgs carries a delivery ledger call over the admin socket.
type LedgerArgs struct {
	Message consent.MessageID
	Keys    []consent.Key
	Holder  string
	Hold    time.Duration
}

// Ledger implements consent.Store.
func (c *Client) Ledger() consent.Ledger { return ledger{c} }

type ledger struct{ c *Client }

func (l ledger) states(ctx context.Context, op, method string, a LedgerArgs) ([]consent.CopyState, error) {
	r, err := get[[]consent.CopyState](ctx, l.c, op, method, a)
	if err == nil && len(r) != len(a.Keys) {
		return nil, fmt.Errorf("%s: admin socket answered %d states for %d copies", op, len(r), len(a.Keys))
	}
	return r, err
}

func (l ledger) Check(ctx context.Context, m consent.MessageID, keys []consent.Key) ([]consent.CopyState, error) {
	return l.states(ctx, "check delivery ledger", "LedgerCheck", LedgerArgs{Message: m, Keys: keys})
}

func (l ledger) Claim(ctx context.Context, m consent.MessageID, keys []consent.Key, holder string, hold time.Duration) ([]consent.CopyState, error) {
	return l.states(ctx, "claim delivery ledger", "LedgerClaim", LedgerArgs{Message: m, Keys: keys, Holder: holder, Hold: hold})
}

func (l ledger) Delivered(ctx context.Context, m consent.MessageID, keys []consent.Key) error {
	return l.c.do(ctx, "mark delivered in ledger", "LedgerDelivered", LedgerArgs{Message: m, Keys: keys}, &None{})
}

func (l ledger) Release(ctx context.Context, m consent.MessageID, keys []consent.Key, holder string) error {
	return l.c.do(ctx, "release delivery ledger", "LedgerRelease", LedgerArgs{Message: m, Keys: keys, Holder: holder}, &None{})
}

func (s *service) LedgerCheck(a LedgerArgs, out *[]consent.CopyState) error {
	return answer(s, out, func(ctx context.Context) ([]consent.CopyState, error) {
		return s.st.Ledger().Check(ctx, a.Message, a.Keys)
	})
}

func (s *service) LedgerClaim(a LedgerArgs, out *[]consent.CopyState) error {
	return answer(s, out, func(ctx context.Context) ([]consent.CopyState, error) {
		return s.st.Ledger().Claim(ctx, a.Message, a.Keys, a.Holder, a.Hold)
	})
}

func (s *service) LedgerDelivered(a LedgerArgs, _ *None) error {
	return run(s, func(ctx context.Context) error { return s.st.Ledger().Delivered(ctx, a.Message, a.Keys) })
}

func (s *service) LedgerRelease(a LedgerArgs, _ *None) error {
	return run(s, func(ctx context.Context) error { return s.st.Ledger().Release(ctx, a.Message, a.Keys, a.Holder) })
}
