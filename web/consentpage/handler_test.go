package consentpage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/consent"
)

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	// Redirects are never followed: the tests check where each one points.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func (e *env) get(t *testing.T, path string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, req)
}

func (e *env) post(t *testing.T, path string, form url.Values, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, req)
}

var buttonRE = regexp.MustCompile(`<button type="submit" name="decision" value="(\w+)">`)

// buttons lists the decisions the page's form offers, in order.
func buttons(body string) []string {
	var out []string
	for _, m := range buttonRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// followDecision checks that a decision was answered by a redirect to the
// page of the same token (POST-redirect-GET, so a reload never posts
// again) confirming state, and GETs that page.
func (e *env) followDecision(t *testing.T, r response, tok, state string) response {
	t.Helper()
	if r.status != http.StatusSeeOther {
		t.Fatalf("decision answered %d, want 303 See Other to the page:\n%s", r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	page := (&url.URL{Path: "/c/" + tok}).ResolveReference(loc)
	if page.Path != "/c/"+tok || page.Query().Get("done") != state {
		t.Fatalf("decision redirects to %q, want /c/TOKEN?done=%s", r.header.Get("Location"), state)
	}
	if strings.Contains(loc.RawQuery, "@") || strings.Contains(loc.RawQuery, "***") {
		t.Fatalf("redirect URL %q carries personal data", loc)
	}
	got := e.get(t, page.RequestURI())
	if got.status != http.StatusOK {
		t.Fatalf("GET after the decision: %d", got.status)
	}
	return got
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

// formOf returns the hidden fields of the page's form.
func formOf(t *testing.T, body string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], m[2])
	}
	if v.Get("version") == "" || v.Get("hash") == "" {
		t.Fatalf("page has no version/hash fields:\n%s", body)
	}
	return v
}

func checkHeaders(t *testing.T, r response) {
	t.Helper()
	csp := r.header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "style-src 'self'", "form-action 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if r.header.Get("Set-Cookie") != "" {
		t.Error("consent page sets a cookie")
	}
	if r.header.Get("Referrer-Policy") != "no-referrer" {
		t.Error("Referrer-Policy is not no-referrer: the token could leak to linked sites")
	}
	if strings.Contains(r.body, "<script") {
		t.Error("page contains a script")
	}
}

func TestConsentPage(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			e := newEnv(t, sk.open)
			tok, k := e.pageToken(t, "jean.dupont@example.fr")
			texts, _ := DefaultTexts()

			t.Run("GET shows the state and changes nothing", func(t *testing.T) {
				r := e.get(t, "/c/"+tok)
				if r.status != 200 {
					t.Fatalf("status %d", r.status)
				}
				checkHeaders(t, r)
				if got := buttons(r.body); strings.Join(got, ",") != "allow,refuse" {
					t.Errorf("before any decision the page offers %v, want allow,refuse", got)
				}
				for _, want := range []string{`<html lang="en">`, "j***@e***.fr", `data-state="none"`, "Allow open tracking", "Refuse open tracking",
					"dpo@example.com", "13 months", "Nothing else changes", `<main id="main">`, `href="?lang=fr"`} {
					if !strings.Contains(r.body, want) {
						t.Errorf("page lacks %q", want)
					}
				}
				// The hash in the form is the SHA-256 of the information
				// text exactly as rendered in this page.
				rt, _ := texts.text(texts.Current(), "en")
				if !strings.Contains(r.body, string(rt.head)) || !strings.Contains(r.body, string(rt.info)) {
					t.Fatal("page does not contain the rendered information text verbatim")
				}
				sum := sha256.Sum256([]byte(string(rt.head) + string(rt.info)))
				if got := formOf(t, r.body).Get("hash"); got != hex.EncodeToString(sum[:]) {
					t.Errorf("form hash %s is not the hash of the shown text", got)
				}
				// The form posts back to the page itself, relative so any
				// public URL prefix works, also from the one-click URL.
				if !strings.Contains(r.body, `action="`+tok+`"`) {
					t.Error("form action is not the page itself")
				}
				if w := e.get(t, "/c/"+tok+"/withdraw"); w.status != 200 || !strings.Contains(w.body, `action="../`+tok+`"`) {
					t.Errorf("GET of the one-click URL: status %d, want the page with a form posting to ../TOKEN", w.status)
				}
				// Prefetchers and scanners: GET, HEAD, the one-click URL by
				// GET, with and without query, many times.
				for range 3 {
					e.get(t, "/c/"+tok+"?lang=fr")
					e.get(t, "/c/"+tok+"/withdraw")
					req, _ := http.NewRequestWithContext(t.Context(), http.MethodHead, e.srv.URL+"/c/"+tok, nil)
					do(t, req)
				}
				if st := e.state(t, k); st != consent.None {
					t.Fatalf("state after GETs = %v, want none", st)
				}
				h, err := e.st.History(t.Context(), k)
				if err != nil || len(h) != 0 {
					t.Fatalf("history after GETs = %v, %v; want empty", h, err)
				}
			})

			t.Run("Allow records the decision with evidence", func(t *testing.T) {
				form := formOf(t, e.get(t, "/c/"+tok).body)
				form.Set("decision", "allow")
				r := e.post(t, "/c/"+tok, form, "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin")
				checkHeaders(t, r)
				r = e.followDecision(t, r, tok, "granted")
				checkHeaders(t, r)
				if !strings.Contains(r.body, "open tracking is allowed") || !strings.Contains(r.body, "Withdraw my consent") {
					t.Error("confirmation page does not confirm the grant or offer withdrawal")
				}
				if got := buttons(r.body); strings.Join(got, ",") != "withdraw" {
					t.Errorf("once allowed the page offers %v, want only withdraw", got)
				}
				if st := e.state(t, k); st != consent.Granted {
					t.Fatalf("state = %v, want granted", st)
				}
				h, _ := e.st.History(t.Context(), k)
				if len(h) != 1 {
					t.Fatalf("history has %d events, want 1", len(h))
				}
				ev := h[0]
				want, _ := texts.Hash(texts.Current(), "en")
				if ev.Source != consent.SourceConsentPage || ev.PolicyVersion != texts.Current() || ev.TextHash != want {
					t.Errorf("evidence = %+v, want consent-page, version %s, hash %s", ev.Evidence, texts.Current(), want)
				}
				if r := e.get(t, "/c/"+tok); !strings.Contains(r.body, `data-state="granted"`) {
					t.Error("page after reload does not show granted")
				}
			})

			t.Run("forged evidence fields record nothing", func(t *testing.T) {
				good := formOf(t, e.get(t, "/c/"+tok).body)
				frHash, _ := texts.Hash(texts.Current(), "fr")
				for name, mutate := range map[string]func(url.Values){
					"unknown version":    func(v url.Values) { v.Set("version", "1999-01-01") },
					"wrong hash":         func(v url.Values) { v.Set("hash", strings.Repeat("0", 64)) },
					"other language":     func(v url.Values) { v.Set("hash", frHash) },
					"no decision":        func(v url.Values) { v.Del("decision") },
					"unknown decision":   func(v url.Values) { v.Set("decision", "maybe") },
					"missing hash field": func(v url.Values) { v.Del("hash") },
				} {
					v := url.Values{}
					for k, vs := range good {
						v[k] = vs
					}
					v.Set("decision", "withdraw")
					mutate(v)
					r := e.post(t, "/c/"+tok, v)
					if r.status != http.StatusBadRequest {
						t.Errorf("%s: status %d, want 400", name, r.status)
					}
					if st := e.state(t, k); st != consent.Granted {
						t.Fatalf("%s: state changed to %v", name, st)
					}
				}
			})

			t.Run("cross-origin POST is refused", func(t *testing.T) {
				form := formOf(t, e.get(t, "/c/"+tok).body)
				form.Set("decision", "withdraw")
				r := e.post(t, "/c/"+tok, form, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
				if r.status != http.StatusForbidden {
					t.Fatalf("status %d, want 403", r.status)
				}
				if st := e.state(t, k); st != consent.Granted {
					t.Fatalf("cross-origin POST changed state to %v", st)
				}
			})

			t.Run("Withdraw from the page", func(t *testing.T) {
				form := formOf(t, e.get(t, "/c/"+tok).body)
				form.Set("decision", "withdraw")
				r := e.followDecision(t, e.post(t, "/c/"+tok, form, "Sec-Fetch-Site", "same-origin"), tok, "withdrawn")
				if !strings.Contains(r.body, `data-state="withdrawn"`) || !strings.Contains(r.body, "Your consent is withdrawn") {
					t.Fatalf("withdrawn not shown or not confirmed:\n%s", r.body)
				}
				if got := buttons(r.body); strings.Join(got, ",") != "allow" {
					t.Errorf("once withdrawn the page offers %v, want only allow", got)
				}
				// A plain visit shows the state without the confirmation,
				// and a ?done= that is not the state in force confirms
				// nothing.
				for _, q := range []string{"", "?done=granted", "?done=refused", "?done=bogus"} {
					if r := e.get(t, "/c/"+tok+q); r.status != 200 || strings.Contains(r.body, `class="status confirm"`) {
						t.Errorf("GET %q: status %d, shows a confirmation", q, r.status)
					}
				}
				if st := e.state(t, k); st != consent.Withdrawn {
					t.Fatalf("state = %v, want withdrawn", st)
				}
			})

			t.Run("Refuse in French", func(t *testing.T) {
				tok2, k2 := e.pageToken(t, "marie@exemple.fr")
				r := e.get(t, "/c/"+tok2, "Accept-Language", "fr-FR,fr;q=0.9,en;q=0.5")
				if !strings.Contains(r.body, `<html lang="fr">`) || !strings.Contains(r.body, "Refuser la mesure d’ouverture") {
					t.Fatal("Accept-Language fr did not give the French page")
				}
				form := formOf(t, r.body)
				form.Set("decision", "refuse")
				r = e.followDecision(t, e.post(t, "/c/"+tok2, form, "Sec-Fetch-Site", "same-origin"), tok2, "refused")
				if !strings.Contains(r.body, `<html lang="fr">`) || !strings.Contains(r.body, "la mesure d’ouverture est refusée") {
					t.Fatalf("French confirmation missing:\n%s", r.body)
				}
				if got := buttons(r.body); strings.Join(got, ",") != "allow" {
					t.Errorf("once refused the page offers %v, want only allow", got)
				}
				h, _ := e.st.History(t.Context(), k2)
				frHash, _ := texts.Hash(texts.Current(), "fr")
				if len(h) != 1 || h[0].State != consent.Refused || h[0].TextHash != frHash {
					t.Fatalf("history = %+v, want one refusal with the French text hash", h)
				}
				if r := e.get(t, "/c/"+tok2+"?lang=en", "Accept-Language", "fr"); !strings.Contains(r.body, `<html lang="en">`) {
					t.Error("?lang=en did not override Accept-Language")
				}
			})

			t.Run("one-click withdrawal", func(t *testing.T) {
				tok3, k3 := e.pageToken(t, "paul@example.org")
				if _, err := e.st.Grant(t.Context(), k3, consent.Evidence{Source: consent.SourceAPI, Actor: "test"}); err != nil {
					t.Fatal(err)
				}
				// A mail client posts from nowhere: cross-site, no cookie.
				r := e.post(t, "/c/"+tok3+"/withdraw", url.Values{"List-Unsubscribe": {"One-Click"}}, "Sec-Fetch-Site", "cross-site", "Origin", "null")
				if r.status != 200 || r.header.Get("Location") != "" || r.header.Get("Set-Cookie") != "" {
					t.Fatalf("status %d Location %q: want 200 and no redirect", r.status, r.header.Get("Location"))
				}
				if st := e.state(t, k3); st != consent.Withdrawn {
					t.Fatalf("state = %v, want withdrawn", st)
				}
				h, _ := e.st.History(t.Context(), k3)
				if last := h[len(h)-1]; last.Source != consent.SourceOneClick {
					t.Errorf("source %q, want one-click", last.Source)
				}

				// multipart/form-data is allowed by RFC 8058 too.
				tok4, k4 := e.pageToken(t, "zoe@example.org")
				var body bytes.Buffer
				mw := multipart.NewWriter(&body)
				_ = mw.WriteField("List-Unsubscribe", "One-Click")
				mw.Close()
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+"/c/"+tok4+"/withdraw", &body)
				req.Header.Set("Content-Type", mw.FormDataContentType())
				if r := do(t, req); r.status != 200 || e.state(t, k4) != consent.Withdrawn {
					t.Fatalf("multipart one-click: status %d state %v", r.status, e.state(t, k4))
				}

				// Without the one-click body nothing happens.
				tok5, k5 := e.pageToken(t, "eve@example.org")
				if r := e.post(t, "/c/"+tok5+"/withdraw", url.Values{"x": {"y"}}); r.status != 400 || e.state(t, k5) != consent.None {
					t.Fatalf("empty one-click: status %d state %v", r.status, e.state(t, k5))
				}
			})

			t.Run("invalid tokens reveal nothing", func(t *testing.T) {
				openTok, err := e.kr.Seal(consent.Token{Purpose: consent.PurposeOpen, Key: k, Campaign: "c"})
				if err != nil {
					t.Fatal(err)
				}
				tampered := []byte(tok)
				tampered[len(tampered)/2] ^= 1
				if tampered[len(tampered)/2] == '-' || tampered[len(tampered)/2] == '_' {
					tampered[len(tampered)/2] = 'A'
				}
				for _, bad := range []string{string(tampered), tok[:len(tok)-4], openTok, "", "x", "%00", strings.Repeat("A", 5000)} {
					r := e.get(t, "/c/"+url.PathEscape(bad))
					if r.status != 404 {
						t.Errorf("token %.20q: status %d, want 404", bad, r.status)
					}
					checkHeaders(t, r)
					if strings.Contains(r.body, "***") || strings.Contains(r.body, "<form") {
						t.Errorf("invalid-token page shows an address or a form")
					}
					if !strings.Contains(r.body, "contact@example.com") {
						t.Error("invalid-token page does not say how to reach the controller")
					}
					pr := e.post(t, "/c/"+url.PathEscape(bad)+"/withdraw", url.Values{"List-Unsubscribe": {"One-Click"}})
					if pr.status != 404 {
						t.Errorf("one-click with bad token: status %d, want 404", pr.status)
					}
				}
				if st := e.state(t, k); st != consent.Withdrawn {
					t.Fatalf("state changed to %v by invalid tokens", st)
				}
			})

			if strings.Contains(e.logs.String(), tok) {
				t.Error("a token appears in the logs")
			}
		})
	}
}

func TestStoreUnavailable(t *testing.T) {
	e := newEnv(t, storeKinds[0].open)
	tok, k := e.pageToken(t, "anna@example.com")
	form := formOf(t, e.get(t, "/c/"+tok).body)
	e.st.Close()
	r := e.get(t, "/c/"+tok)
	if r.status != http.StatusServiceUnavailable || strings.Contains(r.body, "data-state") {
		t.Fatalf("GET with store down: status %d; must not show a state", r.status)
	}
	form.Set("decision", "allow")
	if r := e.post(t, "/c/"+tok, form); r.status != http.StatusServiceUnavailable {
		t.Fatalf("POST with store down: status %d", r.status)
	}
	if strings.Contains(e.logs.String(), tok) || strings.Contains(e.logs.String(), k.String()) {
		t.Error("logs hold the token or the recipient key")
	}
	if !strings.Contains(e.logs.String(), "store call failed") {
		t.Error("store failure was not logged")
	}
}
