package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestQuickStart walks the README's quick start with the real binary and
// zero configuration (only the ports are free ones instead of 2525/8080, and
// the links, derived from the HTTP address, point at that free port):
// send with swaks, see the rewritten message in the outbox, allow tracking
// on the consent page, send again, see pixelgate's pixel in place of the
// ESP's, fetch it, create the first admin from the printed one-time link and
// see the open on the dashboard's campaigns page.
func TestQuickStart(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks not installed (apt-get install swaks): the quick start sends with it")
	}
	dir := t.TempDir()
	r := startReplicaIn(t, dir, "quickstart")
	sendSwaks := func() {
		t.Helper()
		cmd := exec.Command(swaks, "--server", r.smtpAddr, "--from", "news@shop.example", "--to", "alice@example.org",
			"--header", "X-Pixelgate-Campaign: spring-sale", "--header", "Content-Type: text/html; charset=utf-8",
			"--body", `<p>Spring sale!</p><img src="https://u1.ct.sendgrid.net/wf/open?upn=abc123" width="1" height="1">`)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("swaks: %v\n%s", err, out)
		}
	}
	newest := func() string {
		t.Helper()
		files, _ := filepath.Glob(filepath.Join(dir, "data", "outbox", "*.eml"))
		sort.Strings(files) // names start with the time
		if len(files) == 0 {
			t.Fatal("outbox empty")
		}
		b, err := os.ReadFile(files[len(files)-1])
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	base := regexp.QuoteMeta("http://" + r.httpAddr)
	sendSwaks()
	first := newest()
	consentLink := regexp.MustCompile(base + `/c/[A-Za-z0-9_-]+`).FindString(first)
	if strings.Contains(first, "sendgrid.net") || consentLink == "" || !strings.Contains(first, "Manage open tracking") {
		t.Fatalf("first message: want the ESP pixel gone and a consent link:\n%s", first)
	}
	decide(t, r, consentLink, "allow")

	sendSwaks()
	second := newest()
	pixel := regexp.MustCompile(base + `/o/[A-Za-z0-9_-]+\.gif`).FindString(second)
	if pixel == "" || strings.Contains(second, "sendgrid.net") {
		t.Fatalf("second message: want pixelgate's pixel in place of the ESP's:\n%s", second)
	}
	resp, err := http.Get(r.at(t, pixel)) // as curl does in the quick start
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/gif" {
		t.Fatalf("pixel: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}

	// The dashboard: the one-time link serve printed creates the admin.
	setup := r.waitStdout(t, regexp.MustCompile(base+`/admin/setup/[A-Z0-9]+`))
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	const password = "Correct-Horse-Battery-42!"
	post := func(link string, form url.Values) string {
		t.Helper()
		resp, err := browser.PostForm(r.at(t, link), form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %s\n%s", link, resp.Status, b)
		}
		return string(b)
	}
	post(setup, url.Values{"name": {"admin"}, "password": {password}, "password2": {password}})
	page := post("http://"+r.httpAddr+"/admin/login", url.Values{"name": {"admin"}, "password": {password}, "next": {"/admin/campaigns"}})
	text := strings.Join(strings.Fields(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(page, " ")), " ")
	// Campaign, first and last send, sends, consented share, unique opens.
	row := regexp.MustCompile(`spring-sale \S+ \S+ UTC \S+ \S+ UTC 2 50\.0 % \(1 of 2 emails\) 1 100\.0 %`)
	if !row.MatchString(text) {
		t.Errorf("campaigns page does not show spring-sale with 2 sends, 50%% consented, 1 unique open:\n%s", text)
	}
}
