package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/dashtest"
)

// BenchmarkCampaignsPage is the cost of the campaigns page (session check,
// audit entry, store read, SVG chart, HTML) for 50 campaigns, against two
// references: reading the same campaigns from the store, and appending the
// one audit entry every such page writes (a durable write, R10).
func BenchmarkCampaignsPage(b *testing.B) {
	e := dashtest.New(b, dashtest.Bolt, web.Handlers{})
	ctx := context.Background()
	for i := range 50 {
		id := fmt.Sprintf("c-%02d", i)
		for j := range 20 {
			if err := e.Store.RecordSend(ctx, consent.Send{Campaign: id, CampaignName: "Campaign " + id, Granted: j%2 == 0, At: e.Clock.Now()}); err != nil {
				b.Fatal(err)
			}
		}
	}
	adm := e.FirstAdmin(b)
	b.Run("reference-store-campaigns", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.Store.Campaigns(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reference-audit-append", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.Store.AppendAudit(ctx, consent.AuditEntry{Actor: "bench", Action: "campaigns.view", Target: "all", Result: "ok"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("page", func(b *testing.B) {
		for b.Loop() {
			if r := adm.Get("/admin/campaigns"); r.Status != http.StatusOK {
				b.Fatal(r.Status)
			}
		}
	})
}
