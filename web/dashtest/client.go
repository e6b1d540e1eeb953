package dashtest

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/web/auth"
)

// Client is one browser-like HTTP client with its own cookies. It does not
// follow redirects, so tests see exactly what the server answered.
type Client struct {
	t    testing.TB
	env  *Env
	http *http.Client
}

// Response is a read response.
type Response struct {
	Status   int
	Body     string
	Header   http.Header
	Location string
}

// NewClient returns a client with an empty cookie jar.
func (e *Env) NewClient(t testing.TB) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{t: t, env: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// Do sends req and reads the whole answer.
func (c *Client) Do(req *http.Request) Response {
	c.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return Response{Status: res.StatusCode, Body: string(b), Header: res.Header, Location: res.Header.Get("Location")}
}

// Get fetches path.
func (c *Client) Get(path string) Response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.env.URL+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.Do(req)
}

// Post submits a form as a same-origin browser would (Origin and
// Sec-Fetch-Site headers set).
func (c *Client) Post(path string, form url.Values) Response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.env.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.env.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.Do(req)
}

// Login posts the login form.
func (c *Client) Login(name, password string) Response {
	c.t.Helper()
	return c.Post("/admin/login", url.Values{"name": {name}, "password": {password}})
}

var linkRE = regexp.MustCompile(`/admin/setup/([A-Z2-7]+)`)

// SetupToken extracts the one-time link token shown in a page.
func SetupToken(t testing.TB, body string) string {
	t.Helper()
	m := linkRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no one-time link in page:\n%s", body)
	}
	return m[1]
}

// Passwords that pass the policy, for tests.
const (
	AdminPassword   = "Correct-Pony-Battery-42"
	AnalystPassword = "Analyst#Quartz7River"
	DPOPassword     = "Dpo!Harbour-Lantern-93"
)

// FirstAdmin redeems the first-run link through the pages and returns a
// client logged in as admin "root-admin".
func (e *Env) FirstAdmin(t testing.TB) *Client {
	t.Helper()
	tok, err := e.Users.FirstRunLink(context.Background())
	if err != nil || tok == "" {
		t.Fatalf("first-run link: %q %v", tok, err)
	}
	c := e.NewClient(t)
	if r := c.Get("/admin/setup/" + tok); r.Status != http.StatusOK || !strings.Contains(r.Body, "first administrator") {
		t.Fatalf("setup page: %d %s", r.Status, r.Body)
	}
	r := c.Post("/admin/setup/"+tok, url.Values{"name": {"root-admin"}, "password": {AdminPassword}, "password2": {AdminPassword}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("create first admin: %d %s", r.Status, r.Body)
	}
	if r := c.Login("root-admin", AdminPassword); r.Status != http.StatusSeeOther {
		t.Fatalf("admin login: %d %s", r.Status, r.Body)
	}
	return c
}

// AddUser has admin create an account through the accounts page, sets its
// password through the one-time link, and returns a logged-in client.
func (e *Env) AddUser(t testing.TB, admin *Client, name string, role auth.Role, password string) *Client {
	t.Helper()
	r := admin.Post("/admin/accounts", url.Values{"name": {name}, "role": {string(role)}})
	if r.Status != http.StatusOK {
		t.Fatalf("add account %s: %d %s", name, r.Status, r.Body)
	}
	tok := SetupToken(t, r.Body)
	c := e.NewClient(t)
	r = c.Post("/admin/setup/"+tok, url.Values{"name": {name}, "password": {password}, "password2": {password}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("set password of %s: %d %s", name, r.Status, r.Body)
	}
	if r := c.Login(name, password); r.Status != http.StatusSeeOther {
		t.Fatalf("login %s: %d %s", name, r.Status, r.Body)
	}
	return c
}

// Actions returns the audit log's actions, oldest first, read through the store.
func (e *Env) Actions(t testing.TB) []string {
	t.Helper()
	es, err := e.Store.ReadAudit(context.Background(), auditAll)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(es))
	for i, x := range es {
		out[i] = x.Actor + " " + x.Action + " " + x.Result
	}
	return out
}

// On returns a client with the same cookies that talks to another replica.
func (c *Client) On(e *Env) *Client {
	return &Client{t: c.t, env: e, http: c.http}
}
