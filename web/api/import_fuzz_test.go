package api

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
)

// FuzzImportBody feeds arbitrary bodies to the import parser and row
// checks: no panic, and every accepted row carries valid evidence (R2).
func FuzzImportBody(f *testing.F) {
	for _, s := range []string{
		`{"records":[{"email":"a@example.com","state":"granted","collected_at":"2026-01-02T03:04:05Z","policy_version":"v1","text_hash":"` + strings.Repeat("ab", 32) + `"}]}`,
		`{"records":[{"email":"b@example.com","state":"withdrawn","collected_at":"2026-01-02T03:04:05+02:00","source":"crm"}]}`,
		`{"records":[{"email":"@","state":"granted"}]}`,
		`{"records":[]} {}`,
		`{"records":[{"email":"a@xn--","state":"refused","collected_at":"9999-12-31T23:59:59Z"}]}`,
		`[`,
	} {
		f.Add(s)
	}
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	s := &server{kr: kr, now: func() time.Time { return now }}
	f.Fuzz(func(t *testing.T, body string) {
		var req importRequest
		r := httptest.NewRequest("POST", "/api/v1/consent/import", strings.NewReader(body))
		if err := decodeBody(httptest.NewRecorder(), r, &req); err != nil {
			return
		}
		for _, row := range req.Records {
			v, err := s.checkRow(row, "api:fuzz")
			if err != nil {
				continue
			}
			if v.state == consent.None || v.ev.At.IsZero() || v.ev.At.After(now.Add(clockSkew)) || !strings.HasPrefix(string(v.ev.Source), "import") {
				t.Fatalf("accepted bad row %+v as %+v", row, v)
			}
			if v.state == consent.Granted && (len(v.ev.TextHash) != 64 || v.ev.PolicyVersion == "") {
				t.Fatalf("grant without evidence accepted: %+v", row)
			}
		}
	})
}
