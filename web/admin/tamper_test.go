package admin_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/dashtest"
)

// TestVerifyAfterTampering edits one audit entry where the store keeps it
// (the bbolt file, the Redis sorted set), as someone with access to the
// storage would, and checks "Verify integrity" names that entry.
func TestVerifyAfterTampering(t *testing.T) {
	for _, b := range dashtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			e, adm := adminWhoRead(t, b)
			r := adm.Post("/admin/audit/verify", nil)
			if r.Status != http.StatusOK || !strings.Contains(r.Body, "Integrity verified") {
				t.Fatalf("untouched log: %d %s", r.Status, r.Body)
			}
			// Entry 3 is the admin's campaigns.view: rewrite it to hide
			// what was read.
			const victim = 3
			rewrite := func(raw []byte) []byte {
				var en consent.AuditEntry
				if err := json.Unmarshal(raw, &en); err != nil {
					t.Fatal(err)
				}
				if en.Seq != victim || en.Action != "campaigns.view" {
					t.Fatalf("entry %d is %+v, not the campaigns.view this test expects", victim, en)
				}
				en.Action = "consent.stats.view"
				out, _ := json.Marshal(en)
				return out
			}
			switch b {
			case dashtest.Bolt:
				editBolt(t, e, func(tx *bolt.Tx) error {
					bk := tx.Bucket([]byte("audit"))
					if bk == nil {
						return fmt.Errorf("no audit bucket")
					}
					key := binary.BigEndian.AppendUint64(nil, victim)
					return bk.Put(key, rewrite(bk.Get(key)))
				})
			case dashtest.Redis:
				rdb := rawRedis(t, e)
				ctx := context.Background()
				seq := strconv.Itoa(victim)
				members, err := rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: "pg:{audit}:log", Start: seq, Stop: seq, ByScore: true}).Result()
				if err != nil || len(members) != 1 {
					t.Fatalf("read entry %d: %v %v", victim, members, err)
				}
				rdb.ZRem(ctx, "pg:{audit}:log", members[0])
				if err := rdb.ZAdd(ctx, "pg:{audit}:log", redis.Z{Score: victim, Member: string(rewrite([]byte(members[0])))}).Err(); err != nil {
					t.Fatal(err)
				}
			}
			r = adm.Post("/admin/audit/verify", nil)
			if r.Status != http.StatusOK || !strings.Contains(r.Body, fmt.Sprintf("The chain is broken at entry #%d", victim)) {
				t.Fatalf("after tampering: %d %s", r.Status, r.Body)
			}
			// The failed check is itself in the log.
			got, err := e.Store.ReadAudit(context.Background(), consent.AuditQuery{Action: "audit.verify", Limit: 10})
			if err != nil || len(got) != 2 || got[1].Result != "broken" || !strings.Contains(got[1].Detail, "#3") {
				t.Errorf("verification not audited as broken: %+v %v", got, err)
			}
		})
	}
}

// TestVerifyAfterCuttingNewest deletes the newest entries where the store
// keeps them and points the head record at the new last entry, as someone
// with access to the storage but not the audit key would to hide what they
// did last; "Verify integrity" says entries were removed after it (R10).
func TestVerifyAfterCuttingNewest(t *testing.T) {
	for _, b := range dashtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			e, adm := adminWhoRead(t, b)
			all, err := e.Store.ReadAudit(context.Background(), consent.AuditQuery{Limit: 1000})
			if err != nil || len(all) < 3 {
				t.Fatalf("audit log before the cut: %+v %v", all, err)
			}
			last := all[len(all)-1].Seq
			keep := all[len(all)-3]
			head, _ := json.Marshal(map[string]any{"seq": keep.Seq, "mac": keep.MAC})
			switch b {
			case dashtest.Bolt:
				editBolt(t, e, func(tx *bolt.Tx) error {
					for seq := keep.Seq + 1; seq <= last; seq++ {
						if err := tx.Bucket([]byte("audit")).Delete(binary.BigEndian.AppendUint64(nil, seq)); err != nil {
							return err
						}
					}
					return tx.Bucket([]byte("meta")).Put([]byte("audit_head"), head)
				})
			case dashtest.Redis:
				rdb := rawRedis(t, e)
				ctx := context.Background()
				if err := rdb.ZRemRangeByScore(ctx, "pg:{audit}:log", strconv.FormatUint(keep.Seq+1, 10), "+inf").Err(); err != nil {
					t.Fatal(err)
				}
				if err := rdb.Set(ctx, "pg:{audit}:head", head, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			r := adm.Post("/admin/audit/verify", nil)
			want := fmt.Sprintf("The chain is broken at entry #%d</strong> (removed): the head record (naming entry #%d) has no valid MAC", keep.Seq+1, keep.Seq)
			if r.Status != http.StatusOK || !strings.Contains(r.Body, want) {
				t.Fatalf("after cutting the newest entries: %d, want %q in %s", r.Status, want, r.Body)
			}
		})
	}
}

// editBolt stops the store, edits its bbolt file in one transaction, as
// someone with access to the file would, and opens it again.
func editBolt(t *testing.T, e *dashtest.Env, edit func(tx *bolt.Tx) error) {
	t.Helper()
	e.ReopenBolt(t, func(path string) {
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(edit); err != nil {
			t.Fatal(err)
		}
	})
}

// rawRedis is a client on the store's Redis, for editing its keys.
func rawRedis(t *testing.T, e *dashtest.Env) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: e.Redis.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// adminWhoRead is a dashboard whose first admin has read the campaigns and
// consent pages, so the audit log holds a few entries.
func adminWhoRead(t *testing.T, b dashtest.Backend) (*dashtest.Env, *dashtest.Client) {
	e := dashtest.New(t, b, web.Handlers{})
	adm := e.FirstAdmin(t)
	adm.Get("/admin/campaigns")
	adm.Get("/admin/consent")
	return e, adm
}
