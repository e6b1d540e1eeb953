package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/auth"
	"github.com/pixelgate/pixelgate/web/dashtest"
)

func TestDSAR(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *dashtest.Env) {
		ctx := context.Background()
		k := seedCampaign(t, e)
		adm := e.FirstAdmin(t)
		dpo := e.AddUser(t, adm, "paul", auth.RoleDPO, dashtest.DPOPassword)
		addr := url.Values{"address": {"jeanne.martin@EXAMPLE.com"}}

		r := dpo.Post("/admin/dsar", addr)
		if r.Status != http.StatusOK {
			t.Fatalf("lookup: %d", r.Status)
		}
		for _, want := range []string{k.String(), ">granted<", "consent-page", "Spring sale", "Export as JSON"} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("lookup page lacks %q", want)
			}
		}
		if r := dpo.Post("/admin/dsar", url.Values{"address": {"not an address"}}); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("bad address: %d", r.Status)
		}

		r = dpo.Post("/admin/dsar/export", addr)
		var file struct {
			Data consent.Export `json:"data"`
		}
		if err := json.Unmarshal([]byte(r.Body), &file); err != nil {
			t.Fatalf("export is not JSON: %v", err)
		}
		if file.Data.Key != k.String() || file.Data.State != "granted" || len(file.Data.History) != 1 ||
			len(file.Data.Opens) != 1 || file.Data.Opens[0].Campaign != "spring-sale" {
			t.Errorf("export: %+v", file.Data)
		}

		// Erasing needs the confirmation box.
		if r := dpo.Post("/admin/dsar/erase", addr); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("erase without confirmation: %d", r.Status)
		}
		r = dpo.Post("/admin/dsar/erase", url.Values{"address": addr["address"], "confirm": {"yes"}})
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "Erased") {
			t.Fatalf("erase: %d", r.Status)
		}
		x, err := e.Store.Export(ctx, k)
		if err != nil || len(x.Opens) != 0 {
			t.Errorf("opens survive erasure: %+v %v", x.Opens, err)
		}
		st, _ := e.Store.Lookup(ctx, []consent.Key{k})
		if st[0].State != consent.Withdrawn {
			t.Errorf("after erasure state is %s, want the withdrawn tombstone", st[0].State)
		}
		// An erased recipient's later opens are not recorded.
		if res, _ := e.Store.RecordOpen(ctx, consent.Open{Key: k, Campaign: "spring-sale", At: e.Clock.Now()}); res != consent.NotRecorded {
			t.Errorf("open after erasure: %s", res)
		}

		// Objection on another recipient withdraws consent, source admin.
		luc, _ := e.Keyring.RecipientKey("luc@example.org")
		r = dpo.Post("/admin/dsar/object", url.Values{"address": {"luc@example.org"}})
		if r.Status != http.StatusOK {
			t.Fatalf("objection: %d", r.Status)
		}
		h, _ := e.Store.History(ctx, luc)
		if len(h) != 2 || h[1].State != consent.Withdrawn || h[1].Source != consent.SourceAdmin || h[1].Actor != "paul" {
			t.Errorf("objection evidence: %+v", h)
		}
	})
}

func TestAnalystNeverSeesARecipient(t *testing.T) {
	e := dashtest.New(t, dashtest.Bolt, web.Handlers{})
	k := seedCampaign(t, e)
	adm := e.FirstAdmin(t)
	marie := e.AddUser(t, adm, "marie", auth.RoleAnalyst, dashtest.AnalystPassword)
	for _, p := range []string{"/admin/campaigns", "/admin/campaigns/spring-sale", "/admin/campaigns/spring-sale/opens.csv",
		"/admin/campaigns.csv", "/admin/consent", "/admin/consent.csv", "/admin/account"} {
		r := marie.Get(p)
		if r.Status != http.StatusOK {
			t.Errorf("%s: %d", p, r.Status)
		}
		if strings.Contains(r.Body, k.String()) || strings.Contains(r.Body, "@example") {
			t.Errorf("%s shows a recipient key or address", p)
		}
		if !strings.HasSuffix(p, ".csv") && p != "/admin/account" && !strings.Contains(r.Body, "What these figures cover") {
			t.Errorf("%s has no statement of what its figures cover", p)
		}
	}
	r := marie.Get("/admin/campaigns")
	// 4 sends, 3 to consenting recipients, 2 unique opens among them, one machine open.
	for _, want := range []string{"75.0 %", "66.7 %", "Spring sale", "<svg"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("campaigns page lacks %q", want)
		}
	}
	csv := marie.Get("/admin/campaigns.csv").Body
	if !strings.Contains(csv, "spring-sale,Spring sale,") || !strings.Contains(csv, ",4,3,0.7500,2,0.6667,2,1,0,0") {
		t.Errorf("campaigns CSV:\n%s", csv)
	}
}
