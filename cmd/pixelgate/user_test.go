package main

import (
	"context"
	"crypto/rand"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/web/auth"
)

// runUser runs `pixelgate user ...` in-process as OS user "tester".
func runUser(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out, errb strings.Builder
	env := &environ{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	args = append(args[:1:1], append([]string{"--data-dir", dir, "--public-url", "https://dash.example"}, args[1:]...)...)
	err := userCommand(func() (string, error) { return "tester", nil })(context.Background(), env, args)
	return out.String(), err
}

var linkRE = regexp.MustCompile(`https://dash\.example/admin/setup/([A-Z2-7]+)`)

func TestUserCommand(t *testing.T) {
	dir := t.TempDir()
	seedStore(t, dir)
	out, err := runUser(t, dir, "add", "paul", "--role", "dpo")
	if err != nil {
		t.Fatal(err)
	}
	m := linkRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("add printed no link: %q", out)
	}
	if _, err := runUser(t, dir, "add", "paul"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second add: %v", err)
	}
	if _, err := runUser(t, dir, "add", "--role", "boss", "eve"); !errors.Is(err, errUsage) {
		t.Errorf("unknown role: %v", err)
	}
	if _, err := runUser(t, dir, "add", "eve@example.com"); !errors.Is(err, errUsage) {
		t.Errorf("email address as account name: %v", err)
	}
	if out, err := runUser(t, dir, "add", "--role", "analyst", "marie"); err != nil || !linkRE.MatchString(out) {
		t.Errorf("flags before the name: %v %q", err, out)
	}
	out, err = runUser(t, dir, "list")
	if err != nil || !regexp.MustCompile(`paul\s+dpo\s+awaiting password`).MatchString(out) {
		t.Errorf("list: %v\n%s", err, out)
	}

	// The link sets the password; reset makes it stop working and prints
	// a new link.
	h := openTestStore(t, dir)
	users, err := auth.New(h.store.SharedKV(), auth.Config{ThrottleKey: h.keyring.ThrottleKey()}, time.Now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := users.RedeemLink(ctx, m[1], "paul", "Dpo!Harbour-Lantern-93"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := users.Login(ctx, auth.LoginRequest{Name: "paul", Password: "Dpo!Harbour-Lantern-93", Addr: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	_ = h.close()
	out, err = runUser(t, dir, "reset", "paul")
	if err != nil || !linkRE.MatchString(out) || linkRE.FindStringSubmatch(out)[1] == m[1] {
		t.Fatalf("reset: %v %q", err, out)
	}
	if _, err := runUser(t, dir, "disable", "paul"); err != nil {
		t.Fatal(err)
	}
	if _, err := runUser(t, dir, "disable", "nobody"); err == nil {
		t.Error("disabling an unknown account succeeded")
	}
	h = openTestStore(t, dir)
	defer h.close()
	users, _ = auth.New(h.store.SharedKV(), auth.Config{ThrottleKey: h.keyring.ThrottleKey()}, time.Now, rand.Reader)
	if _, _, err := users.Login(ctx, auth.LoginRequest{Name: "paul", Password: "Dpo!Harbour-Lantern-93", Addr: "127.0.0.1"}); err == nil {
		t.Error("old password works after reset")
	}
	got, err := h.store.ReadAudit(ctx, consent.AuditQuery{Actor: "cli:tester", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range got {
		actions = append(actions, e.Action+" "+e.Target+" "+e.Result)
	}
	joined := strings.Join(actions, "\n")
	for _, want := range []string{"account.add paul ok", "account.add paul failed: create account paul: an account with that name already exists",
		"account.reset paul ok", "account.disable paul ok", "account.disable nobody failed"} {
		if !strings.Contains(joined, want) {
			t.Errorf("audit lacks %q:\n%s", want, joined)
		}
	}
}

func openTestStore(t *testing.T, dir string) *storeHandle {
	t.Helper()
	fs := newFlagSet(&environ{getenv: func(string) string { return "" }, stderr: &strings.Builder{}}, "x", "x")
	sf := addStoreFlags(fs)
	if err := fs.parse([]string{"--data-dir", dir}); err != nil {
		t.Fatal(err)
	}
	h, err := openStore(context.Background(), sf)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
