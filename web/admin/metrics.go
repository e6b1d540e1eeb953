package admin

import "github.com/prometheus/client_golang/prometheus"

// metrics of the dashboard. Labels are outcomes, never accounts or
// addresses.
type metrics struct {
	logins *prometheus.CounterVec
	denied *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pixelgate_dashboard_logins_total",
			Help: "Dashboard login attempts by result: ok, failed, throttled, busy (no room to check the password now)."}, []string{"result"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pixelgate_dashboard_denied_total",
			Help: "Dashboard requests refused, by reason: role (permission), cross-origin (CSRF)."}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.logins, m.denied)
	}
	return m
}
