//go:build !linux

package redistest

import "syscall"

// sysProcAttr: no parent-death signal outside Linux; Stop/t.Cleanup end the
// server.
func sysProcAttr() *syscall.SysProcAttr { return nil }
