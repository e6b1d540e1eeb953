package admin

import (
	"net/url"
	"testing"
)

func FuzzAuditFilter(f *testing.F) {
	for _, s := range []string{"actor=paul&action=dsar.&since=2026-01-01&until=2026-02-01&limit=50", "limit=-1", "since=yesterday", "limit=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fl, aq, err := parseAuditFilter(q)
		if err != nil {
			return
		}
		if aq.Limit < 1 || aq.Limit > maxAuditRows || fl.Limit != aq.Limit || !aq.Newest {
			t.Fatalf("query %q gave limit %d", raw, aq.Limit)
		}
		if !aq.Since.IsZero() && !aq.Until.IsZero() && fl.Since == fl.Until && !aq.Until.After(aq.Since) {
			t.Fatalf("a one-day range is empty: %+v", aq)
		}
	})
}
