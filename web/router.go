// Package web is pixelgate's HTTP side: one chi router that serves the pixel
// endpoint (handed in by the caller), the consent pages, the admin dashboard,
// the JSON API, metrics and health checks.
package web

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/pixelgate/pixelgate/internal/urlpath"
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
	// upstream reachable or outbox writable, room on disk); nil means
	// always ready. Its error may name internal addresses: /readyz never
	// shows it, the caller logs it and the dashboard shows it to admins.
	Ready func(ctx context.Context) error
	// HSTS is set when --public-url is https: every response then tells
	// browsers to use https only for this host.
	HSTS bool
}

// hsts lasts one year: a recipient who opened one consent page stays on
// https until long after the next campaign. No
// includeSubDomains: pixelgate answers for its own host only, and the
// operator's other subdomains may still serve plain http (RFC 6797 §6.1.2).
// Behind a proxy that terminates TLS pixelgate sees plain http, so the
// header goes on every response; browsers ignore it on a plain-http one
// (RFC 6797 §8.1).
const hsts = "max-age=31536000"

// NewRouter builds the HTTP handler of `pixelgate serve`.
//
// There is deliberately no request-logging middleware on /o/ and /l/: the
// pixel and link routes must leave no trace of IP address, user agent or
// token anywhere (R8). Per-route logging, where wanted, belongs to the
// mounted handler.
func NewRouter(h Handlers) http.Handler {
	r := chi.NewRouter()
	if h.HSTS {
		r.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				w.Header().Set("Strict-Transport-Security", hsts)
				next.ServeHTTP(w, req)
			})
		})
	}
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Get("/readyz", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// The public listener says only whether: which check failed names
		// internal hosts (Redis, the upstream) and paths.
		if h.Ready != nil && h.Ready(req.Context()) != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
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
	mount(urlpath.Subtree(urlpath.PixelPrefix), h.Pixel)
	mount(urlpath.Subtree(urlpath.LinkPrefix), h.Link)
	mount(urlpath.Subtree(urlpath.ConsentPrefix), h.Consent)
	mount("/admin", h.Admin)
	mount("/admin/*", h.Admin)
	mount("/api/v1/*", h.API)
	mount("/static/*", h.Static)
	mount("/metrics", h.Metrics)
	return r
}
