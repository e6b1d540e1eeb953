package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web"
	"github.com/pixelgate/pixelgate/web/auth"
	"github.com/pixelgate/pixelgate/web/dashtest"
)

var tokenRE = regexp.MustCompile(`pgt_[A-Z2-7]+`)

// newToken creates an API token through the account page, as a person does.
func newToken(t *testing.T, c *dashtest.Client, label string) string {
	t.Helper()
	r := c.Post("/admin/account/tokens", url.Values{"label": {label}})
	tok := tokenRE.FindString(r.Body)
	if r.Status != http.StatusOK || tok == "" {
		t.Fatalf("create token: %d %s", r.Status, r.Body)
	}
	if again := c.Get("/admin/account"); strings.Contains(again.Body, tok) {
		t.Fatal("token shown again after creation")
	}
	return tok
}

func call(t *testing.T, e *dashtest.Env, tok, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, e.URL+"/api/v1"+path, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v", method, path, err)
	}
	return res.StatusCode, out
}

const textHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestAPI(t *testing.T) {
	for _, b := range dashtest.Backends {
		t.Run(string(b), func(t *testing.T) { testAPI(t, dashtest.New(t, b, web.Handlers{})) })
	}
}

func testAPI(t *testing.T, e *dashtest.Env) {
	ctx := context.Background()
	adm := e.FirstAdmin(t)
	analyst := newToken(t, e.AddUser(t, adm, "marie", auth.RoleAnalyst, dashtest.AnalystPassword), "bi export")
	dpoClient := e.AddUser(t, adm, "paul", auth.RoleDPO, dashtest.DPOPassword)
	dpo := newToken(t, dpoClient, "crm sync")

	if st, _ := call(t, e, "", "GET", "/campaigns", nil); st != http.StatusUnauthorized {
		t.Errorf("no token: %d", st)
	}
	if st, _ := call(t, e, "pgt_NOTATOKEN", "GET", "/campaigns", nil); st != http.StatusUnauthorized {
		t.Errorf("bad token: %d", st)
	}
	if st, out := call(t, e, analyst, "GET", "/campaigns", nil); st != http.StatusOK || out["scope"] == "" {
		t.Errorf("analyst campaigns: %d %v", st, out)
	}
	lookup := map[string]string{"email": "jeanne@Example.COM"}
	for _, p := range []string{"/consent/lookup", "/consent/import"} {
		if st, _ := call(t, e, analyst, "POST", p, lookup); st != http.StatusForbidden {
			t.Errorf("analyst %s: %d, want 403", p, st)
		}
	}

	collected := e.Clock.Now().Add(-48 * time.Hour).UTC()
	good := map[string]any{"email": "jeanne@example.com", "state": "granted", "collected_at": collected, "source": "signup-form",
		"policy_version": "2026-04", "text_hash": textHash}
	bad := []map[string]any{
		good,
		{"email": "not-an-address", "state": "granted", "collected_at": collected, "policy_version": "v", "text_hash": textHash},
		{"email": "luc@example.org", "state": "granted", "collected_at": collected},
		{"email": "ana@example.net", "state": "maybe", "collected_at": collected},
		{"email": "zoe@example.com", "state": "refused", "collected_at": e.Clock.Now().Add(time.Hour)},
		{"email": " jeanne@EXAMPLE.com", "state": "refused", "collected_at": collected},
	}
	st, out := call(t, e, dpo, "POST", "/consent/import", map[string]any{"records": bad})
	if st != http.StatusUnprocessableEntity {
		t.Fatalf("batch with bad rows: %d %v", st, out)
	}
	rows := out["rows"].([]any)
	for i, want := range []string{"not_applied", "email:", "policy_version", "state:", "future", "same recipient as row 0"} {
		row := rows[i].(map[string]any)
		got := row["status"].(string) + " " + func() string { s, _ := row["error"].(string); return s }()
		if !strings.Contains(got, want) {
			t.Errorf("row %d: %q, want it to mention %q", i, got, want)
		}
	}
	k, _ := e.Keyring.RecipientKey("jeanne@example.com")
	if s, _ := e.Store.Lookup(ctx, []consent.Key{k}); s[0].State != consent.None {
		t.Fatalf("a rejected batch changed consent: %v", s[0].State)
	}

	st, out = call(t, e, dpo, "POST", "/consent/import", map[string]any{"records": []any{good,
		map[string]any{"email": "luc@example.org", "state": "refused", "collected_at": collected}}})
	if st != http.StatusOK || out["applied"].(float64) != 2 {
		t.Fatalf("good batch: %d %v", st, out)
	}
	h, err := e.Store.History(ctx, k)
	if err != nil || len(h) != 1 || h[0].Source != "import:signup-form" || h[0].PolicyVersion != "2026-04" ||
		h[0].TextHash != textHash || !h[0].At.Equal(collected) || h[0].Actor != "api:paul" {
		t.Fatalf("evidence not kept as imported: %+v %v", h, err)
	}
	st, out = call(t, e, dpo, "POST", "/consent/lookup", lookup)
	if st != http.StatusOK || out["state"] != "granted" {
		t.Errorf("lookup: %d %v", st, out)
	}
	// A withdrawal recorded since cannot be overridden by an older import.
	if _, err := e.Store.Withdraw(ctx, k, consent.Evidence{Source: consent.SourceConsentPage}); err != nil {
		t.Fatal(err)
	}
	st, out = call(t, e, dpo, "POST", "/consent/import", map[string]any{"records": []any{good}})
	if st != http.StatusUnprocessableEntity || !strings.Contains(out["rows"].([]any)[0].(map[string]any)["error"].(string), "later decision") {
		t.Errorf("older import over a withdrawal: %d %v", st, out)
	}
	st, out = call(t, e, analyst, "GET", "/consent/stats", nil)
	if st != http.StatusOK || out["current"].(map[string]any)["withdrawn"].(float64) != 1 || out["current"].(map[string]any)["refused"].(float64) != 1 {
		t.Errorf("consent stats: %d %v", st, out)
	}
	if st, _ := call(t, e, analyst, "GET", "/consent/stats?from=2026-13-01", nil); st != http.StatusBadRequest {
		t.Errorf("bad date: %d", st)
	}
	if st, _ := call(t, e, dpo, "POST", "/consent/import", map[string]any{"records": []any{}, "extra": 1}); st != http.StatusBadRequest {
		t.Errorf("unknown field: %d", st)
	}

	// Revoking the token, or disabling its account, stops it at once.
	acct := dpoClient.Get("/admin/account")
	id := regexp.MustCompile(`/admin/account/tokens/([0-9a-f]{16})/revoke`).FindStringSubmatch(acct.Body)
	if id == nil {
		t.Fatalf("token not listed: %s", acct.Body)
	}
	if r := dpoClient.Post("/admin/account/tokens/"+id[1]+"/revoke", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.Status)
	}
	if st, _ := call(t, e, dpo, "GET", "/campaigns", nil); st != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", st)
	}
	adm.Post("/admin/accounts/marie/disable", nil)
	if st, _ := call(t, e, analyst, "GET", "/campaigns", nil); st != http.StatusUnauthorized {
		t.Errorf("token of a disabled account: %d", st)
	}

	var actions []string
	for _, a := range e.Actions(t) {
		if strings.HasPrefix(a, "api:") {
			actions = append(actions, a)
		}
	}
	want := []string{"api:marie campaigns.view ok", "api:marie access.denied denied", "api:paul consent.import denied",
		"api:paul consent.grant ok", "api:paul consent.refuse ok", "api:paul consent.read ok"}
	for _, w := range want {
		found := false
		for _, a := range actions {
			found = found || a == w
		}
		if !found {
			t.Errorf("no audit entry %q in %v", w, actions)
		}
	}
}

func TestOpenAPIDocument(t *testing.T) {
	e := dashtest.New(t, dashtest.Bolt, web.Handlers{})
	st, doc := call(t, e, "", "GET", "/openapi.json", nil)
	if st != http.StatusOK || doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi.json: %d", st)
	}
	paths := doc["paths"].(map[string]any)
	for _, p := range []string{"/campaigns", "/campaigns/{id}", "/consent/stats", "/consent/lookup", "/consent/import"} {
		if paths[p] == nil {
			t.Errorf("openapi.json does not document %s", p)
		}
		// Every documented path exists: without a token it answers 401,
		// not 404.
		method := "GET"
		if strings.HasPrefix(p, "/consent/l") || strings.HasPrefix(p, "/consent/i") {
			method = "POST"
		}
		if st, _ := call(t, e, "", method, strings.ReplaceAll(p, "{id}", "x"), nil); st != http.StatusUnauthorized {
			t.Errorf("%s %s: %d, want 401", method, p, st)
		}
	}
}
