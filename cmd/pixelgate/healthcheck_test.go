package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/web"
)

// TestHealthcheck probes a real router on loopback: exit 0 when ready, a
// failure saying where the cause is when not (the public answer keeps it),
// and the same answer for a wildcard listen address (the container case).
func TestHealthcheck(t *testing.T) {
	var readyErr error
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: web.NewRouter(web.Handlers{Ready: func(context.Context) error { return readyErr }})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	probe := func(httpAddr string, args ...string) (int, string) {
		var out, errb bytes.Buffer
		env := &environ{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string {
			if k == "PIXELGATE_HTTP_ADDR" {
				return httpAddr
			}
			return ""
		}}
		code := runMain(context.Background(), env, append([]string{"healthcheck"}, args...))
		return code, out.String() + errb.String()
	}
	if code, out := probe("127.0.0.1:" + port); code != 0 || !strings.Contains(out, "ready") {
		t.Errorf("ready server: exit %d, %q", code, out)
	}
	if code, out := probe("0.0.0.0:" + port); code != 0 {
		t.Errorf("wildcard listen address: exit %d, %q", code, out)
	}
	readyErr = errors.New("store ping: connection refused")
	if code, out := probe("127.0.0.1:" + port); code != 1 || !strings.Contains(out, "not ready") || !strings.Contains(out, "log") {
		t.Errorf("unready server: exit %d, %q; want 1, pointing at the log", code, out)
	}
	if code, out := probe("127.0.0.1:"+port, "--probe-path", "/healthz"); code != 0 {
		t.Errorf("/healthz while unready: exit %d, %q; the process is up", code, out)
	}
	srv.Close()
	if code, _ := probe("127.0.0.1:" + port); code != 1 {
		t.Errorf("nothing listening: exit %d, want 1", code)
	}
	if code, _ := probe("no-port"); code != 2 {
		t.Errorf("bad --http-addr: exit %d, want 2", code)
	}
}
