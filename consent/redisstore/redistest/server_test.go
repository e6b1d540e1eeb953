package redistest

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestStartAnswersAndStops(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr = %q, want a 127.0.0.1 address", s.Addr())
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Fatalf("URL = %q, want %q", s.URL(), want)
	}
	if err := s.Do("SET", "k", "v"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if err := s.Do("NO-SUCH-COMMAND"); err == nil {
		t.Fatal("an unknown command should report the server's error")
	}
	if err := s.FlushAll(); err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("server still accepts connections after Stop")
	}
}

func TestStartProcessIndependentServers(t *testing.T) {
	a, err := StartProcess()
	if errors.Is(err, ErrNoRedisServer) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	b := Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	dir := a.Dir()
	if err := a.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := b.Do("PING"); err != nil {
		t.Fatalf("stopping one server affected the other: %v", err)
	}
	if _, err := net.DialTimeout("tcp", a.Addr(), time.Second); err == nil {
		t.Fatal("stopped server still accepts connections")
	}
	if _, err := os.Lstat(dir); err == nil {
		t.Fatalf("StartProcess dir %s left behind after Stop", dir)
	}
}

func TestStartClusterServesEverySlot(t *testing.T) {
	s := StartCluster(t)
	info, err := s.Query("CLUSTER", "INFO")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_assigned:16384") {
		t.Fatalf("cluster not ready:\n%s", info)
	}
	// Cluster rules hold: keys of different slots in one command fail.
	if err := s.Do("MSET", "{a}x", "1", "{b}y", "2"); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("MSET across slots: %v, want CROSSSLOT", err)
	}
	if v, err := s.Query("SET", "{a}x", "1"); err != nil || v != "OK" {
		t.Fatalf("SET = %q, %v", v, err)
	}
	if v, err := s.Query("GET", "{a}x"); err != nil || v != "1" {
		t.Fatalf("GET = %q, %v", v, err)
	}
}

func TestStartSentinelKnowsMaster(t *testing.T) {
	master := Start(t)
	sen := StartSentinel(t, master, "pgmaster")
	if sen.Addr() == master.Addr() {
		t.Fatal("sentinel and master share an address")
	}
	// The master's address comes back as an array; Query reads only its
	// header, so ask for something scalar that proves the monitor is set.
	n, err := sen.Query("SENTINEL", "CKQUORUM", "pgmaster")
	if err != nil || !strings.HasPrefix(n, "OK") {
		t.Fatalf("sentinel does not monitor pgmaster: %q %v", n, err)
	}
}
