package redisstore

import (
	"context"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// hashes reads several hashes in one round trip (go-redis splits the
// pipeline per node on Cluster); a missing hash comes back empty.
func (s *Store) hashes(ctx context.Context, keys []string) ([]map[string]string, error) {
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HGetAll(ctx, k)
		}
		return nil
	})
	if err != nil {
		return nil, wrapErr(err)
	}
	out := make([]map[string]string, len(keys))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// indexed picks the members of an expiry index of one kind ("o:", "h:")
// and names their keys under the tag prefix.
func indexed(prefix, kind string, members []string) (keys, picked []string) {
	for _, m := range members {
		if strings.HasPrefix(m, kind) {
			keys, picked = append(keys, prefix+m), append(picked, m)
		}
	}
	return keys, picked
}

// counter reads an integer field of a hash; absent is 0.
func counter(h map[string]string, field string) int64 {
	n, _ := strconv.ParseInt(h[field], 10, 64)
	return n
}

// liveAfter is the ZRANGEBYSCORE bound for members not yet expired at now.
func liveAfter(now int64) *redis.ZRangeBy {
	return &redis.ZRangeBy{Min: "(" + strconv.FormatInt(now, 10), Max: "+inf"}
}
