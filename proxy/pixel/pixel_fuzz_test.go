package pixel

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/boltstore"
)

// FuzzPixelRequest: whatever path and user agent arrive, the pixel answers
// the same 200 GIF with the same headers and never panics.
func FuzzPixelRequest(f *testing.F) {
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(f.TempDir(), "p.db"), boltstore.Options{StoreOptions: consent.StoreOptions{Audit: kr.AuditChain()}})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	h, err := NewPixelHandler(PixelConfig{Store: st, Keyring: kr})
	if err != nil {
		f.Fatal(err)
	}
	defer closeHandlers(f, h) // before the store closes
	k, _ := kr.RecipientKey("a@example.com")
	good, _ := kr.Seal(consent.Token{Purpose: consent.PurposeOpen, Key: k, Campaign: "c", URL: "https://esp.example/o.gif"})
	f.Add("/o/"+good+".gif", "Mozilla/5.0")
	f.Add("/o/.gif", "")
	f.Add("/o/"+good[:20]+".gif", "GoogleImageProxy")
	f.Add("/o/a/b/c.gif.gif", "\x00\xff")
	ref := httptest.NewRecorder()
	h.ServeHTTP(ref, &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/o/x.gif"}, Header: http.Header{}, RemoteAddr: "192.0.2.1:1"})
	f.Fuzz(func(t *testing.T, path, ua string) {
		rec := httptest.NewRecorder()
		req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}, Header: http.Header{"User-Agent": {ua}}, RemoteAddr: ua}
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), transparentGIF) || !equalHeaders(rec.Header(), ref.Header()) {
			t.Fatalf("path %q: %d %v", path, rec.Code, rec.Header())
		}
	})
}
