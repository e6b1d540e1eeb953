// Package web is pixelgate's HTTP side: one chi router that serves the pixel
// endpoint (handed in by the caller), the consent pages, the admin dashboard,
// the JSON API, metrics and health checks (DESIGN §7).
package web

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/pixelgate/pixelgate/web/static"
)

// Handlers are the parts mounted on the router. A nil handler is not mounted
// (404), so a deployment can leave parts out.
type Handlers struct {
	// Pixel serves GET/HEAD /o/{token}.gif (package proxy).
	Pixel http.Handler
	// Link serves GET /l/{token}, pixelgate's click redirect (R12).
	Link http.Handler
	// Consent serves /c/{token} and everything below it.
	Consent http.Handler
	// Admin serves /admin/...; API serves /api/v1/...
	Admin http.Handler
	API   http.Handler
	// Home serves "/": what this server is, with links to the dashboard
	// login and the privacy notice.
	Home http.Handler
	// Static serves /static/... (embedded CSS, shared by the pages).
	Static  http.Handler
	Metrics http.Handler
	// Ready reports whether the process can do its job (store reachable,
	// upstream reachable or outbox writable); nil means always ready.
	Ready func(ctx context.Context) error
}

// NewRouter builds the HTTP handler of `pixelgate serve`.
//
// There is deliberately no request-logging middleware on /o/ and /l/: the
// pixel and link routes must leave no trace of IP address, user agent or
// token anywhere (R8). Per-route logging, where wanted, belongs to the
// mounted handler.
func NewRouter(h Handlers) http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Get("/readyz", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if h.Ready != nil {
			if err := h.Ready(req.Context()); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	r.Get("/favicon.ico", static.Favicon().ServeHTTP)
	mount := func(pattern string, hh http.Handler) {
		if hh != nil {
			r.Handle(pattern, hh)
		}
	}
	mount("/", h.Home)
	mount("/o/*", h.Pixel)
	mount("/l/*", h.Link)
	mount("/c/*", h.Consent)
	mount("/admin", h.Admin)
	mount("/admin/*", h.Admin)
	mount("/api/v1/*", h.API)
	mount("/static/*", h.Static)
	mount("/metrics", h.Metrics)
	return r
}
