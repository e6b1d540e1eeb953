package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/consent"
	"github.com/pixelgate/pixelgate/consent/redisstore/redistest"
	"github.com/pixelgate/pixelgate/internal/testsupport"
)

// These tests run the built pixelgate binary in a working directory of
// their own, as an operator does: what a command creates in "." (./data),
// its exit code and its two streams are what the operator sees.

var built struct {
	once      sync.Once
	dir, path string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// pixelgateBinary builds the command once per test run.
func pixelgateBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "pixelgate-cli-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "pixelgate")
		out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// runBin runs pixelgate in dir with only the environment given.
func runBin(t *testing.T, dir string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	// A command that should have been refused may start serving instead
	// (the bug this file guards against): it must not hang the test.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pixelgateBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	}
	if err != nil {
		t.Fatalf("run pixelgate %v: %v", args, err)
	}
	return 0, out.String(), errb.String()
}

// entries lists what is in dir, to see that a command created nothing.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

const alice = "alice@example.org"

// TestFlagsAfterArguments: every command takes its flags before or after
// its arguments; stray arguments are refused with the count and the words.
func TestFlagsAfterArguments(t *testing.T) {
	wd := shortTempDir(t)
	data := filepath.Join(wd, "deploy")
	seedStore(t, data)

	ok := func(args ...string) string {
		t.Helper()
		code, out, errs := runBin(t, wd, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errs)
		}
		return out
	}
	ok("consent", "grant", alice, "--data-dir", data, "--policy-version", "v1")
	if out := ok("consent", "show", alice, "--data-dir", data); !strings.Contains(out, "open tracking: granted") {
		t.Errorf("show after a grant with the flags last:\n%s", out)
	}
	ok("consent", "--data-dir", data, "withdraw", alice) // flags before the action too
	if out := ok("dsar", "export", alice, "--data-dir", data); !strings.Contains(out, `"withdrawn"`) {
		t.Errorf("dsar export with the flags last:\n%s", out)
	}
	ok("smtp-user", "add", "relay1", "--data-dir", data)
	if out := ok("smtp-user", "list", "--data-dir", data); strings.TrimSpace(out) != "relay1" {
		t.Errorf("smtp-user list: %q", out)
	}
	ok("user", "add", "carl", "--data-dir", data, "--role", "dpo")
	ok("keys", "list", "--data-dir", data)
	// "--" ends the flags: what follows is an argument even if it looks like one.
	ok("consent", "show", "--data-dir", data, "--", alice)
	if code, _, errs := runBin(t, wd, nil, "consent", "show", "--", "--data-dir", data, alice); code != 2 || !strings.Contains(errs, "takes one address; got 3 arguments") {
		t.Errorf("flags after --: exit %d, %s; want them taken as arguments", code, errs)
	}
	// The environment and the config file still come after the command line.
	conf := filepath.Join(wd, "pg.conf")
	if err := os.WriteFile(conf, []byte("data-dir = /nonexistent\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runBin(t, wd, []string{"PIXELGATE_CONFIG=" + conf}, "consent", "show", alice, "--data-dir", data); code != 0 || !strings.Contains(out, "withdrawn") {
		t.Errorf("flag after the address over the config file: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := runBin(t, wd, []string{"PIXELGATE_DATA_DIR=" + data}, "consent", "show", alice); code != 0 || !strings.Contains(out, "withdrawn") {
		t.Errorf("data dir from the environment: exit %d\n%s%s", code, out, errs)
	}

	stray := []struct {
		args []string
		want string
	}{
		{[]string{"check-config", "foo", "--smtp-addr", "127.0.0.1:2590"}, `check-config takes no arguments; got 1 argument: "foo"`},
		{[]string{"serve", "extra", "--data-dir", "./cc"}, `serve takes no arguments; got 1 argument: "extra"`},
		{[]string{"consent", "grant", alice, "bob@example.org", "--data-dir", data}, `consent grant takes one address; got 2 arguments: "alice@example.org" "bob@example.org"`},
		{[]string{"consent", "grant", "--data-dir", data}, "consent grant takes one address; got none"},
		{[]string{"dsar", "erase", alice, "x", "--data-dir", data}, "dsar erase takes one address; got 2 arguments"},
		{[]string{"smtp-user", "list", "x", "--data-dir", data}, `smtp-user list takes no arguments; got 1 argument: "x"`},
		{[]string{"smtp-user", "remove", "--data-dir", data}, "smtp-user remove takes one account name; got none"},
		{[]string{"user", "list", "x", "--data-dir", data}, "user list takes no arguments"},
		{[]string{"keys", "rotate", "x", "--data-dir", data}, "keys rotate takes no arguments"},
		{[]string{"keys", "retire", "--data-dir", data}, "keys retire takes one key id; got none"},
		{[]string{"backup", "x", "--out", filepath.Join(wd, "b"), "--data-dir", data}, "backup takes no arguments"},
		{[]string{"healthcheck", "x"}, "healthcheck takes no arguments"},
		{[]string{"rewrite", "x", "--rcpt", alice}, "rewrite takes no arguments"},
		{[]string{"scan", "--pair", "a.eml"}, "scan --pair takes 2 files"},
		{[]string{"consent", "revoke", alice, "--data-dir", data}, `unknown consent action "revoke"`},
		{[]string{"consent", "show", alice, "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
	}
	for _, c := range stray {
		code, out, errs := runBin(t, wd, nil, c.args...)
		if code != 2 || !strings.Contains(errs, c.want) || strings.Contains(out, "configuration OK") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", c.args, code, errs, c.want)
		}
	}
	// Nothing was made in the working directory: serve did not start on ./data.
	for _, e := range entries(t, wd) {
		if e != "deploy" && e != "pg.conf" {
			t.Errorf("a refused command left %s in the working directory", e)
		}
	}
}

// actionsOf reads the actions a command lists in its help.
func actionsOf(help string) []string {
	_, rest, ok := strings.Cut(help, "\nActions:\n")
	if !ok {
		return nil
	}
	var acts []string
	for _, line := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		acts = append(acts, strings.Fields(line)[0])
	}
	return acts
}

// TestEveryCommandAnswersHelp: `help CMD [ACTION]`, `CMD [ACTION] -h` and
// `CMD help [ACTION]` / `CMD ACTION help` print the usage on stdout and
// exit 0, for every command and every action its help lists, and create
// nothing.
func TestEveryCommandAnswersHelp(t *testing.T) {
	wd := t.TempDir()
	check := func(wantUsage string, args ...string) string {
		t.Helper()
		code, out, errs := runBin(t, wd, nil, args...)
		if code != 0 || !strings.Contains(out, "Usage: pixelgate "+wantUsage) || !strings.Contains(out, "-data-dir") && !strings.Contains(out, "-config") {
			t.Errorf("%v: exit %d; want exit 0 and %q with the flags on stdout\nstdout: %s\nstderr: %s", args, code, "Usage: pixelgate "+wantUsage, out, errs)
		}
		return out
	}
	actions := 0
	for _, c := range commands() {
		if c.name == "help" {
			continue
		}
		help := check(c.name, "help", c.name)
		check(c.name, c.name, "-h")
		check(c.name, c.name, "--help")
		check(c.name, c.name, "help")
		for _, a := range actionsOf(help) {
			actions++
			check(c.name+" "+a, "help", c.name, a)
			check(c.name+" "+a, c.name, a, "-h")
			check(c.name+" "+a, c.name, "help", a)
			check(c.name+" "+a, c.name, a, "help")
		}
	}
	if actions < 15 {
		t.Errorf("found %d actions in the commands' help, want every action of consent, dsar, smtp-user, user and keys", actions)
	}
	if code, out, _ := runBin(t, wd, nil, "help"); code != 0 || !strings.Contains(out, "smtp-user") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	if es := entries(t, wd); len(es) != 0 {
		t.Errorf("asking for help created %v", es)
	}
}

// TestRecordCommandsRefuseAMissingStore: from a folder that is not the
// deployment's, a command that reads or changes records says so and
// creates nothing, instead of answering from a new empty store.
func TestRecordCommandsRefuseAMissingStore(t *testing.T) {
	wd := shortTempDir(t)
	for _, args := range [][]string{
		{"consent", "show", alice},
		{"consent", "grant", alice},
		{"dsar", "export", alice},
		{"smtp-user", "list"},
		{"user", "list"},
		{"keys", "list"},
		{"backup", "--out", "copy.db"},
	} {
		code, _, errs := runBin(t, wd, nil, args...)
		if code != 2 || !strings.Contains(errs, "no pixelgate store in ./data") || !strings.Contains(errs, "--data-dir DIR") || !strings.Contains(errs, "--redis-url") {
			t.Errorf("%v in an empty folder: exit %d, %s; want a refusal saying how to point at the store", args, code, errs)
		}
	}
	// rewrite and scan need no store; they leave no keys behind either.
	if err := os.WriteFile(filepath.Join(wd, "m.eml"), []byte(cliMessage), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runBin(t, wd, nil, "scan", "m.eml"); code != 0 {
		t.Errorf("scan: exit %d %s", code, errs)
	}
	cmd := exec.Command(pixelgateBinary(t), "rewrite", "--rcpt", "reader@example.com", "--consent", "granted")
	cmd.Dir, cmd.Env, cmd.Stdin = wd, []string{"PATH=" + os.Getenv("PATH")}, strings.NewReader(cliMessage)
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "http://127.0.0.1:8080/o/") {
		t.Errorf("rewrite without a deployment: %v\n%s", err, out)
	}
	if es := entries(t, wd); len(es) != 1 {
		t.Errorf("commands left %v in the working directory, want only m.eml", es)
	}
}

// TestRewriteUsesTheDeploymentKeys: with the deployment's data directory,
// rewrite's links open with its keys (read, not changed).
func TestRewriteUsesTheDeploymentKeys(t *testing.T) {
	wd := shortTempDir(t)
	data := filepath.Join(wd, "data")
	seedStore(t, data)
	cmd := exec.Command(pixelgateBinary(t), "rewrite", "--rcpt", "reader@example.com", "--consent", "granted", "--public-url", "https://t.example")
	cmd.Dir, cmd.Env, cmd.Stdin = wd, []string{"PATH=" + os.Getenv("PATH")}, strings.NewReader(cliMessage)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil || strings.Contains(errb.String(), "throwaway") {
		t.Fatalf("rewrite: %v\n%s", err, errb.String())
	}
	m := regexp.MustCompile(`https://t\.example/o/([A-Za-z0-9_-]+)\.gif`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no pixel in the output:\n%s", out)
	}
	kr, err := consent.OpenKeyring(consent.KeyringOptions{Dir: filepath.Join(data, "keys"), NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Open(string(m[1]), consent.PurposeOpen); err != nil {
		t.Errorf("the pixel token does not open with the deployment's keys: %v", err)
	}
}

// TestRecordCommandsRefuseEmbeddedStoreOfRedisDeployment: serve on Redis
// records it in its data directory; a command given that directory but no
// --redis-url refuses instead of writing to a new embedded file.
func TestRecordCommandsRefuseEmbeddedStoreOfRedisDeployment(t *testing.T) {
	redis := redistest.Start(t)
	wd := shortTempDir(t)
	data := filepath.Join(wd, "deploy")
	keys := filepath.Join(wd, "keys")
	startServe(t, "--redis-url", redis.URL(), "--data-dir", data, "--keys-dir", keys)
	marker, err := os.ReadFile(filepath.Join(data, storeMarkerName))
	if err != nil || !strings.Contains(string(marker), "store = redis") || strings.Contains(string(marker), redis.Addr()) {
		t.Fatalf("serve's record of its store: %q %v; want the kind and no URL", marker, err)
	}
	for _, args := range [][]string{{"consent", "grant", alice}, {"consent", "show", alice}, {"smtp-user", "list"}} {
		code, _, errs := runBin(t, wd, nil, append(args, "--data-dir", data, "--keys-dir", keys)...)
		if code != 2 || !strings.Contains(errs, "Redis") || !strings.Contains(errs, "--redis-url") {
			t.Errorf("%v on a Redis deployment's data dir: exit %d, %s; want a refusal", args, code, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "pixelgate.db")); !os.IsNotExist(err) {
		t.Errorf("an embedded store was created in the Redis deployment's data dir: %v", err)
	}
	if code, out, errs := runBin(t, wd, nil, "consent", "grant", alice, "--data-dir", data, "--keys-dir", keys, "--redis-url", redis.URL()); code != 0 {
		t.Errorf("with --redis-url: exit %d\n%s%s", code, out, errs)
	}
}

// binServe is `pixelgate serve` run from the binary.
type binServe struct {
	lines  []string
	stderr *testsupport.SyncBuffer
	cmd    *exec.Cmd
	rest   *testsupport.SyncBuffer
}

func startBinServe(t *testing.T, dir string, args ...string) *binServe {
	t.Helper()
	s := &binServe{stderr: &testsupport.SyncBuffer{}, rest: &testsupport.SyncBuffer{}}
	s.cmd = exec.Command(pixelgateBinary(t), append([]string{"serve", "--smtp-addr", "127.0.0.1:0", "--shutdown-grace", "2s"}, args...)...)
	s.cmd.Dir, s.cmd.Env, s.cmd.Stderr = dir, []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}, s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		_ = s.cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for len(s.lines) < 4 && sc.Scan() {
		s.lines = append(s.lines, sc.Text())
	}
	if len(s.lines) < 4 {
		t.Fatalf("serve did not start: %q\n%s", s.lines, s.stderr.String())
	}
	// The scanner may hold lines past the startup ones: keep reading with it.
	go func() {
		for sc.Scan() {
			_, _ = s.rest.Write([]byte(sc.Text() + "\n"))
		}
	}()
	return s
}

// waitFor waits for re in what serve printed after its startup lines.
func (s *binServe) waitFor(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindString(s.rest.String()); m != "" {
			return m
		}
	}
	t.Fatalf("serve did not print %s:\n%s", re, s.rest.String())
	return ""
}

// TestPublicURLFollowsHTTPAddr: without --public-url, the links point
// where serve listens, the setup link and every email link alike.
func TestPublicURLFollowsHTTPAddr(t *testing.T) {
	wd := shortTempDir(t)
	for _, httpAddr := range []string{freeAddr(t), "127.0.0.1:0"} {
		data := filepath.Join(wd, fmt.Sprintf("d%d", len(entries(t, wd))))
		s := startBinServe(t, wd, "--http-addr", httpAddr, "--data-dir", data)
		var bound, pub string
		for _, l := range s.lines {
			if rest, ok := strings.CutPrefix(l, "pixelgate: HTTP on "); ok {
				bound, pub, _ = strings.Cut(rest, ", public URL ")
			}
		}
		if pub != "http://"+bound || bound == "127.0.0.1:8080" {
			t.Errorf("--http-addr %s: listens on %s, public URL %q; want http://%s", httpAddr, bound, pub, bound)
		}
		s.waitFor(t, regexp.MustCompile(regexp.QuoteMeta("http://"+bound+"/admin/setup/")))
		var smtpAddr string
		for _, l := range s.lines {
			if rest, ok := strings.CutPrefix(l, "pixelgate: SMTP relay on "); ok {
				smtpAddr, _, _ = strings.Cut(rest, " ")
			}
		}
		if err := smtpSend(smtpAddr, "news@shop.example", "reader@example.org", newsletter("reader@example.org"), nil, nil); err != nil {
			t.Fatal(err)
		}
		files := outboxFiles(t, data)
		if len(files) != 1 {
			t.Fatalf("outbox: %v", files)
		}
		msg, _ := os.ReadFile(files[0])
		if !strings.Contains(string(msg), "http://"+bound+"/c/") {
			t.Errorf("--http-addr %s: the consent link does not point at %s:\n%s", httpAddr, bound, msg)
		}
	}
}

// TestProductionWarnings: plain http off loopback, and the example
// controller on an https deployment, are warned about by check-config and
// serve; a real controller or a loopback address is not.
func TestProductionWarnings(t *testing.T) {
	wd := shortTempDir(t)
	code, out, errs := runBin(t, wd, nil, "check-config", "--http-addr", "0.0.0.0:8090", "--hostname", "mail.example.org")
	if code != 0 || !regexp.MustCompile(`public-url +http://mail\.example\.org:8090 +derived from http-addr`).MatchString(out) ||
		!strings.Contains(errs, "warning: the public URL derived from --http-addr is http://mail.example.org:8090: plain http on a non-loopback address") {
		t.Errorf("check-config on 0.0.0.0 without --public-url: exit %d\n%s\n%s", code, out, errs)
	}
	code, _, errs = runBin(t, wd, nil, "check-config", "--public-url", "https://t.example.com")
	if code != 0 || !strings.Contains(errs, "example controller details") || !strings.Contains(errs, "--consent-texts") {
		t.Errorf("check-config, https and the example controller: exit %d\n%s", code, errs)
	}
	def, err := os.ReadFile("../../web/consentpage/texts/default.json")
	if err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(wd, "texts.json")
	if err := os.WriteFile(own, bytes.ReplaceAll(def, []byte("Example Company"), []byte("Boutique Martin SARL")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs = runBin(t, wd, nil, "check-config", "--public-url", "https://t.example.com", "--consent-texts", own); code != 0 || strings.Contains(errs, "warning") {
		t.Errorf("check-config with the controller's own texts: exit %d\n%s", code, errs)
	}
	if code, _, errs = runBin(t, wd, nil, "check-config"); code != 0 || strings.Contains(errs, "warning") {
		t.Errorf("check-config, zero config: exit %d\n%s", code, errs)
	}
	s := startBinServe(t, wd, "--http-addr", "127.0.0.1:0", "--public-url", "https://t.example.com", "--data-dir", filepath.Join(wd, "data"))
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(s.stderr.String(), "example controller details") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(s.stderr.String(), "example controller details") {
		t.Errorf("serve did not warn about the example controller:\n%s", s.stderr.String())
	}
}
