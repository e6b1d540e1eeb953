package admin

import (
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web/campaignid"
	"github.com/pixelgate/pixelgate/web/figures"
)

type campaignsData struct {
	Rows  []figures.Campaign
	Chart barChart
	Total figures.Campaign
}

// scopeCampaigns is the statement of what campaign figures cover.
func scopeCampaigns(total figures.Campaign, which string) string {
	share := "no email sent yet"
	if total.HasShare {
		share = strconv.FormatFloat(total.ConsentShare*100, 'f', 1, 64) + "% of the emails of " + which + ", " +
			of(total.SendsGranted, total.Sends, "email") + ", went to such recipients"
	}
	return "Opens and clicks are counted only for recipients who had consented to open tracking and still did when they opened (" +
		share + "). Sends count every email sent. Opens by image proxies that fetch every email (machine opens) are shown apart and never as a person's open. No figure identifies a recipient."
}

func (s *server) loadCampaigns(w http.ResponseWriter, r *http.Request) ([]figures.Campaign, figures.Campaign, bool) {
	list, err := s.st.Campaigns(r.Context())
	if err != nil {
		s.log.Error("list campaigns", "err", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, "The store is unavailable; try again shortly.")
		return nil, figures.Campaign{}, false
	}
	rows := make([]figures.Campaign, len(list))
	for i, c := range list {
		rows[i] = figures.NewCampaign(c)
	}
	return rows, figures.Total(list), true
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
	ch := campaignsChart(rows[:min(len(rows), chartCampaigns)])
	s.render(w, r, 0, "campaigns", view{Title: "Campaigns", Scope: scopeCampaigns(total, "these campaigns"),
		Data: campaignsData{Rows: rows, Chart: ch, Total: total}})
}

// chartCampaigns is how many campaigns the chart shows; the table lists
// them all.
const chartCampaigns = 20

// campaignsChart draws rows in the order given, the table's (most recent
// last send first), one row per campaign with its full name, and the
// counts behind each percentage.
func campaignsChart(rows []figures.Campaign) barChart {
	ch := barChart{ID: "campaign-rates", Title: "Share of emails sent to consenting recipients and open rate among them, most recent campaigns first",
		Percent: true, Rows: true}
	share := series{Name: "Emails sent to consenting recipients"}
	rate := series{Name: "Open rate among them"}
	for _, r := range rows {
		ch.Labels = append(ch.Labels, r.Title())
		share.Values = append(share.Values, r.ConsentShare)
		share.Notes = append(share.Notes, of(r.SendsGranted, r.Sends, "email"))
		rate.Values = append(rate.Values, r.OpenRate)
		rate.Notes = append(rate.Notes, of(r.UniqueOpens, r.SendsGranted, "email")+" opened")
	}
	ch.Series = []series{share, rate}
	return ch
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

type campaignData struct {
	Row     figures.Campaign
	Buckets []figures.Bucket
	ByDay   bool
	Chart   barChart
}

func (s *server) loadCampaign(w http.ResponseWriter, r *http.Request, action string) (campaignData, bool) {
	a, _ := accountOf(r)
	id, ok := campaignid.FromPath(r, Prefix+"/campaigns/")
	if !ok {
		s.errorPage(w, r, http.StatusNotFound, "There is no campaign with that id.")
		return campaignData{}, false
	}
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
	d := campaignData{Row: figures.NewCampaign(c)}
	d.Buckets, d.ByDay = figures.OpensOverTime(c.Hourly, r.URL.Query().Get("by") == "day")
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
	s.render(w, r, 0, "campaign", view{Title: d.Row.Title(), Scope: scopeCampaigns(d.Row, "this campaign"), Data: d})
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

// campaignPath is the dashboard page of campaign id.
func campaignPath(id string) string {
	return Prefix + "/campaigns/" + campaignid.Segment(id)
}
