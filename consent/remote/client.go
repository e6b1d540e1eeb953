package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// Client is a consent.Store reached through a server's admin socket.
type Client struct {
	rpc *rpc.Client
}

var _ consent.Store = (*Client)(nil)

// ErrNoServer: nothing listens on the admin socket.
var ErrNoServer = errors.New("no pixelgate server on the admin socket")

// Dial connects to the admin socket at path.
func Dial(path string) (*Client, error) {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial admin socket %s: %w: %w", path, ErrNoServer, err)
	}
	return &Client{rpc: rpc.NewClient(conn)}, nil
}

// do makes one call; a cancelled ctx returns at once (the server finishes
// or times out the call on its side).
func (c *Client) do(ctx context.Context, op, method string, args, reply any) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w: %w", op, consent.ErrUnavailable, err)
	}
	call := c.rpc.Go(serviceName+"."+method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-ctx.Done():
		return fmt.Errorf("%s: %w: %w", op, consent.ErrUnavailable, ctx.Err())
	case <-call.Done:
	}
	var se rpc.ServerError
	switch {
	case call.Error == nil:
		return nil
	case errors.As(call.Error, &se):
		return decodeError(op, string(se))
	default:
		return fmt.Errorf("%s: admin socket: %w: %w", op, consent.ErrUnavailable, call.Error)
	}
}

// get makes a call that returns a value.
func get[R any](ctx context.Context, c *Client, op, method string, args any) (R, error) {
	var r R
	if err := c.do(ctx, op, method, args, &r); err != nil {
		var zero R
		return zero, err
	}
	return r, nil
}

func (c *Client) Lookup(ctx context.Context, keys []consent.Key) ([]consent.Status, error) {
	r, err := get[[]consent.Status](ctx, c, "lookup consent", "Lookup", keys)
	if err == nil && len(r) != len(keys) {
		return nil, fmt.Errorf("lookup consent: admin socket answered %d statuses for %d keys", len(r), len(keys))
	}
	return r, err
}

func (c *Client) Grant(ctx context.Context, k consent.Key, ev consent.Evidence) (consent.Event, error) {
	return get[consent.Event](ctx, c, "grant consent", "Grant", KeyEvidence{k, ev})
}

func (c *Client) Refuse(ctx context.Context, k consent.Key, ev consent.Evidence) (consent.Event, error) {
	return get[consent.Event](ctx, c, "refuse consent", "Refuse", KeyEvidence{k, ev})
}

func (c *Client) Withdraw(ctx context.Context, k consent.Key, ev consent.Evidence) (consent.Event, error) {
	return get[consent.Event](ctx, c, "withdraw consent", "Withdraw", KeyEvidence{k, ev})
}

func (c *Client) History(ctx context.Context, k consent.Key) ([]consent.Event, error) {
	return get[[]consent.Event](ctx, c, "read consent history", "History", k)
}

func (c *Client) EligibleToAsk(ctx context.Context, k consent.Key) (bool, error) {
	return get[bool](ctx, c, "check consent request", "EligibleToAsk", k)
}

func (c *Client) MarkAsked(ctx context.Context, k consent.Key) error {
	return c.do(ctx, "mark consent requested", "MarkAsked", k, &None{})
}

func (c *Client) RecordOpen(ctx context.Context, o consent.Open) (consent.OpenResult, error) {
	return get[consent.OpenResult](ctx, c, "record open", "RecordOpen", o)
}

func (c *Client) RecordDeliverabilityOpen(ctx context.Context, k consent.Key, day time.Time) error {
	return c.do(ctx, "record deliverability open", "RecordDeliverabilityOpen", KeyTime{k, day}, &None{})
}

func (c *Client) RecordClick(ctx context.Context, cl consent.Click) (consent.OpenResult, error) {
	return get[consent.OpenResult](ctx, c, "record click", "RecordClick", cl)
}

func (c *Client) RecordSend(ctx context.Context, s consent.Send) error {
	return c.do(ctx, "record send", "RecordSend", s, &None{})
}

func (c *Client) Campaigns(ctx context.Context) ([]consent.CampaignStats, error) {
	return get[[]consent.CampaignStats](ctx, c, "list campaigns", "Campaigns", None{})
}

func (c *Client) Campaign(ctx context.Context, id string) (consent.CampaignStats, error) {
	return get[consent.CampaignStats](ctx, c, "read campaign", "Campaign", id)
}

func (c *Client) ConsentStats(ctx context.Context, from, to time.Time) (consent.ConsentStats, error) {
	r, err := get[consent.ConsentStats](ctx, c, "read consent statistics", "ConsentStats", TimeRange{from, to})
	if err == nil && r.Current == nil {
		r.Current = map[consent.State]int64{}
	}
	return r, err
}

func (c *Client) AppendAudit(ctx context.Context, e consent.AuditEntry) (consent.AuditEntry, error) {
	return get[consent.AuditEntry](ctx, c, "append audit entry", "AppendAudit", e)
}

func (c *Client) ReadAudit(ctx context.Context, q consent.AuditQuery) ([]consent.AuditEntry, error) {
	return get[[]consent.AuditEntry](ctx, c, "read audit log", "ReadAudit", q)
}

func (c *Client) VerifyAudit(ctx context.Context) (consent.AuditVerification, error) {
	return get[consent.AuditVerification](ctx, c, "verify audit log", "VerifyAudit", None{})
}

func (c *Client) Export(ctx context.Context, k consent.Key) (consent.Export, error) {
	return get[consent.Export](ctx, c, "export recipient data", "Export", k)
}

func (c *Client) Erase(ctx context.Context, k consent.Key, ev consent.Evidence) error {
	return c.do(ctx, "erase recipient data", "Erase", KeyEvidence{k, ev}, &None{})
}

func (c *Client) Purge(ctx context.Context) error {
	return c.do(ctx, "purge expired data", "Purge", None{}, &None{})
}

func (c *Client) CheckFingerprint(ctx context.Context, fp string) error {
	return c.do(ctx, "check fingerprint", "CheckFingerprint", fp, &None{})
}

func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, "ping", "Ping", None{}, &None{})
}

// Close closes the connection; the server's store stays open.
func (c *Client) Close() error { return c.rpc.Close() }

// SharedKV implements consent.Store.
func (c *Client) SharedKV() consent.SharedKV { return records{c} }

type records struct{ c *Client }

func (r records) Get(ctx context.Context, ns, key string) ([]byte, error) {
	return get[[]byte](ctx, r.c, "get record", "RecordGet", RecordArgs{NS: ns, Key: key})
}

func (r records) Put(ctx context.Context, ns, key string, val []byte, ttl time.Duration) error {
	return r.c.do(ctx, "put record", "RecordPut", RecordArgs{NS: ns, Key: key, Val: val, TTL: ttl}, &None{})
}

func (r records) PutIfAbsent(ctx context.Context, ns, key string, val []byte, ttl time.Duration) (bool, error) {
	return get[bool](ctx, r.c, "put new record", "RecordPutIfAbsent", RecordArgs{NS: ns, Key: key, Val: val, TTL: ttl})
}

func (r records) Delete(ctx context.Context, ns, key string) error {
	return r.c.do(ctx, "delete record", "RecordDelete", RecordArgs{NS: ns, Key: key}, &None{})
}

func (r records) List(ctx context.Context, ns string) ([]string, error) {
	return get[[]string](ctx, r.c, "list records", "RecordList", ns)
}

func (r records) Incr(ctx context.Context, ns, key string, delta int64, ttl time.Duration) (int64, error) {
	return get[int64](ctx, r.c, "increment record", "RecordIncr", RecordArgs{NS: ns, Key: key, Delta: delta, TTL: ttl})
}
