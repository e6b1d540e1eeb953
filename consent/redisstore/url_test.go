package redisstore

import (
	"strings"
	"testing"
	"time"
)

func TestParseURLForms(t *testing.T) {
	cases := []struct {
		url  string
		kind kind
		want func(t *testing.T, tg target)
	}{
		{"redis://127.0.0.1:6379/2", kindSingle, func(t *testing.T, tg target) {
			if tg.single.Addr != "127.0.0.1:6379" || tg.single.DB != 2 || tg.single.TLSConfig != nil {
				t.Errorf("single: %+v", tg.single)
			}
		}},
		{"rediss://u:secret@redis.example:6380/0?dial_timeout=3s", kindSingle, func(t *testing.T, tg target) {
			if tg.single.TLSConfig == nil || tg.single.Password != "secret" || tg.single.Username != "u" || tg.single.DialTimeout != 3*time.Second {
				t.Errorf("rediss: %+v", tg.single)
			}
			if strings.Contains(tg.redacted, "secret") {
				t.Errorf("password in redacted form %q", tg.redacted)
			}
		}},
		{"redis-sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/mymaster/3?sentinel_password=sp", kindSentinel, func(t *testing.T, tg target) {
			o := tg.failover
			if o.MasterName != "mymaster" || o.DB != 3 || len(o.SentinelAddrs) != 2 || o.SentinelAddrs[1] != "10.0.0.2:26379" {
				t.Errorf("sentinel: %+v", o)
			}
			if o.Password != "pw" || o.SentinelPassword != "sp" {
				t.Errorf("sentinel credentials: master %q sentinel %q", o.Password, o.SentinelPassword)
			}
		}},
		{"rediss-sentinel://10.0.0.1:26379/m", kindSentinel, func(t *testing.T, tg target) {
			if tg.failover.TLSConfig == nil || tg.failover.MasterName != "m" {
				t.Errorf("rediss-sentinel: %+v", tg.failover)
			}
		}},
		{"redis-cluster://u:pw@10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002", kindCluster, func(t *testing.T, tg target) {
			o := tg.cluster
			if len(o.Addrs) != 3 || o.Addrs[2] != "10.0.0.3:7002" || o.Password != "pw" {
				t.Errorf("cluster: %+v", o)
			}
		}},
		{"10.0.0.1:7000, 10.0.0.2:7001", kindCluster, func(t *testing.T, tg target) {
			if len(tg.cluster.Addrs) != 2 {
				t.Errorf("bare cluster: %+v", tg.cluster)
			}
		}},
	}
	for _, c := range cases {
		tg, err := parseURL(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if tg.kind != c.kind {
			t.Errorf("%s: kind %d, want %d", c.url, tg.kind, c.kind)
			continue
		}
		c.want(t, tg)
	}
}

func TestParseURLRejects(t *testing.T) {
	for url, wantMsg := range map[string]string{
		"":                                "empty",
		"127.0.0.1:6379":                  "redis://127.0.0.1:6379",
		"http://127.0.0.1:6379":           "unknown scheme",
		"redis://a:1,b:2":                 "redis-cluster://",
		"redis-sentinel://10.0.0.1:26379": "mastername",
		"redis-sentinel://h:1/m/x":        "not a number",
		"redis-cluster://h:1/3":           "no databases",
		"redis://h:99999":                 "bad port",
		"redis://:1":                      "missing host",
		"redis://h:1/0?no_such_option=1":  "no_such_option",
	} {
		_, err := parseURL(url)
		if err == nil {
			t.Errorf("%q accepted", url)
			continue
		}
		if !strings.Contains(err.Error(), wantMsg) {
			t.Errorf("%q: error %q does not say %q", url, err, wantMsg)
		}
	}
	// A password never shows in an error.
	_, err := parseURL("redis://u:topsecret@h:1/0?no_such_option=1")
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("error leaks the password or accepts: %v", err)
	}
}

// FuzzParseURL: the URL comes from flags, environment or a config file; any
// input gives a target or an error, never a panic, and no error repeats a
// password given in the URL.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"redis://127.0.0.1:6379/0", "rediss://u:p@h:1/2?dial_timeout=1s",
		"redis-sentinel://:pw@a:1,b:2/m/1?sentinel_password=x", "redis-cluster://a:1,b:2",
		"a:1,b:2", "redis://[::1]:6379", "redis://h:1/0?pool_size=-1", "redis-sentinel://a:1//",
		"redis://%zz", ",,,", "redis-cluster://u:p@:0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := parseURL(s)
		if err != nil {
			return
		}
		switch tg.kind {
		case kindSingle:
			if tg.single == nil {
				t.Fatal("single target without options")
			}
		case kindSentinel:
			if tg.failover == nil || tg.failover.MasterName == "" {
				t.Fatal("sentinel target without master")
			}
		case kindCluster:
			if tg.cluster == nil || len(tg.cluster.Addrs) == 0 {
				t.Fatal("cluster target without seeds")
			}
		}
	})
}
