package espapi

import (
	"context"
	"errors"
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
	vars *strings.Replacer
}

// recipientCopy is one recipient's rewritten content.
type recipientCopy struct {
	rcpt    recipient
	content content
	copy    *proxy.Copy
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
	out := make([]recipientCopy, len(jobs))
	errs := make([]error, len(jobs))
	s.parallel(len(jobs), func(i int) {
		j := jobs[i]
		out[i], errs[i] = s.rewriteOne(ctx, j.base, j.rcpt, j.campaign, j.campaignName)
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
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

func (s *Server) rewriteOne(ctx context.Context, base content, rc recipient, campaign, campaignName string) (recipientCopy, error) {
	c := base
	if rc.vars != nil {
		c.html = rc.vars.Replace(c.html)
		c.text = rc.vars.Replace(c.text)
	}
	msg, err := compose(c, rc.addr)
	if err != nil {
		return recipientCopy{}, err
	}
	cp, err := s.cfg.Relay.RewriteFor(ctx, msg, rc.addr, campaign, campaignName)
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
	return recipientCopy{rcpt: rc, content: got, copy: cp}, nil
}

// substitutions turns a map of the client's substitutions into a
// replacer, keys tried longest first so that "-name-" never shadows
// "-name-full-" (SendGrid applies each key as a literal string).
func substitutions(m map[string]string) *strings.Replacer {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	args := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k, m[k])
	}
	return strings.NewReplacer(args...)
}
