// Package upstream is where finished messages go: the Deliverer interface
// the relay hands each recipient's copy to, and its two implementations.
// Upstream is an SMTP client with a connection pool (upstream.go) that
// speaks RFC 5321 itself (upstream_client.go: pipelined envelope,
// STARTTLS or implicit TLS, AUTH; upstream_data.go: dot-stuffing;
// upstream_reply.go: bounded reply parsing), and maps every upstream
// answer to the reply the relay's client should get, so a failure is a
// temporary refusal and never a lost message. Outbox writes each message
// as a whole file when no upstream is configured (outbox.go).
//
// Readiness (ready.go) answers /readyz: whether the store answers, the
// Deliverer could take a message now, and the disks have room for one
// more. The package knows nothing of consent decisions or rewriting; it
// imports consent only for the recipient key on the Envelope.
package upstream
