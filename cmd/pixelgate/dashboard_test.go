package main

import (
	"context"
	"strings"
	"testing"
)

func TestServeRefusesBadSessionTimeouts(t *testing.T) {
	var out, errb strings.Builder
	env := &environ{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	code := runMain(context.Background(), env, []string{"serve", "--data-dir", t.TempDir(), "--smtp-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--session-idle", "13h", "--session-max", "12h"})
	if code != 2 || !strings.Contains(errb.String(), "--session-idle") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}
