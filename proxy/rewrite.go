package proxy

import (
	"errors"
	"fmt"

	"github.com/pixelgate/pixelgate/mailrewrite"
)

// MailRewrite adapts the rewrite engine to the relay: parse failures become
// ErrUnparseable (554 5.6.0 with the reason), the report tells whether the
// consent request block went in (R5 MarkAsked) and which reasons fired.
func MailRewrite(rw *mailrewrite.Rewriter) RewriteFunc {
	return func(dst, msg []byte, d mailrewrite.Decision, o mailrewrite.ReportOptions) (Rewritten, error) {
		out, rep, err := rw.AppendRewrite(dst, msg, d, o)
		if err != nil {
			var pe *mailrewrite.ParseError
			if errors.As(err, &pe) {
				return Rewritten{}, fmt.Errorf("%w: %s", ErrUnparseable, pe.Error())
			}
			return Rewritten{}, fmt.Errorf("rewrite: %w", err)
		}
		res := Rewritten{Msg: out}
		if rep != nil {
			res.AskedConsent = rep.ConsentRequested
			res.Findings = rep.CountFindings()
			res.Resources = rep.Resources
		}
		return res, nil
	}
}
