package redisstore

import (
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/consent/storetest"
)

// rawKeys edits the audit records in the Redis keys of a store.
type rawKeys struct {
	url  string
	opts consent.StoreOptions
	rdb  redis.UniversalClient
}

func recordKey(role consent.AuditRole) string {
	if role == consent.AuditHead {
		return keyAuditHead
	}
	return keyAuditAnchor
}

func (r *rawKeys) must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (r *rawKeys) Record(t testing.TB, role consent.AuditRole) []byte {
	v, err := getString(t.Context(), r.rdb, recordKey(role))
	r.must(t, err)
	if v == "" {
		return nil
	}
	return []byte(v)
}

func (r *rawKeys) SetRecord(t testing.TB, role consent.AuditRole, raw []byte) {
	if raw == nil {
		r.must(t, r.rdb.Del(t.Context(), recordKey(role)).Err())
		return
	}
	r.must(t, r.rdb.Set(t.Context(), recordKey(role), raw, 0).Err())
}

func (r *rawKeys) PutEntry(t testing.TB, seq uint64, raw []byte) {
	r.DeleteEntries(t, seq, seq)
	r.must(t, r.rdb.ZAdd(t.Context(), keyAuditLog, redis.Z{Score: float64(seq), Member: string(raw)}).Err())
}

func (r *rawKeys) DeleteEntries(t testing.TB, from, to uint64) {
	err := r.rdb.ZRemRangeByScore(t.Context(), keyAuditLog, strconv.FormatUint(from, 10), strconv.FormatUint(to, 10)).Err()
	r.must(t, err)
}

func (r *rawKeys) Reopen(t testing.TB) consent.Store {
	t.Helper()
	st, err := Open(t.Context(), r.url, Options{StoreOptions: r.opts})
	r.must(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// rawOpener opens a store on the server url gives, with raw access to its
// audit keys through a client made by raw.
func rawOpener(url func(t testing.TB) (string, redis.UniversalClient)) storetest.RawOpener {
	return func(t testing.TB, o consent.StoreOptions) (consent.Store, storetest.RawAudit) {
		u, rdb := url(t)
		t.Cleanup(func() { rdb.Close() })
		r := &rawKeys{url: u, opts: o, rdb: rdb}
		return r.Reopen(t), r
	}
}

// TestAuditEndsTampered edits the audit records in Redis' keys.
func TestAuditEndsTampered(t *testing.T) {
	storetest.RunAuditTamper(t, rawOpener(func(t testing.TB) (string, redis.UniversalClient) {
		srv := redistest.Start(t)
		return srv.URL(), redis.NewClient(&redis.Options{Addr: srv.Addr()})
	}))
}

// TestAuditEndsTamperedCluster is the same in Cluster mode, where the
// compare-and-set scripts must keep to the audit log's slot.
func TestAuditEndsTamperedCluster(t *testing.T) {
	next := clusterPool(t, 2)
	storetest.RunAuditTamper(t, rawOpener(func(t testing.TB) (string, redis.UniversalClient) {
		srv := next(t)
		return "redis-cluster://" + srv.Addr(), redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr()}})
	}))
}
