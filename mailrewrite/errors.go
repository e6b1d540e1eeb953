package mailrewrite

import "fmt"

// ParseError says why a message could not be rewritten and where. The relay
// answers "554 5.6.0 <Error()>", so the text names the MIME part (IMAP-style
// path such as "1.2", "" for the message header) and a byte offset into the
// original message when one is known.
type ParseError struct {
	Part   string // MIME part path, "" for the top-level header
	Offset int    // byte offset in the message, -1 when unknown
	Msg    string
}

func (e *ParseError) Error() string {
	where := "message"
	if e.Part != "" {
		where = "part " + e.Part
	}
	if e.Offset >= 0 {
		return fmt.Sprintf("%s at byte %d: %s", where, e.Offset, e.Msg)
	}
	return fmt.Sprintf("%s: %s", where, e.Msg)
}

func parseErr(part string, off int, format string, args ...any) *ParseError {
	return &ParseError{Part: part, Offset: off, Msg: fmt.Sprintf(format, args...)}
}
