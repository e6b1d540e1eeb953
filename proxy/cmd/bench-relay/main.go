// Command bench-relay measures the SMTP relay's throughput against a plain
// pass-through relay in the same run: N recipients of a realistic 60 KB
// marketing email, -rcpts recipients per transaction (1: one message per
// recipient; 10: pixelgate sends ten rewritten copies where the
// pass-through relay forwards one transaction with ten RCPTs), at C
// parallel sessions, through
// `pixelgate serve` (a child process, embedded store or Redis) into a local
// sink, and through a go-smtp relay that only buffers each message and
// forwards it with go-smtp's stock client (servePassThrough). Everything listens on 127.0.0.1; the run is bounded by -n and
// -timeout.
//
//	go run ./proxy/cmd/bench-relay -pixelgate bin/pixelgate -n 2000 -c 4 [-rcpts 10] [-redis]
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/proxy/benchmail"
	"github.com/pixelgate/pixelgate/proxy/smtpsink"
)

func main() {
	bin := flag.String("pixelgate", "bin/pixelgate", "pixelgate binary to run")
	n := flag.Int("n", 2000, "recipients per relay")
	rcpts := flag.Int("rcpts", 1, "recipients per transaction")
	c := flag.Int("c", 4, "parallel SMTP sessions")
	useRedis := flag.Bool("redis", false, "run pixelgate on a redis-server started for the run (else the embedded store)")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound on the whole run")
	passUpstream := flag.String("pass-through-to", "", "internal: run only the pass-through relay, forwarding to this address")
	passSplit := flag.Bool("pass-split", false, "internal: with -pass-through-to, forward each recipient its own transaction")
	flag.Parse()
	if *passUpstream != "" {
		if err := servePassThrough(*passUpstream, *passSplit); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *rcpts < 1 {
		log.Fatal("-rcpts must be at least 1")
	}
	if err := run(*bin, *n, *c, *rcpts, *useRedis, *timeout); err != nil {
		log.Fatal(err)
	}
}

func run(bin string, n, c, rcpts int, useRedis bool, timeout time.Duration) error {
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

	// The reference relay runs as a child process too, so both relays'
	// CPU time can be read from /proc and neither shares the load
	// generator's process.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	pass, err := startChild(ctx, self, []string{"-pass-through-to", sink.Addr}, "pass-through: listening on ")
	if err != nil {
		return err
	}
	defer pass.stop()
	// With several recipients per transaction, a second reference forwards
	// each recipient its own unchanged copy in its own transaction, as
	// pixelgate must (each copy is rewritten for its recipient): the first
	// reference sends one transaction for all of them.
	var split *child
	if rcpts > 1 {
		if split, err = startChild(ctx, self, []string{"-pass-through-to", sink.Addr, "-pass-split"}, "pass-through: listening on "); err != nil {
			return err
		}
		defer split.stop()
	}

	dir, err := os.MkdirTemp("", "bench-relay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	args := []string{"serve", "--data-dir", dir, "--smtp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		// The same idle pool as the reference relays (passPool.max).
		"--upstream", "smtp://" + sink.Addr + "?tls=none", "--upstream-pool", strconv.Itoa(passPoolIdle)}
	storeName := "embedded"
	var rurl string
	if useRedis {
		var stop func()
		rurl, stop, err = startRedis(ctx, dir)
		if err != nil {
			return err
		}
		defer stop()
		args = append(args, "--redis-url", rurl)
		storeName = "redis"
	}
	pg, err := startChild(ctx, bin, args, "pixelgate: SMTP relay on ")
	if err != nil {
		return err
	}
	defer pg.stop()

	// Warm both paths (connections, pools, page cache) before measuring.
	// Every transaction is a new message to new recipients (its own
	// Message-ID), as in a campaign: the delivery ledger must not see a
	// retry where there is none.
	var seq atomic.Int64
	if _, err := load(ctx, pass.smtpAddr, msg, min(n, 50), c, rcpts, &seq); err != nil {
		return fmt.Errorf("warm-up pass-through: %w", err)
	}
	if _, err := load(ctx, pg.smtpAddr, msg, min(n, 50), c, rcpts, &seq); err != nil {
		return fmt.Errorf("warm-up pixelgate: %w", err)
	}
	if split != nil {
		if _, err := load(ctx, split.smtpAddr, msg, min(n, 50), c, rcpts, &seq); err != nil {
			return fmt.Errorf("warm-up split pass-through: %w", err)
		}
	}
	// Alternate the two relays in rounds so that load from other processes
	// on the machine hits both alike; wall time gives msg/s, the child's
	// user+system CPU time gives the cost per message.
	before := sink.Count()
	const rounds = 6
	// Whole transactions only.
	n -= n % (rounds * rcpts)
	type side struct {
		name string
		p    *child
		wall time.Duration
		cpu  time.Duration
	}
	sides := []*side{{name: "pass-through", p: pass}, {name: "pixelgate", p: pg}}
	if split != nil {
		sides = append(sides, &side{name: "pass-through, a transaction per recipient", p: split})
	}
	per := n / rounds
	for r := 0; r < rounds; r++ {
		order := slices.Clone(sides)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, sd := range order {
			cpu0, err := cpuTime(sd.p.cmd.Process.Pid)
			if err != nil {
				return err
			}
			d, err := load(ctx, sd.p.smtpAddr, msg, per, c, rcpts, &seq)
			if err != nil {
				return fmt.Errorf("%s: %w", sd.name, err)
			}
			cpu1, err := cpuTime(sd.p.cmd.Process.Pid)
			if err != nil {
				return err
			}
			sd.wall += d
			sd.cpu += cpu1 - cpu0
		}
	}
	n = per * rounds
	passRate := float64(n) / sides[0].wall.Seconds()
	pgRate := float64(n) / sides[1].wall.Seconds()
	passCPU := sides[0].cpu.Seconds() * 1000 / float64(n)
	pgCPU := sides[1].cpu.Seconds() * 1000 / float64(n)
	// The pass-through relay forwards one message per transaction,
	// pixelgate and the split pass-through one per recipient.
	want := int64(n/rcpts + n)
	if split != nil {
		want += int64(n)
	}
	if got := sink.Count() - before; got != want {
		return fmt.Errorf("sink received %d messages, want %d", got, want)
	}
	rss, err := peakRSS(pg.cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("message %d bytes, %d recipients per transaction, n=%d recipients per relay, c=%d, store %s\n", len(msg), rcpts, n, c, storeName)
	fmt.Printf("pass-through: %8.1f rcpt/s  %6.2f ms CPU/rcpt\n", passRate, passCPU)
	fmt.Printf("pixelgate:    %8.1f rcpt/s  %6.2f ms CPU/rcpt\n", pgRate, pgCPU)
	fmt.Printf("ratio:        %8.3f (target >= 0.9)\n", pgRate/passRate)
	if split != nil {
		splitRate := float64(n) / sides[2].wall.Seconds()
		splitCPU := sides[2].cpu.Seconds() * 1000 / float64(n)
		fmt.Printf("pass-through, a transaction per recipient: %8.1f rcpt/s  %6.2f ms CPU/rcpt\n", splitRate, splitCPU)
		fmt.Printf("ratio to it:  %8.3f\n", pgRate/splitRate)
	}
	fmt.Printf("pixelgate peak RSS: %.1f MiB\n", float64(rss)/(1<<20))
	if rurl != "" {
		printRedisCalls(ctx, rurl, n+min(n, 50))
	}
	return nil
}

// printRedisCalls says which commands pixelgate sent per message: Redis's
// CPU is not in pixelgate's figure, but it shares the machine.
func printRedisCalls(ctx context.Context, rurl string, messages int) {
	opt, err := redis.ParseURL(rurl)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var calls int
		var usec int64
		for f := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "calls":
				calls, _ = strconv.Atoi(v)
			case "usec":
				usec, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		if calls >= messages/10 {
			fmt.Printf("redis %-14s %5.2f calls/msg  %5.1f µs/msg in redis-server\n", strings.TrimPrefix(name, "cmdstat_"),
				float64(calls)/float64(messages), float64(usec)/float64(messages))
		}
	}
}

// load sends a message to n recipients over c sessions, rcpts recipients
// per transaction, each transaction a new message (seq numbers them), and
// returns the time it took.
func load(ctx context.Context, addr string, msg []byte, n, c, rcpts int, seq *atomic.Int64) (time.Duration, error) {
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
			var buf []byte
			for {
				i := next.Add(int64(rcpts))
				if i > int64(n) || ctx.Err() != nil {
					break
				}
				id := seq.Add(1)
				to := make([]string, rcpts)
				for j := range to {
					to[j] = fmt.Sprintf("reader%d-%d@example.net", id, j)
				}
				buf = fmt.Appendf(buf[:0], "Message-ID: <bench-%d@shop.example>\r\n", id)
				buf = append(buf, msg...)
				if err := cl.SendMail("news@shop.example", to, bytes.NewReader(buf)); err != nil {
					errs <- fmt.Errorf("message %d: %w", id, err)
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

// passPoolIdle is how many idle upstream connections each relay keeps:
// the reference relays' pool and pixelgate's --upstream-pool.
const passPoolIdle = 8

// servePassThrough is the reference relay, a plain go-smtp
// pass-through relay: a go-smtp server that buffers each message and
// forwards it with go-smtp's stock client (smtp.NewClient, SendMail's
// MAIL/RCPT/DATA), over a small pool of reused connections that works as
// pixelgate's upstream pool does, so the comparison is fair: only
// pixelgate's own work and its DATA writer differ. It prints its address
// and serves until killed.
func servePassThrough(upstream string, split bool) error {
	pool := &passPool{addr: upstream, max: passPoolIdle}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &passSession{pool: pool, split: split}, nil
	}))
	srv.Domain = "pass.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("pass-through: listening on %s\n", l.Addr())
	return srv.Serve(l)
}

type passSession struct {
	pool  *passPool
	split bool // a transaction per recipient, 8 at a time (pixelgate's --copy-concurrency)
	from  string
	to    []string
}

func (s *passSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.to = from, nil
	return nil
}
func (s *passSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }
func (s *passSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if !s.split {
		return s.pool.send(s.from, s.to, b)
	}
	errs := make([]error, len(s.to))
	slots := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, to := range s.to {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			errs[i] = s.pool.send(s.from, []string{to}, b)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
func (s *passSession) Reset()        {}
func (s *passSession) Logout() error { return nil }

// passPool keeps up to max idle go-smtp client connections to the sink.
type passPool struct {
	addr string
	max  int

	mu   sync.Mutex
	idle []*smtp.Client
}

// send delivers one message on an idle connection or a new one. Like
// pixelgate's pool, a pooled connection found dead at MAIL is replaced
// once; after that nothing is retried, so nothing is sent twice.
func (p *passPool) send(from string, to []string, msg []byte) error {
	for attempt := 0; ; attempt++ {
		p.mu.Lock()
		var c *smtp.Client
		if n := len(p.idle); n > 0 {
			c, p.idle = p.idle[n-1], p.idle[:n-1]
		}
		p.mu.Unlock()
		pooled := c != nil
		if c == nil {
			conn, err := net.DialTimeout("tcp", p.addr, 30*time.Second)
			if err != nil {
				return err
			}
			c = smtp.NewClient(conn)
		}
		if err := c.Mail(from, &smtp.MailOptions{Size: int64(len(msg))}); err != nil {
			c.Close()
			if pooled && attempt == 0 {
				continue
			}
			return fmt.Errorf("MAIL: %w", err)
		}
		if err := passTransaction(c, to, msg); err != nil {
			c.Close()
			return err
		}
		p.mu.Lock()
		if len(p.idle) < p.max {
			p.idle, c = append(p.idle, c), nil
		}
		p.mu.Unlock()
		if c != nil {
			_ = c.Quit()
		}
		return nil
	}
}

// passTransaction is the rest of the transaction after MAIL: the RCPTs,
// then the message through go-smtp's DATA writer.
func passTransaction(c *smtp.Client, to []string, msg []byte) error {
	for _, a := range to {
		if err := c.Rcpt(a, nil); err != nil {
			return fmt.Errorf("RCPT: %w", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return fmt.Errorf("write message: %w", err)
	}
	return w.Close()
}

// child is a relay running as a child process.
type child struct {
	cmd      *exec.Cmd
	smtpAddr string
}

// startChild runs bin and waits for the line starting with prefix that
// gives its SMTP address.
func startChild(ctx context.Context, bin string, args []string, prefix string) (*child, error) {
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
	p := &child{cmd: cmd}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			p.smtpAddr, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	if p.smtpAddr == "" {
		p.stop()
		return nil, fmt.Errorf("%s did not report its SMTP address", bin)
	}
	go io.Copy(io.Discard, out)
	return p, nil
}

func (p *child) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

// cpuTime is the user+system CPU time of a process so far
// (/proc/PID/stat fields 14 and 15, in clock ticks of 1/100 s on Linux).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	// The command name may hold spaces; fields resume after its ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat line")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad /proc stat CPU fields")
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
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
