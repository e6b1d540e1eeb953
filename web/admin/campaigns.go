package admin

import (
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pixelgate/pixelgate/consent"
)

// campaignRow is one campaign's figures as the dashboard derives them.
// Opens and clicks exist only for recipients who consented (R1), so every
// rate is "among consenting recipients".
type campaignRow struct {
	consent.CampaignStats
	Sends int64
	// ConsentShare: share of the campaign's recipients who had consented
	// when it was sent.
	ConsentShare float64
	HasShare     bool
	// OpenRate: unique opens / sends to consenting recipients.
	OpenRate float64
	HasRate  bool
}

func newCampaignRow(c consent.CampaignStats) campaignRow {
	r := campaignRow{CampaignStats: c, Sends: c.SendsGranted + c.SendsNotGranted}
	if r.Sends > 0 {
		r.ConsentShare, r.HasShare = float64(c.SendsGranted)/float64(r.Sends), true
	}
	if c.SendsGranted > 0 {
		r.OpenRate, r.HasRate = float64(c.UniqueOpens)/float64(c.SendsGranted), true
	}
	return r
}

// Title is the name, or the id when the campaign has no name.
func (r campaignRow) Title() string {
	if r.Name != "" {
		return r.Name
	}
	return r.ID
}

type campaignsData struct {
	Rows  []campaignRow
	Chart barChart
	Total campaignRow
}

// scopeCampaigns is the statement of what campaign figures cover.
func scopeCampaigns(total campaignRow) string {
	share := "no recipients yet"
	if total.HasShare {
		share = strconv.FormatFloat(total.ConsentShare*100, 'f', 1, 64) + "% of the recipients of these campaigns"
	}
	return "Opens and clicks are counted only for recipients who had consented to open tracking and still did when they opened (" +
		share + "). Sends count every recipient. Opens by image proxies that fetch every email (machine opens) are shown apart and never as a person's open. No figure identifies a recipient."
}

func (s *server) loadCampaigns(w http.ResponseWriter, r *http.Request) ([]campaignRow, campaignRow, bool) {
	list, err := s.st.Campaigns(r.Context())
	if err != nil {
		s.log.Error("list campaigns", "err", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, "The store is unavailable; try again shortly.")
		return nil, campaignRow{}, false
	}
	rows := make([]campaignRow, len(list))
	var total consent.CampaignStats
	for i, c := range list {
		rows[i] = newCampaignRow(c)
		total.SendsGranted += c.SendsGranted
		total.SendsNotGranted += c.SendsNotGranted
		total.UniqueOpens += c.UniqueOpens
		total.Opens += c.Opens
		total.MachineOpens += c.MachineOpens
		total.UniqueClicks += c.UniqueClicks
		total.Clicks += c.Clicks
	}
	return rows, newCampaignRow(total), true
}

func (s *server) campaigns(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	if !s.mustRecord(w, r, consent.AuditEntry{Actor: a.Name, Action: "campaigns.view", Target: "all"}) {
		return
	}
	rows, total, ok := s.loadCampaigns(w, r)
	if !ok {
		return
	}
	// The chart shows the 20 most recent campaigns, oldest on the left.
	n := min(len(rows), 20)
	ch := barChart{ID: "campaign-rates", Title: "Open rate among consenting recipients, recent campaigns", Percent: true}
	rate := series{Name: "Open rate among consenting recipients"}
	share := series{Name: "Share of recipients who consented"}
	for i := n - 1; i >= 0; i-- {
		ch.Labels = append(ch.Labels, rows[i].Title())
		rate.Values = append(rate.Values, rows[i].OpenRate)
		share.Values = append(share.Values, rows[i].ConsentShare)
	}
	ch.Series = []series{share, rate}
	s.render(w, r, 0, "campaigns", view{Title: "Campaigns", Scope: scopeCampaigns(total),
		Data: campaignsData{Rows: rows, Chart: ch, Total: total}})
}

// csvSafe neutralises cells that a spreadsheet would run as a formula:
// campaign names come from mail headers written by anyone.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func ratio(v float64, ok bool) string {
	if !ok {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

func startCSV(w http.ResponseWriter, filename string) *csv.Writer {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	return csv.NewWriter(w)
}

func (s *server) campaignsCSV(w http.ResponseWriter, r *http.Request) {
	a, _ := accountOf(r)
	if !s.mustRecord(w, r, consent.AuditEntry{Actor: a.Name, Action: "campaigns.export", Target: "all"}) {
		return
	}
	rows, _, ok := s.loadCampaigns(w, r)
	if !ok {
		return
	}
	cw := startCSV(w, "campaigns.csv")
	_ = cw.Write([]string{"campaign_id", "name", "first_send", "last_send", "sends", "sends_consenting", "consent_share",
		"unique_opens_consenting", "open_rate_consenting", "opens", "machine_opens", "unique_clicks", "clicks"})
	for _, c := range rows {
		_ = cw.Write([]string{csvSafe(c.ID), csvSafe(c.Name), csvTime(c.FirstSend), csvTime(c.LastSend), i64(c.Sends), i64(c.SendsGranted),
			ratio(c.ConsentShare, c.HasShare), i64(c.UniqueOpens), ratio(c.OpenRate, c.HasRate), i64(c.Opens), i64(c.MachineOpens),
			i64(c.UniqueClicks), i64(c.Clicks)})
	}
	cw.Flush()
}

// bucket is one point of the opens-over-time series.
type bucket struct {
	Start                  time.Time
	Opens, Machine, Clicks int64
}

// maxHourBuckets caps the hourly view; longer campaigns are shown per day.
const maxHourBuckets = 24 * 14

// series fills the gaps between the first and last hour with zeros, so the
// chart's x axis is time, and groups by day when asked or when too long.
func timeSeries(hourly []consent.HourStat, byDay bool) ([]bucket, bool) {
	if len(hourly) == 0 {
		return nil, byDay
	}
	first, last := hourly[0].Hour, hourly[0].Hour
	for _, h := range hourly {
		if h.Hour.Before(first) {
			first = h.Hour
		}
		if h.Hour.After(last) {
			last = h.Hour
		}
	}
	if last.Sub(first) > maxHourBuckets*time.Hour {
		byDay = true
	}
	step := time.Hour
	trunc := func(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }
	if byDay {
		step = 24 * time.Hour
		trunc = consent.Day
	}
	first, last = trunc(first), trunc(last)
	n := int(last.Sub(first)/step) + 1
	out := make([]bucket, n)
	for i := range out {
		out[i].Start = first.Add(time.Duration(i) * step)
	}
	for _, h := range hourly {
		i := int(trunc(h.Hour).Sub(first) / step)
		out[i].Opens += h.Opens
		out[i].Machine += h.MachineOpens
		out[i].Clicks += h.Clicks
	}
	return out, byDay
}

type campaignData struct {
	Row     campaignRow
	Buckets []bucket
	ByDay   bool
	Chart   barChart
}

func (s *server) loadCampaign(w http.ResponseWriter, r *http.Request, action string) (campaignData, bool) {
	a, _ := accountOf(r)
	id := chi.URLParam(r, "id")
	if !s.mustRecord(w, r, consent.AuditEntry{Actor: a.Name, Action: action, Target: "campaign:" + id}) {
		return campaignData{}, false
	}
	c, err := s.st.Campaign(r.Context(), id)
	if errors.Is(err, consent.ErrNotFound) {
		s.errorPage(w, r, http.StatusNotFound, "There is no campaign with that id.")
		return campaignData{}, false
	}
	if err != nil {
		s.log.Error("read campaign", "err", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, "The store is unavailable; try again shortly.")
		return campaignData{}, false
	}
	d := campaignData{Row: newCampaignRow(c)}
	d.Buckets, d.ByDay = timeSeries(c.Hourly, r.URL.Query().Get("by") == "day")
	layout := "01-02 15h"
	if d.ByDay {
		layout = "2006-01-02"
	}
	d.Chart = barChart{ID: "opens-time", Title: "Opens over time of " + d.Row.Title()}
	opens := series{Name: "Opens (consenting recipients)"}
	machine := series{Name: "Machine opens"}
	clicks := series{Name: "Clicks"}
	for _, b := range d.Buckets {
		d.Chart.Labels = append(d.Chart.Labels, b.Start.Format(layout))
		opens.Values = append(opens.Values, float64(b.Opens))
		machine.Values = append(machine.Values, float64(b.Machine))
		clicks.Values = append(clicks.Values, float64(b.Clicks))
	}
	d.Chart.Series = []series{opens, machine, clicks}
	return d, true
}

func (s *server) campaign(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadCampaign(w, r, "campaign.view")
	if !ok {
		return
	}
	s.render(w, r, 0, "campaign", view{Title: d.Row.Title(), Scope: scopeCampaigns(d.Row), Data: d})
}

func (s *server) campaignCSV(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadCampaign(w, r, "campaign.export")
	if !ok {
		return
	}
	unit := "hour"
	if d.ByDay {
		unit = "day"
	}
	cw := startCSV(w, "campaign-opens-by-"+unit+".csv")
	_ = cw.Write([]string{unit + "_start", "opens_consenting", "machine_opens", "clicks"})
	for _, b := range d.Buckets {
		_ = cw.Write([]string{csvTime(b.Start), i64(b.Opens), i64(b.Machine), i64(b.Clicks)})
	}
	cw.Flush()
}
