// Package redistest starts a real, throw-away redis-server on a free loopback
// port for tests and benchmarks. The Redis path is never tested against a
// fake; when the binary is missing, tests skip with a message
// that says how to install it.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixelgate/pixelgate/internal/testsupport"
)

// ErrNoRedisServer is returned by StartProcess when redis-server is not in
// PATH, so that a TestMain can tell "skip" from "broken".
var ErrNoRedisServer = errors.New("redis-server not found in PATH: install it (apt-get install redis-server) to run the Redis tests")

// Binary is the program started; looked up in PATH.
const Binary = "redis-server"

const (
	// startAttempts bounds retries when the free port we picked was taken by
	// someone else before redis-server could bind it.
	startAttempts = 5
	readyTimeout  = 10 * time.Second
	stopTimeout   = 5 * time.Second
)

// Server is one running redis-server process.
type Server struct {
	addr string
	dir  string
	// ownDir: dir was created by StartProcess and is removed by Stop.
	ownDir  bool
	cmd     *exec.Cmd
	output  *testsupport.SyncBuffer
	exited  chan struct{}
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// Start starts a redis-server for the test and stops it when the test ends.
// The test is skipped when redis-server is not installed; any other failure
// fails the test.
func Start(t testing.TB) *Server {
	t.Helper()
	return startT(t, mode{})
}

// StartCluster is Start for a one-node Redis Cluster that serves every
// slot: Cluster rules apply (a command or script whose keys span slots
// fails with CROSSSLOT), so stores can be tested in Cluster mode. Connect
// with a cluster client to Addr.
func StartCluster(t testing.TB) *Server {
	t.Helper()
	return startT(t, mode{cluster: true})
}

// StartSentinel starts a Redis Sentinel that monitors master under the name
// masterName, for tests of the Sentinel form of a store's URL. Connect to
// Addr with a failover client.
func StartSentinel(t testing.TB, master *Server, masterName string) *Server {
	t.Helper()
	return startT(t, mode{sentinelOf: master.Addr(), masterName: masterName})
}

// mode is what kind of server start launches.
type mode struct {
	cluster bool
	// sentinelOf, when set, makes a Sentinel monitoring this master address
	// under masterName.
	sentinelOf, masterName string
}

func startT(t testing.TB, m mode) *Server {
	t.Helper()
	if _, err := exec.LookPath(Binary); err != nil {
		t.Skip(ErrNoRedisServer.Error())
	}
	s, err := start(t.TempDir(), false, m)
	if err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop redis-server: %v", err)
		}
	})
	return s
}

// StartProcess starts a redis-server that lives until Stop is called; for a
// TestMain or a benchmark shared by several tests. It returns
// ErrNoRedisServer (test with errors.Is) when the binary is missing.
func StartProcess() (*Server, error) {
	return startProcess(mode{})
}

// StartClusterProcess is StartProcess for a one-node Cluster (see
// StartCluster).
func StartClusterProcess() (*Server, error) {
	return startProcess(mode{cluster: true})
}

func startProcess(m mode) (*Server, error) {
	if _, err := exec.LookPath(Binary); err != nil {
		return nil, ErrNoRedisServer
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("start redis-server: temp dir: %w", err)
	}
	s, err := start(dir, true, m)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	return s, nil
}

func start(dir string, ownDir bool, m mode) (*Server, error) {
	var lastErr error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := launch(dir, ownDir, port, m)
		if err == nil && m.cluster {
			if err = s.formCluster(); err != nil {
				s.kill()
			}
		}
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	return nil, lastErr
}

var errAddrInUse = errors.New("port already in use")

// freePort asks the kernel for a free loopback port. Another process may
// take it before redis-server binds it; start retries in that case.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func launch(dir string, ownDir bool, port int, m mode) (*Server, error) {
	s := &Server{
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		dir:    dir,
		ownDir: ownDir,
		output: &testsupport.SyncBuffer{Max: maxOutput},
		exited: make(chan struct{}),
	}
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--protected-mode", "yes",
		"--dir", dir,
		"--daemonize", "no",
		"--logfile", "",
		"--loglevel", "warning",
	}
	switch {
	case m.sentinelOf != "":
		// A Sentinel reads its monitor line from a config file it may
		// rewrite; it keeps no data.
		host, mport, err := net.SplitHostPort(m.sentinelOf)
		if err != nil {
			return nil, fmt.Errorf("sentinel of %q: %w", m.sentinelOf, err)
		}
		conf := filepath.Join(dir, "sentinel-"+strconv.Itoa(port)+".conf")
		body := fmt.Sprintf("sentinel monitor %s %s %s 1\n", m.masterName, host, mport)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return nil, fmt.Errorf("write sentinel config: %w", err)
		}
		args = append([]string{conf, "--sentinel"}, args...)
	default:
		// Nothing is persisted: tests start from an empty server and leave
		// no files behind but the temp dir.
		args = append(args, "--save", "", "--appendonly", "no")
		if m.cluster {
			args = append(args, "--cluster-enabled", "yes",
				"--cluster-config-file", "nodes-"+strconv.Itoa(port)+".conf")
		}
	}
	s.cmd = exec.Command(Binary, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", Binary, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		s.kill()
		out := s.output.String()
		if strings.Contains(out, "Address already in use") {
			return nil, fmt.Errorf("%w: %s", errAddrInUse, s.addr)
		}
		return nil, fmt.Errorf("%w; redis-server output:\n%s", err, out)
	}
	return s, nil
}

// waitReady polls until the server answers PING.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	delay := 5 * time.Millisecond
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("redis-server on %s exited before it was ready: %v", s.addr, s.waitErr)
		default:
		}
		err := s.Do("PING")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s not ready after %s: %w", s.addr, readyTimeout, err)
		}
		time.Sleep(delay)
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}

// formCluster gives this one node every slot and waits until the cluster
// reports itself ok.
func (s *Server) formCluster() error {
	if err := s.Do("CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil {
		return fmt.Errorf("assign cluster slots: %w", err)
	}
	deadline := time.Now().Add(readyTimeout)
	for {
		info, err := s.Query("CLUSTER", "INFO")
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster on %s not ok after %s: %v %q", s.addr, readyTimeout, err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr is host:port of the server (always on 127.0.0.1).
func (s *Server) Addr() string { return s.addr }

// URL is a redis:// URL for database 0.
func (s *Server) URL() string { return "redis://" + s.addr + "/0" }

// Pid is the server's process id, e.g. to read its CPU time in a benchmark.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Dir is the server's working directory.
func (s *Server) Dir() string { return s.dir }

// FlushAll empties every database, so that tests sharing one server (see
// StartProcess) can start clean.
func (s *Server) FlushAll() error { return s.Do("FLUSHALL") }

// Do sends one command on a fresh connection and reports an error reply or
// a connection failure; the reply itself is discarded. It exists so this
// package needs no Redis client library.
func (s *Server) Do(args ...string) error {
	_, err := s.Query(args...)
	return err
}

// Query is Do that also returns a simple, integer or bulk string reply
// (arrays are not read).
func (s *Server) Query(args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", s.addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write(b.Bytes()); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%s: read reply: %w", args[0], err)
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("%s: %s", args[0], line[1:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", nil
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(r, body); err != nil {
			return "", fmt.Errorf("%s: read reply: %w", args[0], err)
		}
		return string(body[:n]), nil
	case strings.HasPrefix(line, "+"), strings.HasPrefix(line, ":"):
		return line[1:], nil
	}
	return line, nil
}

// Stop shuts the server down (SIGTERM, then SIGKILL after a grace period)
// and removes its directory when StartProcess created it. Safe to call more
// than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if err := s.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.stopErr = fmt.Errorf("signal redis-server: %w", err)
		}
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			s.kill()
			s.stopErr = fmt.Errorf("redis-server on %s did not stop within %s; killed", s.addr, stopTimeout)
		}
		if s.ownDir {
			if err := os.RemoveAll(s.dir); err != nil && s.stopErr == nil {
				s.stopErr = fmt.Errorf("remove %s: %w", s.dir, err)
			}
		}
	})
	return s.stopErr
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// maxOutput keeps a chatty server from growing memory without bound.
const maxOutput = 64 << 10
