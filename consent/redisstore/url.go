package redisstore

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

type kind uint8

const (
	kindSingle kind = iota
	kindSentinel
	kindCluster
)

// target is a parsed --redis-url.
type target struct {
	kind     kind
	single   *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
	// redacted is the URL without its password, for messages.
	redacted string
}

// parseURL accepts:
//
//	redis://[user:pass@]host:port[/db][?go-redis options]   one server
//	rediss://...                                           one server, TLS
//	redis-sentinel://[user:pass@]host:port[,host:port...]/master[/db][?sentinel_password=...]
//	rediss-sentinel://...                                  Sentinel, TLS
//	redis-cluster://[user:pass@]host:port[,host:port...][?go-redis options]
//	rediss-cluster://...                                   Cluster, TLS
//	host:port,host:port[,...]                              Cluster (two or more seeds)
//
// For Sentinel, the user and password are the Redis servers' own; the
// sentinels' password, if any, is the sentinel_password query parameter.
func parseURL(raw string) (target, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return target{}, errors.New("redis URL is empty")
	}
	if !strings.Contains(raw, "://") {
		return parseBareCluster(raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("redis URL: %w", errors.Unwrap(err))
	}
	t := target{redacted: u.Redacted()}
	hosts, err := splitHosts(u.Host)
	if err != nil {
		return target{}, err
	}
	switch u.Scheme {
	case "redis", "rediss":
		if len(hosts) > 1 {
			return target{}, fmt.Errorf("redis URL %s names %d servers: use redis-cluster:// or redis-sentinel:// for several", t.redacted, len(hosts))
		}
		o, err := redis.ParseURL(raw)
		if err != nil {
			return target{}, fmt.Errorf("redis URL %s: %w", t.redacted, err)
		}
		t.kind, t.single = kindSingle, o
	case "redis-cluster", "rediss-cluster":
		o, err := redis.ParseClusterURL(seedURL(u, strings.TrimSuffix(u.Scheme, "-cluster"), hosts, "", u.Query(), true))
		if err != nil {
			return target{}, fmt.Errorf("redis URL %s: %w", t.redacted, err)
		}
		if p := strings.Trim(u.Path, "/"); p != "" {
			return target{}, fmt.Errorf("redis URL %s: Cluster has no databases, remove the path %q", t.redacted, u.Path)
		}
		t.kind, t.cluster = kindCluster, o
	case "redis-sentinel", "rediss-sentinel":
		parts := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
		if len(parts) == 0 || len(parts) > 2 {
			return target{}, fmt.Errorf("redis URL %s: want redis-sentinel://host:port[,host:port]/mastername[/db]", t.redacted)
		}
		q := u.Query()
		sentinelPass := q.Get("sentinel_password")
		q.Del("sentinel_password")
		q.Set("master_name", parts[0])
		path := ""
		if len(parts) == 2 {
			if _, err := strconv.Atoi(parts[1]); err != nil {
				return target{}, fmt.Errorf("redis URL %s: database %q is not a number", t.redacted, parts[1])
			}
			path = "/" + parts[1]
		}
		o, err := redis.ParseFailoverURL(seedURL(u, strings.TrimSuffix(u.Scheme, "-sentinel"), hosts, path, q, false))
		if err != nil {
			return target{}, fmt.Errorf("redis URL %s: %w", t.redacted, err)
		}
		// seedURL carries no user info: what the URL's user info names are
		// the Redis servers' credentials.
		o.SentinelPassword = sentinelPass
		if u.User != nil {
			o.Username = u.User.Username()
			o.Password, _ = u.User.Password()
		}
		t.kind, t.failover = kindSentinel, o
	default:
		return target{}, fmt.Errorf("redis URL %s: unknown scheme %q (want redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster)", t.redacted, u.Scheme)
	}
	return t, nil
}

// parseBareCluster reads "host:port,host:port", the Cluster seed list form.
func parseBareCluster(raw string) (target, error) {
	hosts, err := splitHosts(raw)
	if err != nil {
		return target{}, err
	}
	if len(hosts) < 2 {
		return target{}, fmt.Errorf("redis URL %q: use redis://%s for one server; a bare list is read as Cluster seeds and needs at least two", raw, raw)
	}
	return target{kind: kindCluster, cluster: &redis.ClusterOptions{Addrs: hosts}, redacted: raw}, nil
}

// splitHosts splits a comma-separated host:port list and checks each part.
func splitHosts(s string) ([]string, error) {
	var out []string
	for _, h := range strings.Split(s, ",") {
		h = strings.TrimSpace(h)
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			return nil, fmt.Errorf("redis address %q: want host:port", h)
		}
		if host == "" {
			return nil, fmt.Errorf("redis address %q: missing host", h)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("redis address %q: bad port", h)
		}
		out = append(out, h)
	}
	return out, nil
}

// seedURL rewrites a multi-host URL into the single-host form with extra
// addr= parameters that go-redis' Cluster and Failover parsers read. The
// Failover parser would take user info as the sentinels' credentials, so it
// is carried only when withUser is set.
func seedURL(u *url.URL, scheme string, hosts []string, path string, q url.Values, withUser bool) string {
	q = cloneValues(q)
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	s := &url.URL{Scheme: scheme, Host: hosts[0], Path: path, RawQuery: q.Encode()}
	if withUser && u.User != nil {
		s.User = u.User
	}
	return s.String()
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// client builds the go-redis client for the target.
func (t target) client(poolSize int, timeout time.Duration) redis.UniversalClient {
	switch t.kind {
	case kindCluster:
		o := *t.cluster
		tuning{&o.PoolSize, &o.MaxRetries, &o.Protocol, &o.ContextTimeoutEnabled,
			[]*time.Duration{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout}}.apply(poolSize, timeout)
		return redis.NewClusterClient(&o)
	case kindSentinel:
		o := *t.failover
		tuning{&o.PoolSize, &o.MaxRetries, &o.Protocol, &o.ContextTimeoutEnabled,
			[]*time.Duration{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout}}.apply(poolSize, timeout)
		return redis.NewFailoverClient(&o)
	default:
		o := *t.single
		tuning{&o.PoolSize, &o.MaxRetries, &o.Protocol, &o.ContextTimeoutEnabled,
			[]*time.Duration{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout}}.apply(poolSize, timeout)
		return redis.NewClient(&o)
	}
}

// tuning points at the settings the store adjusts in each kind of go-redis
// options.
type tuning struct {
	poolSize, maxRetries, protocol *int
	contextTimeouts                *bool
	timeouts                       []*time.Duration
}

// apply: a pool of at least poolSize; the caller's context deadlines
// honoured; no retries and RESP2 unless the URL asked otherwise; every
// timeout the URL left unset is the store's timeout, so a dead server is
// noticed within one operation's budget.
func (t tuning) apply(poolSize int, timeout time.Duration) {
	*t.poolSize = max(*t.poolSize, poolSize)
	*t.contextTimeouts = true
	*t.maxRetries = noRetries(*t.maxRetries)
	*t.protocol = protocol(*t.protocol)
	for _, d := range t.timeouts {
		if *d == 0 {
			*d = timeout
		}
	}
}

// noRetries turns go-redis' automatic retry off unless the URL asked for
// it: the scripts are not idempotent (a retried RecordOpen whose first reply
// was lost would count twice), and the callers fail closed anyway.
func noRetries(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// protocol defaults to RESP2: the store uses no RESP3 feature, and RESP2
// replies skip go-redis' push-notification check on every command.
func protocol(p int) int {
	if p == 0 {
		return 2
	}
	return p
}
