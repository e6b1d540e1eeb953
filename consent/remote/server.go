package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/rpc"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// Listen creates the admin socket at path with mode 0600 and no window in
// which another user could connect: it is bound in a private directory,
// restricted, then moved into place. A stale socket left by a crashed
// server is replaced; a live one is an error (another server runs).
func Listen(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		_ = c.Close()
		return nil, fmt.Errorf("admin socket %s: another pixelgate server is listening on it", path)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".admin-sock-")
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	bound := filepath.Join(tmp, "s")
	ln, err := net.Listen("unix", bound)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(bound, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Rename(bound, path); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return &socketListener{UnixListener: ul, path: path}, nil
}

// socketListener removes the socket file when closed.
type socketListener struct {
	*net.UnixListener
	path string
	once sync.Once
}

func (l *socketListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() { _ = os.Remove(l.path) })
	return err
}

// Serve answers store calls on ln until ctx ends, then closes ln. Each
// connection is one CLI process; calls on it may run concurrently.
func Serve(ctx context.Context, ln net.Listener, st consent.Store, log *slog.Logger) error {
	srv := rpc.NewServer()
	if err := srv.RegisterName(serviceName, &service{st: st, ctx: ctx}); err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	// Closing again on return waits for the socket file's removal, which
	// the AfterFunc goroutine may still be doing.
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	defer func() {
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("admin socket: accept: %w", err)
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		wg.Go(func() {
			log.Debug("admin socket connection")
			srv.ServeConn(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		})
	}
}

// service exposes a consent.Store as net/rpc methods.
type service struct {
	st  consent.Store
	ctx context.Context
}

// answer runs fn with the per-call timeout and hands its value back.
func answer[R any](s *service, out *R, fn func(ctx context.Context) (R, error)) error {
	ctx, cancel := context.WithTimeout(s.ctx, callTimeout)
	defer cancel()
	r, err := fn(ctx)
	*out = r
	return encodeError(err)
}

// run is answer for calls without a value.
func run(s *service, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(s.ctx, callTimeout)
	defer cancel()
	return encodeError(fn(ctx))
}

func (s *service) Lookup(keys []consent.Key, out *[]consent.Status) error {
	return answer(s, out, func(ctx context.Context) ([]consent.Status, error) { return s.st.Lookup(ctx, keys) })
}

func (s *service) decide(fn func(context.Context, consent.Key, consent.Evidence) (consent.Event, error), a KeyEvidence, out *consent.Event) error {
	return answer(s, out, func(ctx context.Context) (consent.Event, error) { return fn(ctx, a.Key, a.Evidence) })
}

func (s *service) Grant(a KeyEvidence, out *consent.Event) error {
	return s.decide(s.st.Grant, a, out)
}

func (s *service) Refuse(a KeyEvidence, out *consent.Event) error {
	return s.decide(s.st.Refuse, a, out)
}

func (s *service) Withdraw(a KeyEvidence, out *consent.Event) error {
	return s.decide(s.st.Withdraw, a, out)
}

func (s *service) History(k consent.Key, out *[]consent.Event) error {
	return answer(s, out, func(ctx context.Context) ([]consent.Event, error) { return s.st.History(ctx, k) })
}

func (s *service) EligibleToAsk(k consent.Key, out *bool) error {
	return answer(s, out, func(ctx context.Context) (bool, error) { return s.st.EligibleToAsk(ctx, k) })
}

func (s *service) MarkAsked(k consent.Key, _ *None) error {
	return run(s, func(ctx context.Context) error { return s.st.MarkAsked(ctx, k) })
}

func (s *service) RecordOpen(o consent.Open, out *consent.OpenResult) error {
	return answer(s, out, func(ctx context.Context) (consent.OpenResult, error) { return s.st.RecordOpen(ctx, o) })
}

func (s *service) RecordDeliverabilityOpen(a KeyTime, _ *None) error {
	return run(s, func(ctx context.Context) error { return s.st.RecordDeliverabilityOpen(ctx, a.Key, a.At) })
}

func (s *service) RecordClick(c consent.Click, out *consent.OpenResult) error {
	return answer(s, out, func(ctx context.Context) (consent.OpenResult, error) { return s.st.RecordClick(ctx, c) })
}

func (s *service) RecordSend(sd consent.Send, _ *None) error {
	return run(s, func(ctx context.Context) error { return s.st.RecordSend(ctx, sd) })
}

func (s *service) Campaigns(_ None, out *[]consent.CampaignStats) error {
	return answer(s, out, func(ctx context.Context) ([]consent.CampaignStats, error) { return s.st.Campaigns(ctx) })
}

func (s *service) Campaign(id string, out *consent.CampaignStats) error {
	return answer(s, out, func(ctx context.Context) (consent.CampaignStats, error) { return s.st.Campaign(ctx, id) })
}

func (s *service) ConsentStats(a TimeRange, out *consent.ConsentStats) error {
	return answer(s, out, func(ctx context.Context) (consent.ConsentStats, error) { return s.st.ConsentStats(ctx, a.From, a.To) })
}

func (s *service) AppendAudit(e consent.AuditEntry, out *consent.AuditEntry) error {
	return answer(s, out, func(ctx context.Context) (consent.AuditEntry, error) { return s.st.AppendAudit(ctx, e) })
}

func (s *service) ReadAudit(q consent.AuditQuery, out *[]consent.AuditEntry) error {
	return answer(s, out, func(ctx context.Context) ([]consent.AuditEntry, error) { return s.st.ReadAudit(ctx, q) })
}

func (s *service) VerifyAudit(_ None, out *consent.AuditVerification) error {
	return answer(s, out, func(ctx context.Context) (consent.AuditVerification, error) { return s.st.VerifyAudit(ctx) })
}

func (s *service) Export(k consent.Key, out *consent.Export) error {
	return answer(s, out, func(ctx context.Context) (consent.Export, error) { return s.st.Export(ctx, k) })
}

func (s *service) Erase(a KeyEvidence, _ *None) error {
	return run(s, func(ctx context.Context) error { return s.st.Erase(ctx, a.Key, a.Evidence) })
}

func (s *service) Purge(_ None, _ *None) error {
	return run(s, func(ctx context.Context) error { return s.st.Purge(ctx) })
}

func (s *service) CheckFingerprint(fp string, _ *None) error {
	return run(s, func(ctx context.Context) error { return s.st.CheckFingerprint(ctx, fp) })
}

func (s *service) Ping(_ None, _ *None) error {
	return run(s, func(ctx context.Context) error { return s.st.Ping(ctx) })
}

func (s *service) RecordGet(a RecordArgs, out *[]byte) error {
	return answer(s, out, func(ctx context.Context) ([]byte, error) { return s.st.SharedKV().Get(ctx, a.NS, a.Key) })
}

func (s *service) RecordPut(a RecordArgs, _ *None) error {
	return run(s, func(ctx context.Context) error { return s.st.SharedKV().Put(ctx, a.NS, a.Key, a.Val, a.TTL) })
}

func (s *service) RecordPutIfAbsent(a RecordArgs, out *bool) error {
	return answer(s, out, func(ctx context.Context) (bool, error) {
		return s.st.SharedKV().PutIfAbsent(ctx, a.NS, a.Key, a.Val, a.TTL)
	})
}

func (s *service) RecordDelete(a RecordArgs, _ *None) error {
	return run(s, func(ctx context.Context) error { return s.st.SharedKV().Delete(ctx, a.NS, a.Key) })
}

func (s *service) RecordList(ns string, out *[]string) error {
	return answer(s, out, func(ctx context.Context) ([]string, error) { return s.st.SharedKV().List(ctx, ns) })
}

func (s *service) RecordIncr(a RecordArgs, out *int64) error {
	return answer(s, out, func(ctx context.Context) (int64, error) {
		return s.st.SharedKV().Incr(ctx, a.NS, a.Key, a.Delta, a.TTL)
	})
}
