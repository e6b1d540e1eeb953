package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// runHealthcheck asks the local `serve` whether it is ready, for a container
// HEALTHCHECK: the runtime image has no shell, curl or wget, so the binary
// probes itself. It reads the same settings as serve (flags, PIXELGATE_*
// environment, config file), so it finds the HTTP port without being told.
func runHealthcheck(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "healthcheck [flags]", "Exit 0 when the pixelgate server on --http-addr answers ready on /readyz (for container health checks).\n"+
		"Reads the same settings as serve; a wildcard listen address is probed on loopback.")
	set := addServeFlags(fs)
	path := fs.String("probe-path", "/readyz", "path to probe: /readyz (store and delivery ready) or /healthz (process up)")
	timeout := fs.Duration("probe-timeout", 3*time.Second, "time allowed for the answer")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.wantArgs("healthcheck", 0, ""); err != nil {
		return err
	}
	target, err := probeURL(*set.httpAddr, *path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("probe %s: %w", target, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	answer := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		// /readyz keeps the cause off the public listener.
		return fmt.Errorf("probe %s: %s: %s (the cause is in the server's log and on the dashboard's Settings page)",
			target, resp.Status, answer)
	}
	fmt.Fprintln(env.stdout, answer)
	return nil
}

// probeURL turns a listen address into a URL to reach it from the same
// host: an unspecified address (0.0.0.0, ::, empty) listens on loopback too.
func probeURL(listen, path string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("%w: --http-addr %q: %v", errUsage, listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}
