package espapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// reply is the ESP's answer to one upstream call.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r *reply) ok() bool { return r.status >= 200 && r.status < 300 }

// forwardedHeaders are the client's request headers that go on to the ESP:
// its credentials (unchanged, never logged or stored), SendGrid's subuser
// selector, and what the SDK says about itself and what it accepts.
// pixelgate's own Proxy-Authorization stops here.
var forwardedHeaders = []string{"Authorization", "X-Postmark-Server-Token", "On-Behalf-Of", "Accept", "User-Agent"}

// maxReplyBytes bounds an ESP's answer read into memory.
const maxReplyBytes = 4 << 20

// forward makes one call to the ESP: the client's path below the ESP's
// prefix, the client's credentials, body and content type as given.
func (s *Server) forward(ctx context.Context, c *call, path, contentType string, body []byte) (*reply, error) {
	base := s.cfg.Upstreams[c.esp]
	u := *base
	u.Path = base.Path + path
	u.RawQuery = c.r.URL.RawQuery
	ctx, cancel := context.WithTimeout(ctx, s.cfg.UpstreamTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	for _, h := range forwardedHeaders {
		if v := c.r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	req.Header.Set("Content-Type", contentType)
	start := s.cfg.Now()
	resp, err := s.cfg.Client.Do(req)
	c.sum.upstreamCall()
	if err != nil {
		s.cfg.Metrics.UpstreamCalls.WithLabelValues(string(c.esp), statusClass(0, err)).Inc()
		return nil, upstreamFailed(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	s.cfg.Metrics.UpstreamCalls.WithLabelValues(string(c.esp), statusClass(resp.StatusCode, err)).Inc()
	s.cfg.Metrics.UpstreamSeconds.WithLabelValues(string(c.esp)).Observe(s.cfg.Now().Sub(start).Seconds())
	if err != nil {
		return nil, upstreamFailed(err)
	}
	return &reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// upstreamFailed: the ESP could not be reached or did not answer in
// time. As with a direct call, a timeout leaves open whether the ESP
// accepted the call; the client is told so.
func upstreamFailed(err error) *apiError {
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
		return &apiError{status: http.StatusGatewayTimeout, reason: "upstream-timeout", retryAfter: 60,
			msg: "pixelgate: the ESP did not answer in time (--esp-api-timeout); it may or may not have accepted the call"}
	}
	return &apiError{status: http.StatusBadGateway, reason: "upstream-unreachable", retryAfter: 60,
		msg: "pixelgate: the ESP could not be reached; nothing was sent"}
}

// hopByHop are not copied from the ESP's answer (RFC 9110 §7.6.1), nor
// the length, which net/http sets.
var hopByHop = map[string]bool{"Connection": true, "Keep-Alive": true, "Transfer-Encoding": true,
	"Upgrade": true, "Trailer": true, "Te": true, "Proxy-Authenticate": true, "Content-Length": true}

// writeReply passes the ESP's answer back unchanged: status, headers
// (message ids), body.
func writeReply(w http.ResponseWriter, c *call, r *reply) {
	for k, v := range r.header {
		if !hopByHop[http.CanonicalHeaderKey(k)] {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
	c.sum.status = r.status
	if c.sum.outcome == "" {
		if r.ok() {
			c.sum.outcome = "forwarded"
		} else {
			c.sum.outcome = "esp-refused"
		}
	}
}

// sendOnce makes a call's one upstream call with all its copies, does the
// bookkeeping if the ESP accepted them, and passes its answer back.
func (s *Server) sendOnce(w http.ResponseWriter, c *call, copies []recipientCopy, contentType string, body []byte) error {
	rep, err := s.forward(c.r.Context(), c, upstreamPath(c), contentType, body)
	if err != nil {
		return err
	}
	if rep.ok() {
		s.delivered(c, copies)
	}
	writeReply(w, c, rep)
	return nil
}

// upstreamPath is the ESP's own path of the call: the route below the
// ESP's prefix.
func upstreamPath(c *call) string {
	return strings.TrimPrefix(c.r.URL.Path, "/"+string(c.esp))
}

// writeSplitReply answers a split call: the first failure if any (its
// copies wait for the retry), else the last success, else (everything
// delivered earlier) the ESP's success answer from none.
func writeSplitReply(w http.ResponseWriter, c *call, res *splitResult, none func() *reply) {
	switch {
	case res.failed != nil:
		c.sum.outcome = "partial"
		writeReply(w, c, res.failed)
	case len(res.replies) > 0:
		writeReply(w, c, res.replies[len(res.replies)-1])
	default:
		c.sum.outcome = "already-delivered"
		writeReply(w, c, none())
	}
}

// delivered does the relay's bookkeeping for copies the ESP accepted.
func (s *Server) delivered(c *call, copies []recipientCopy) {
	c.sum.deliveredCopies(len(copies))
	for _, cp := range copies {
		s.cfg.Relay.CopyDelivered(c.log, cp.copy)
	}
}

// mustJSON encodes what pixelgate writes into an ESP body: values it built
// itself, which always encode. HTML is not escaped, so content stays as
// the client wrote it.
func mustJSON(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return json.RawMessage(bytes.TrimRight(b.Bytes(), "\n"))
}
