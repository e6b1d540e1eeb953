package espapi

import (
	"context"
	"errors"
	"net/mail"
	"slices"
	"strings"
	"sync"

	"github.com/pixelgate/pixelgate/proxy"
)

// recipient is one recipient of a call.
type recipient struct {
	// addr is the address: it goes to the ESP and into the copy's consent
	// link, never into a log or a metric (R8).
	addr string
	name string
	// vars are the client's own per-recipient substitutions (SendGrid
	// substitutions, Mailgun recipient-variables). pixelgate applies them
	// before the rewrite: a tracker can hide in a substituted value.
	vars *substituter
	// src is where the recipient came from in the call (SendGrid: its
	// personalization), for fronts that write it back there.
	src int
}

// recipientCopy is one recipient's rewritten content.
type recipientCopy struct {
	rcpt    recipient
	content content
	copy    *proxy.Copy
}

// addAddresses adds the addresses of an RFC 5322 address list (a
// comma-separated To, Cc or Bcc with optional display names, read by
// net/mail) to rcpts, each address once per call whatever its case: one
// person, one copy.
func addAddresses(rcpts []recipient, seen map[string]bool, list string) ([]recipient, error) {
	addrs, err := mail.ParseAddressList(list)
	if err != nil {
		return rcpts, err
	}
	for _, a := range addrs {
		k := strings.ToLower(a.Address)
		if seen[k] {
			continue
		}
		seen[k] = true
		rcpts = append(rcpts, recipient{addr: a.Address, name: a.Name})
	}
	return rcpts, nil
}

// rewriteAll makes every recipient's copy of one content, CopyConcurrency
// at a time. Any failure fails the whole call before anything is sent.
func (s *Server) rewriteAll(ctx context.Context, base content, rcpts []recipient, campaign, campaignName string) ([]recipientCopy, error) {
	jobs := make([]rewriteJob, len(rcpts))
	for i, rc := range rcpts {
		jobs[i] = rewriteJob{base: base, rcpt: rc, campaign: campaign, campaignName: campaignName}
	}
	return s.rewriteJobs(ctx, jobs)
}

// rewriteJob is one recipient's copy to make: calls that carry several
// messages (a Postmark batch) give each recipient their message's content
// and campaign.
type rewriteJob struct {
	base                   content
	rcpt                   recipient
	campaign, campaignName string
}

// rewriteJobs makes every job's copy, CopyConcurrency at a time, in the
// order of jobs. Any failure fails the whole call before anything is sent.
func (s *Server) rewriteJobs(ctx context.Context, jobs []rewriteJob) ([]recipientCopy, error) {
	// Recipients without variables of their own get the same message:
	// one proxy.Batch per distinct message lets the relay share the
	// engine's work between them.
	type key struct {
		base     content
		campaign string
	}
	batches := map[key]*proxy.Batch{}
	batchOf := make([]*proxy.Batch, len(jobs))
	for i, j := range jobs {
		if j.rcpt.vars != nil {
			continue
		}
		k := key{j.base, j.campaign}
		b := batches[k]
		if b == nil {
			msg, err := compose(j.base)
			if err != nil {
				return nil, err
			}
			b = s.cfg.Relay.NewBatch(msg, j.campaign, j.campaignName)
			batches[k] = b
		}
		batchOf[i] = b
	}
	out := make([]recipientCopy, len(jobs))
	err := s.eachCopy(len(jobs), func(i int) (err error) {
		j := jobs[i]
		out[i], err = s.rewriteOne(ctx, j, batchOf[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachCopy runs f for 0..n-1, CopyConcurrency at a time, and returns the
// first error by index once all are done.
func (s *Server) eachCopy(n int, f func(i int) error) error {
	errs := make([]error, n)
	s.parallel(n, func(i int) { errs[i] = f(i) })
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// parallel runs f(0) to f(n-1), CopyConcurrency at a time, and returns
// when all have.
func (s *Server) parallel(n int, f func(i int)) {
	sem := make(chan struct{}, s.cfg.CopyConcurrency)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// rewriteOne makes one job's copy: through its batch when it has one,
// else from its own message (the recipient's variables filled in).
func (s *Server) rewriteOne(ctx context.Context, j rewriteJob, b *proxy.Batch) (recipientCopy, error) {
	c := j.base
	var cp *proxy.Copy
	var err error
	if b != nil {
		cp, err = b.RewriteFor(ctx, j.rcpt.addr)
	} else {
		if j.rcpt.vars != nil {
			c.html = j.rcpt.vars.Replace(c.html)
			c.text = j.rcpt.vars.Replace(c.text)
		}
		var msg []byte
		if msg, err = compose(c); err != nil {
			return recipientCopy{}, err
		}
		cp, err = s.cfg.Relay.RewriteFor(ctx, msg, j.rcpt.addr, j.campaign, j.campaignName)
	}
	if err != nil {
		if errors.Is(err, proxy.ErrUnparseable) {
			return recipientCopy{}, badRequest("unparseable", "content", "the content cannot be parsed: "+err.Error())
		}
		return recipientCopy{}, err
	}
	got, err := extract(cp.Msg, c)
	if err != nil {
		return recipientCopy{}, err
	}
	return recipientCopy{rcpt: j.rcpt, content: got, copy: cp}, nil
}

// substituter applies one recipient's substitutions the way the ESPs
// describe theirs: every key a literal string, replaced wherever it
// occurs, the longest key winning where two start at one place, values
// never substituted again. (strings.Replacer does the same but, with keys
// of several bytes, byte by byte through a trie: five times slower on a
// 60 KB body.)
type substituter struct {
	keys, vals []string
	// first marks the bytes a key starts with: the scan skips the rest.
	first [256]bool
}

// substitutions makes the substituter of a client's substitution map; nil
// when it has none.
func substitutions(m map[string]string) *substituter {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	s := &substituter{keys: keys, vals: make([]string, len(keys))}
	for i, k := range keys {
		s.vals[i] = m[k]
		s.first[k[0]] = true
	}
	return s
}

// Replace returns in with every key replaced by its value.
func (s *substituter) Replace(in string) string {
	var b strings.Builder
	done := 0
	for p := 0; p < len(in); p++ {
		if !s.first[in[p]] {
			continue
		}
		for k, key := range s.keys {
			if strings.HasPrefix(in[p:], key) {
				if b.Len() == 0 {
					b.Grow(len(in))
				}
				b.WriteString(in[done:p])
				b.WriteString(s.vals[k])
				done = p + len(key)
				p = done - 1
				break
			}
		}
	}
	if done == 0 {
		return in
	}
	b.WriteString(in[done:])
	return b.String()
}
