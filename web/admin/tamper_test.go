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
			e := dashtest.New(t, b, web.Handlers{})
			adm := e.FirstAdmin(t)
			adm.Get("/admin/campaigns")
			adm.Get("/admin/consent")
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
				e.ReopenBolt(t, func(path string) {
					db, err := bolt.Open(path, 0o600, nil)
					if err != nil {
						t.Fatal(err)
					}
					defer db.Close()
					err = db.Update(func(tx *bolt.Tx) error {
						bk := tx.Bucket([]byte("audit"))
						if bk == nil {
							return fmt.Errorf("no audit bucket")
						}
						key := binary.BigEndian.AppendUint64(nil, victim)
						return bk.Put(key, rewrite(bk.Get(key)))
					})
					if err != nil {
						t.Fatal(err)
					}
				})
			case dashtest.Redis:
				rdb := redis.NewClient(&redis.Options{Addr: e.Redis.Addr()})
				defer rdb.Close()
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
