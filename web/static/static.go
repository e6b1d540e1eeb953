// Package static serves the embedded stylesheets shared by pixelgate's pages
// (consent pages, admin dashboard) under /static/. Everything is embedded so
// pages never load a third-party asset and the Content-Security-Policy can
// stay at style-src 'self' (R8: no request leaves the recipient's browser
// for anyone but the controller).
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed files
var embedded embed.FS

// Prefix is where the router mounts Handler (web.Handlers.Static).
const Prefix = "/static/"

// dir is the embedded directory; request paths are resolved inside it.
const dir = "files/"

// Handler serves the embedded files below Prefix. Responses may be cached:
// URL adds a content hash to every link, so a changed file gets a new URL.
func Handler() http.Handler {
	fsrv := http.FileServerFS(embedded)
	return http.StripPrefix(Prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Directory listings reveal nothing secret but are not part of
		// the interface; only files are served.
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "public, max-age=86400")
		h.Set("Content-Security-Policy", "default-src 'none'")
		r2 := r.Clone(r.Context())
		r2.URL.Path = dir + strings.TrimPrefix(r.URL.Path, "/")
		r2.URL.RawPath = ""
		fsrv.ServeHTTP(w, r2)
	}))
}

// URL is the path of an embedded file with a short content hash as query,
// e.g. "/static/base.css?v=1a2b3c4d5e6f", so caches pick up new versions.
// An unknown name returns the bare path (the request will 404, visibly).
func URL(name string) string {
	b, err := fs.ReadFile(embedded, dir+name)
	if err != nil {
		return Prefix + name
	}
	sum := sha256.Sum256(b)
	return Prefix + name + "?v=" + hex.EncodeToString(sum[:6])
}

// Favicon serves the embedded icon at /favicon.ico, where browsers ask for
// it unprompted, as Handler serves favicon.svg (image/svg+xml, which
// browsers take at that path too: one small vector for every size).
func Favicon() http.Handler {
	files := Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = Prefix+"favicon.svg", ""
		files.ServeHTTP(w, r2)
	})
}
