package main

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// No container engine runs on the build machines, so the deployment files
// are checked by reading them: the wiring an operator relies on when typing
// `docker compose up` must hold, and every setting they pass must be one
// serve understands with a value serve accepts.

// composeFile declares every key the file uses, so that KnownFields
// rejects a misspelt one (compose would ignore it silently).
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
}

type composeService struct {
	Image           string            `yaml:"image"`
	Restart         string            `yaml:"restart"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Build           any               `yaml:"build"`
	Command         []string          `yaml:"command"`
	Environment     map[string]string `yaml:"environment"`
	Ports           []string          `yaml:"ports"`
	Volumes         []string          `yaml:"volumes"`
	Networks        []string          `yaml:"networks"`
	DependsOn       map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test        []string `yaml:"test"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
	} `yaml:"healthcheck"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true) // a misspelt key is a key compose would ignore
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// serveFlagNames lists serve's flags as `pixelgate serve -h` prints them, so
// flags added anywhere in serve's set (store, logging, relay) are seen.
func serveFlagNames(t *testing.T) []string {
	t.Helper()
	var out, errb bytes.Buffer
	env := &environ{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	if code := runMain(context.Background(), env, []string{"serve", "-h"}); code != 0 {
		t.Fatalf("serve -h: exit %d: %s", code, errb.String())
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(out.String(), -1) {
		names = append(names, m[1])
	}
	if len(names) < 10 {
		t.Fatalf("serve -h printed %d flags:\n%s", len(names), out.String())
	}
	return names
}

// publishedPort finds the "HOST_IP:HOST_PORT:CONTAINER_PORT" entry for a
// container port.
func publishedPort(t *testing.T, svc string, ports []string, container string) (hostIP, hostPort string) {
	t.Helper()
	for _, p := range ports {
		parts := strings.Split(p, ":")
		if len(parts) == 3 && parts[2] == container {
			return parts[0], parts[1]
		}
	}
	t.Fatalf("service %s: container port %s not published as HOST_IP:HOST_PORT:%s (ports %q)", svc, container, container, ports)
	return "", ""
}

func TestComposeWiring(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"pixelgate", "redis", "mailpit"} {
		s, ok := c.Services[name]
		if !ok {
			t.Fatalf("service %q missing", name)
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 || s.Healthcheck.Retries < 1 {
			t.Errorf("service %s: no healthcheck with a test and retries", name)
		} else {
			for _, d := range []string{s.Healthcheck.Interval, s.Healthcheck.Timeout, s.Healthcheck.StartPeriod} {
				if _, err := time.ParseDuration(d); err != nil {
					t.Errorf("service %s: healthcheck duration %q: %v", name, d, err)
				}
			}
		}
		if s.Restart != "unless-stopped" {
			t.Errorf("service %s: restart %q, want unless-stopped", name, s.Restart)
		}
		if !slices.Contains(s.Networks, "mail") {
			t.Errorf("service %s: not on the mail network", name)
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s publishes %q beyond the host's loopback", name, p)
			}
		}
		for _, v := range s.Volumes {
			vol, _, _ := strings.Cut(v, ":")
			if _, declared := c.Volumes[vol]; !declared {
				t.Errorf("service %s mounts %q, not a declared named volume", name, vol)
			}
		}
	}

	pg := c.Services["pixelgate"]
	env := pg.Environment
	for _, dep := range []string{"redis", "mailpit"} {
		if pg.DependsOn[dep].Condition != "service_healthy" {
			t.Errorf("pixelgate must wait for %s to be healthy, depends_on says %q", dep, pg.DependsOn[dep].Condition)
		}
	}
	// SIGTERM must leave serve its --shutdown-grace before compose kills it.
	if d, err := time.ParseDuration(pg.StopGracePeriod); err != nil || d <= 30*time.Second {
		t.Errorf("pixelgate stop_grace_period %q: want more than serve's 30s shutdown grace", pg.StopGracePeriod)
	}
	if pg.Build == nil {
		t.Error("pixelgate is not built from the Dockerfile")
	}
	if got := pg.Healthcheck.Test; !slices.Equal(got, []string{"CMD", "/pixelgate", "healthcheck"}) {
		t.Errorf("pixelgate healthcheck = %q, want the binary's own probe", got)
	}
	if !slices.ContainsFunc(commands(), func(c command) bool { return c.name == "healthcheck" }) {
		t.Error("the compose healthcheck runs `pixelgate healthcheck`, which is not a command")
	}

	// Redis: AOF on, written to a named volume.
	rd := c.Services["redis"]
	cmd := strings.Join(rd.Command, " ")
	if !strings.Contains(cmd, "--appendonly yes") {
		t.Errorf("redis command %q: AOF persistence not enabled", cmd)
	}
	dir := "/data"
	if i := slices.Index(rd.Command, "--dir"); i >= 0 && i+1 < len(rd.Command) {
		dir = rd.Command[i+1]
	}
	if !slices.ContainsFunc(rd.Volumes, func(v string) bool { return strings.HasSuffix(v, ":"+dir) }) {
		t.Errorf("redis writes its AOF to %s, which is not a volume (%q)", dir, rd.Volumes)
	}

	// pixelgate reaches Redis by its service name.
	ru, err := url.Parse(env["PIXELGATE_REDIS_URL"])
	if err != nil || ru.Scheme != "redis" || ru.Hostname() != "redis" || ru.Port() != "6379" {
		t.Errorf("PIXELGATE_REDIS_URL = %q, want redis://redis:6379/...", env["PIXELGATE_REDIS_URL"])
	}
	// The upstream is Mailpit's SMTP port (1025), plain text since Mailpit
	// offers no STARTTLS by default.
	uu, err := url.Parse(env["PIXELGATE_UPSTREAM"])
	if err != nil || uu.Scheme != "smtp" || uu.Hostname() != "mailpit" || uu.Port() != "1025" || uu.Query().Get("tls") != "none" {
		t.Errorf("PIXELGATE_UPSTREAM = %q, want smtp://mailpit:1025?tls=none", env["PIXELGATE_UPSTREAM"])
	}
	if _, port := publishedPort(t, "mailpit", c.Services["mailpit"].Ports, "8025"); port != "8025" {
		t.Errorf("Mailpit's web UI published on %s, the README says 8025", port)
	}

	// The listen addresses inside the container are the published ports,
	// and the public URL is what the host reaches.
	for _, l := range []struct{ envVar, want string }{{"PIXELGATE_SMTP_ADDR", "2525"}, {"PIXELGATE_HTTP_ADDR", "8080"}} {
		host, port, err := net.SplitHostPort(env[l.envVar])
		if err != nil || port != l.want || (host != "0.0.0.0" && host != "") {
			t.Errorf("%s = %q, want 0.0.0.0:%s (reachable from outside the container)", l.envVar, env[l.envVar], l.want)
		}
		if _, hp := publishedPort(t, "pixelgate", pg.Ports, l.want); hp != l.want {
			t.Errorf("container port %s published as host port %s", l.want, hp)
		}
	}
	pu, err := url.Parse(env["PIXELGATE_PUBLIC_URL"])
	if _, hp := publishedPort(t, "pixelgate", pg.Ports, "8080"); err != nil || pu.Port() != hp {
		t.Errorf("PIXELGATE_PUBLIC_URL = %q does not point at the published HTTP port %s", env["PIXELGATE_PUBLIC_URL"], hp)
	}
	// Keys and the self-signed certificate persist in a volume.
	if !slices.ContainsFunc(pg.Volumes, func(v string) bool { return strings.HasSuffix(v, ":"+env["PIXELGATE_DATA_DIR"]) }) {
		t.Errorf("PIXELGATE_DATA_DIR %q is not a volume (%q)", env["PIXELGATE_DATA_DIR"], pg.Volumes)
	}
	// The host's connections arrive from the network's gateway: it must be
	// inside the relay networks, or the quick start's swaks gets refused.
	subnet := c.Networks["mail"].IPAM.Config
	if len(subnet) != 1 {
		t.Fatalf("network mail: want one fixed subnet, got %v", subnet)
	}
	want, err := netip.ParsePrefix(subnet[0].Subnet)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(env["PIXELGATE_RELAY_NETWORKS"], ","), want.String()) {
		t.Errorf("PIXELGATE_RELAY_NETWORKS = %q lacks the compose network %s", env["PIXELGATE_RELAY_NETWORKS"], want)
	}
}

// TestComposeSettingsAreServeFlags: a PIXELGATE_* variable that names no
// flag is silently ignored, so a typo would run the demo on defaults. The
// values must also pass check-config's validation.
func TestComposeSettingsAreServeFlags(t *testing.T) {
	c := loadCompose(t)
	flags := serveFlagNames(t)
	env := c.Services["pixelgate"].Environment
	for _, line := range dockerfileLines(t) {
		if strings.HasPrefix(line, "ENV ") {
			for _, kv := range strings.Fields(strings.TrimPrefix(line, "ENV ")) {
				k, v, _ := strings.Cut(kv, "=")
				if _, set := env[k]; !set {
					env[k] = v
				}
			}
		}
	}
	for k := range env {
		if !strings.HasPrefix(k, "PIXELGATE_") {
			continue
		}
		if !slices.ContainsFunc(flags, func(f string) bool { return envName(f) == k }) {
			t.Errorf("%s names no flag of pixelgate serve", k)
		}
	}
	var out, errb bytes.Buffer
	e := &environ{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
	if code := runMain(context.Background(), e, []string{"check-config"}); code != 0 {
		t.Errorf("check-config with the compose environment: exit %d\n%s%s", code, out.String(), out.String())
	}
	for k, v := range env {
		if strings.HasPrefix(k, "PIXELGATE_") && !strings.Contains(out.String(), strings.TrimSuffix(v, "?tls=none")) {
			t.Errorf("check-config output does not show %s=%s as effective:\n%s", k, v, out.String())
		}
	}
}

// dockerfileLines returns the Dockerfile's instructions with continuation
// lines joined and comments dropped.
func dockerfileLines(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var cur strings.Builder
	for l := range strings.Lines(string(raw)) {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#") || (l == "" && cur.Len() == 0) {
			continue
		}
		cont := strings.HasSuffix(l, `\`)
		cur.WriteString(strings.TrimSuffix(l, `\`))
		if cont {
			cur.WriteString(" ")
			continue
		}
		lines = append(lines, strings.Join(strings.Fields(cur.String()), " "))
		cur.Reset()
	}
	return lines
}

func TestDockerfile(t *testing.T) {
	lines := dockerfileLines(t)
	var froms []string
	has := map[string]string{}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		if instr == "FROM" {
			froms = append(froms, rest)
		}
		has[instr] = rest
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got FROM %q", froms)
	}
	// The build image's Go must be the one go.mod asks for.
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVer == nil || !strings.HasPrefix(froms[0], "golang:"+string(goVer[1])) {
		t.Errorf("build stage %q does not use Go %s from go.mod", froms[0], goVer[1])
	}
	final := froms[len(froms)-1]
	if !strings.Contains(final, "distroless/static") && !strings.HasPrefix(final, "scratch") {
		t.Errorf("runtime base %q is not a minimal static base", final)
	}
	if u := has["USER"]; u == "" || strings.HasPrefix(u, "0") || strings.HasPrefix(u, "root") {
		t.Errorf("USER %q: the image must run as a non-root user", u)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "CGO_ENABLED=0") {
		t.Error("binary not built with CGO_ENABLED=0: it would need a libc the base lacks")
	}
	if !strings.Contains(has["HEALTHCHECK"], `"/pixelgate", "healthcheck"`) {
		t.Errorf("HEALTHCHECK %q does not run the binary's own probe", has["HEALTHCHECK"])
	}
	if has["ENTRYPOINT"] != `["/pixelgate"]` || has["CMD"] != `["serve"]` {
		t.Errorf("ENTRYPOINT %q CMD %q: want /pixelgate serve", has["ENTRYPOINT"], has["CMD"])
	}
}
