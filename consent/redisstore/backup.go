package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Snapshot says where one Redis server wrote the RDB snapshot that
// Snapshot asked for. Redis keeps its files on its own host: pixelgate can
// trigger and await the snapshot, the operator copies the file
// (docs/operator-guide.md, "Backups").
type Snapshot struct {
	Addr string
	// File is dir/dbfilename as Redis reports them; empty when CONFIG is
	// disabled (managed Redis), where the provider's snapshots apply.
	File string
	// AOF reports whether the append-only file is on as well.
	AOF   bool
	Saved time.Time
}

// snapshotPoll is how often the save's progress is read.
const snapshotPoll = 100 * time.Millisecond

// Snapshot makes every master write an RDB snapshot of the data as it is
// now (BGSAVE; Redis forks, so replicas keep serving) and waits until each
// has finished. ctx bounds the wait.
func (s *Store) Snapshot(ctx context.Context) ([]Snapshot, error) {
	var (
		mu  sync.Mutex
		out []Snapshot
	)
	one := func(ctx context.Context, c *redis.Client) error {
		snap, err := snapshotNode(ctx, c)
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", c.Options().Addr, wrapErr(err))
		}
		mu.Lock()
		out = append(out, snap)
		mu.Unlock()
		return nil
	}
	var err error
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, one)
	} else if c, ok := s.rdb.(*redis.Client); ok {
		err = one(ctx, c)
	} else {
		// A Sentinel-managed client reaches the current master through the
		// universal interface; Options() is not available there.
		snap, serr := snapshotNode(ctx, s.rdb)
		if serr != nil {
			err = fmt.Errorf("snapshot: %w", wrapErr(serr))
		}
		snap.Addr = "sentinel master"
		out = append(out, snap)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// node is one Redis server as both client kinds offer it.
type node interface {
	redis.Cmdable
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// persistence reads INFO persistence as a map.
func persistence(ctx context.Context, c redis.Cmdable) (map[string]string, error) {
	raw, err := c.Info(ctx, "persistence").Result()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for line := range strings.Lines(raw) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			m[k] = v
		}
	}
	return m, nil
}

// snapshotNode waits out a save already running (it froze the data before
// we asked), starts one (SCHEDULE: after an AOF rewrite in progress), and
// waits for the save counter to move.
func snapshotNode(ctx context.Context, c node) (Snapshot, error) {
	var snap Snapshot
	info, err := waitIdle(ctx, c)
	if err != nil {
		return snap, err
	}
	before, err := strconv.ParseInt(info["rdb_saves"], 10, 64)
	if err != nil {
		return snap, fmt.Errorf("INFO persistence has no rdb_saves (Redis 7 or later needed): %w", err)
	}
	if err := c.Do(ctx, "BGSAVE", "SCHEDULE").Err(); err != nil {
		return snap, fmt.Errorf("BGSAVE: %w", err)
	}
	for {
		if info, err = persistence(ctx, c); err != nil {
			return snap, err
		}
		n, _ := strconv.ParseInt(info["rdb_saves"], 10, 64)
		if n > before && info["rdb_bgsave_in_progress"] == "0" {
			break
		}
		if err := sleep(ctx, snapshotPoll); err != nil {
			return snap, err
		}
	}
	if st := info["rdb_last_bgsave_status"]; st != "ok" {
		return snap, fmt.Errorf("BGSAVE finished with status %q (see the Redis log)", st)
	}
	at, _ := strconv.ParseInt(info["rdb_last_save_time"], 10, 64)
	snap.Saved = time.Unix(at, 0).UTC()
	snap.AOF = info["aof_enabled"] == "1"
	if dir, err := c.ConfigGet(ctx, "dir").Result(); err == nil {
		if name, err := c.ConfigGet(ctx, "dbfilename").Result(); err == nil {
			snap.File = strings.TrimRight(dir["dir"], "/") + "/" + name["dbfilename"]
		}
	}
	return snap, nil
}

// waitIdle returns once no RDB save runs.
func waitIdle(ctx context.Context, c redis.Cmdable) (map[string]string, error) {
	for {
		info, err := persistence(ctx, c)
		if err != nil {
			return nil, err
		}
		if info["rdb_bgsave_in_progress"] == "0" {
			return info, nil
		}
		if err := sleep(ctx, snapshotPoll); err != nil {
			return nil, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return errors.Join(errors.New("waiting for the snapshot"), ctx.Err())
	case <-t.C:
		return nil
	}
}
