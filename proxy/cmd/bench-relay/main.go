// Command bench-relay measures the SMTP relay's throughput against a plain
// pass-through relay in the same run (issue 4): N copies of a realistic 60 KB
// marketing email, one recipient each, at C parallel sessions, through
// `pixelgate serve` (a child process, embedded store or Redis) into a local
// sink, and through a go-smtp relay that only buffers and forwards each
// message. Everything listens on 127.0.0.1; the run is bounded by -n and
// -timeout.
//
//	go run ./proxy/cmd/bench-relay -pixelgate bin/pixelgate -n 2000 -c 4 [-redis]
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/pixelgate/pixelgate/proxy"
	"github.com/pixelgate/pixelgate/proxy/benchmail"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

func main() {
	bin := flag.String("pixelgate", "bin/pixelgate", "pixelgate binary to run")
	n := flag.Int("n", 2000, "messages per relay")
	c := flag.Int("c", 4, "parallel SMTP sessions")
	useRedis := flag.Bool("redis", false, "run pixelgate on a redis-server started for the run (else the embedded store)")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound on the whole run")
	flag.Parse()
	if err := run(*bin, *n, *c, *useRedis, *timeout); err != nil {
		log.Fatal(err)
	}
}

func run(bin string, n, c int, useRedis bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	msg := benchmail.Campaign(60 << 10)

	sink, err := smtpsink.Start(smtpsink.Options{Behaviour: func(*smtpsink.Message) smtpsink.Action {
		return smtpsink.Action{Discard: true}
	}})
	if err != nil {
		return err
	}
	defer sink.Close()

	pass, err := startPassThrough(sink.Addr)
	if err != nil {
		return err
	}
	defer pass.Close()

	dir, err := os.MkdirTemp("", "bench-relay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	args := []string{"serve", "--data-dir", dir, "--smtp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--upstream", "smtp://" + sink.Addr + "?tls=none", "--upstream-pool", strconv.Itoa(c)}
	storeName := "embedded"
	if useRedis {
		rurl, stop, err := startRedis(ctx, dir)
		if err != nil {
			return err
		}
		defer stop()
		args = append(args, "--redis-url", rurl)
		storeName = "redis"
	}
	pg, err := startPixelgate(ctx, bin, args)
	if err != nil {
		return err
	}
	defer pg.stop()

	// Warm both paths (connections, pools, page cache) before measuring.
	if _, err := load(ctx, pass.addr, msg, min(n, 50), c); err != nil {
		return fmt.Errorf("warm-up pass-through: %w", err)
	}
	if _, err := load(ctx, pg.smtpAddr, msg, min(n, 50), c); err != nil {
		return fmt.Errorf("warm-up pixelgate: %w", err)
	}
	// Alternate the two relays in rounds so that load from other processes
	// on the machine hits both alike.
	before := sink.Count()
	const rounds = 5
	var passTime, pgTime time.Duration
	per := n / rounds
	for r := 0; r < rounds; r++ {
		order := []struct {
			addr string
			dur  *time.Duration
			name string
		}{{pass.addr, &passTime, "pass-through"}, {pg.smtpAddr, &pgTime, "pixelgate"}}
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, o := range order {
			d, err := load(ctx, o.addr, msg, per, c)
			if err != nil {
				return fmt.Errorf("%s: %w", o.name, err)
			}
			*o.dur += d
		}
	}
	n = per * rounds
	passRate := float64(n) / passTime.Seconds()
	pgRate := float64(n) / pgTime.Seconds()
	if got := sink.Count() - before; got != int64(2*n) {
		return fmt.Errorf("sink received %d messages, want %d", got, 2*n)
	}
	rss, err := peakRSS(pg.cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("message %d bytes, n=%d per relay, c=%d, store %s\n", len(msg), n, c, storeName)
	fmt.Printf("pass-through: %8.1f msg/s\n", passRate)
	fmt.Printf("pixelgate:    %8.1f msg/s\n", pgRate)
	fmt.Printf("ratio:        %8.3f (target >= 0.9)\n", pgRate/passRate)
	fmt.Printf("pixelgate peak RSS: %.1f MiB\n", float64(rss)/(1<<20))
	return nil
}

// load sends n messages over c sessions, one recipient per transaction, and
// returns the time it took.
func load(ctx context.Context, addr string, msg []byte, n, c int) (time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c)
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := smtp.Dial(addr)
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			for {
				i := next.Add(1)
				if i > int64(n) || ctx.Err() != nil {
					break
				}
				to := fmt.Sprintf("reader%d@example.net", i)
				if err := cl.SendMail("news@shop.example", []string{to}, bytes.NewReader(msg)); err != nil {
					errs <- fmt.Errorf("message %d: %w", i, err)
					return
				}
			}
			_ = cl.Quit()
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// passThrough is the reference: a go-smtp server that buffers each message
// and forwards it with the same pooled upstream client pixelgate uses.
type passThrough struct {
	addr string
	srv  *smtp.Server
	up   *proxy.Upstream
}

func startPassThrough(sinkAddr string) (*passThrough, error) {
	up, err := proxy.ParseUpstream(proxy.UpstreamConfig{URL: "smtp://" + sinkAddr + "?tls=none", MaxIdle: 8})
	if err != nil {
		return nil, err
	}
	p := &passThrough{up: up}
	p.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &passSession{p: p}, nil }))
	p.srv.Domain = "pass.test"
	p.srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.addr = l.Addr().String()
	go p.srv.Serve(l)
	return p, nil
}

func (p *passThrough) Close() { p.srv.Close(); p.up.Close() }

type passSession struct {
	p        *passThrough
	from, to string
}

func (s *passSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *passSession) Rcpt(to string, _ *smtp.RcptOptions) error   { s.to = to; return nil }
func (s *passSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return s.p.up.Deliver(context.Background(), proxy.Envelope{From: s.from, To: s.to}, b)
}
func (s *passSession) Reset()        {}
func (s *passSession) Logout() error { return nil }

// pixelgateProc is `pixelgate serve` as a child process.
type pixelgateProc struct {
	cmd      *exec.Cmd
	smtpAddr string
}

func startPixelgate(ctx context.Context, bin string, args []string) (*pixelgateProc, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "PIXELGATE_CONFIG=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &pixelgateProc{cmd: cmd}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "pixelgate: SMTP relay on "); ok {
			p.smtpAddr, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	if p.smtpAddr == "" {
		p.stop()
		return nil, errors.New("pixelgate did not report its SMTP address")
	}
	go io.Copy(io.Discard, out)
	return p, nil
}

func (p *pixelgateProc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

// peakRSS reads VmHWM (peak resident set) of a process, in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read peak RSS: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// startRedis runs a throw-away redis-server on a free loopback port.
func startRedis(ctx context.Context, dir string) (string, func(), error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, errors.New("redis-server not installed: run without -redis")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.CommandContext(ctx, path, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "redis://" + addr, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, errors.New("redis-server did not start")
}
