package admin

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web/figures"
)

type consentDayTotal struct {
	Day                           time.Time
	Grants, Refusals, Withdrawals int64
}

type consentData struct {
	Days      int
	Choices   []int
	From, To  time.Time
	Rows      []consent.ConsentDay
	Totals    []consentDayTotal
	Current   []stateCount
	Known     int64
	Granted   int64 // recipients currently consenting, the count behind Share
	Share     float64
	HasShare  bool
	Chart     barChart
	PerSource []sourceTotal
}

type stateCount struct {
	State string
	Count int64
}

type sourceTotal struct {
	Source                        consent.Source
	Grants, Refusals, Withdrawals int64
}

var dayChoices = []int{7, 30, 90, 365}

func (s *server) loadConsent(w http.ResponseWriter, r *http.Request) (consentData, bool) {
	days := 30
	if v, err := strconv.Atoi(r.URL.Query().Get("days")); err == nil {
		for _, c := range dayChoices {
			if v == c {
				days = v
			}
		}
	}
	to := consent.Day(s.now()).AddDate(0, 0, 1)
	from := to.AddDate(0, 0, -days)
	st, err := s.st.ConsentStats(r.Context(), from, to)
	if err != nil {
		s.log.Error("consent stats", "err", err)
		s.errorPage(w, r, http.StatusServiceUnavailable, "The store is unavailable; try again shortly.")
		return consentData{}, false
	}
	d := consentData{Days: days, Choices: dayChoices, From: from, To: to.AddDate(0, 0, -1), Rows: st.Days}
	sort.Slice(d.Rows, func(i, j int) bool {
		if !d.Rows[i].Day.Equal(d.Rows[j].Day) {
			return d.Rows[i].Day.Before(d.Rows[j].Day)
		}
		return d.Rows[i].Source < d.Rows[j].Source
	})
	// One bucket per day of the range, zeros included, so the chart's x
	// axis is calendar time.
	idx := map[time.Time]int{}
	for i := 0; i < days; i++ {
		day := from.AddDate(0, 0, i)
		idx[day] = i
		d.Totals = append(d.Totals, consentDayTotal{Day: day})
	}
	src := map[consent.Source]*sourceTotal{}
	for _, row := range d.Rows {
		if i, ok := idx[consent.Day(row.Day)]; ok {
			d.Totals[i].Grants += row.Grants
			d.Totals[i].Refusals += row.Refusals
			d.Totals[i].Withdrawals += row.Withdrawals
		}
		t := src[row.Source]
		if t == nil {
			t = &sourceTotal{Source: row.Source}
			src[row.Source] = t
		}
		t.Grants += row.Grants
		t.Refusals += row.Refusals
		t.Withdrawals += row.Withdrawals
	}
	for _, t := range src {
		d.PerSource = append(d.PerSource, *t)
	}
	sort.Slice(d.PerSource, func(i, j int) bool { return d.PerSource[i].Source < d.PerSource[j].Source })
	for _, state := range []consent.State{consent.Granted, consent.Refused, consent.Withdrawn} {
		d.Current = append(d.Current, stateCount{State: state.String(), Count: st.Current[state]})
	}
	d.Share, d.Known, d.HasShare = figures.ConsentShare(st.Current)
	d.Granted = st.Current[consent.Granted]
	d.Chart = barChart{ID: "consent-days", Title: "Consent decisions per day"}
	g, rf, wd := series{Name: "Grants"}, series{Name: "Refusals"}, series{Name: "Withdrawals"}
	for _, t := range d.Totals {
		d.Chart.Labels = append(d.Chart.Labels, t.Day.Format("01-02"))
		g.Values = append(g.Values, float64(t.Grants))
		rf.Values = append(rf.Values, float64(t.Refusals))
		wd.Values = append(wd.Values, float64(t.Withdrawals))
	}
	d.Chart.Series = []series{g, rf, wd}
	return d, true
}

func scopeConsent(d consentData) string {
	share := "no recipient has a recorded decision yet"
	if d.HasShare {
		share = strconv.FormatFloat(d.Share*100, 'f', 1, 64) + "% (" + of(d.Granted, d.Known, "recipient") +
			" with a recorded decision) currently consent"
	}
	return "Consent decisions to open tracking recorded between " + d.From.Format("2006-01-02") + " and " +
		d.To.Format("2006-01-02") + " (UTC), by where they were made; " + share +
		". Recipients who never answered are not counted and are never tracked. Erased recipients count as withdrawn."
}

func (s *server) consentStats(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadConsent(w, r)
	if !ok {
		return
	}
	s.render(w, r, 0, "consent", view{Title: "Consent", Scope: scopeConsent(d), Data: d})
}

func (s *server) consentCSV(w http.ResponseWriter, r *http.Request) {
	d, ok := s.loadConsent(w, r)
	if !ok {
		return
	}
	cw := startCSV(w, "consent-decisions.csv")
	_ = cw.Write([]string{"day", "source", "grants", "refusals", "withdrawals"})
	for _, row := range d.Rows {
		_ = cw.Write([]string{row.Day.UTC().Format("2006-01-02"), csvSafe(string(row.Source)), i64(row.Grants), i64(row.Refusals), i64(row.Withdrawals)})
	}
	cw.Flush()
}
