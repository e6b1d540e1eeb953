// Package campaignid writes a campaign id into one URL path segment and
// reads it back, for the dashboard's and the JSON API's campaign paths.
package campaignid

import (
	"net/http"
	"net/url"
	"strings"
)

// Campaign ids come from a message header that anyone sending through the
// relay writes, so they may hold "/", "?", "#", "%", spaces, non-ASCII
// letters, or be "." or "..". Every link to a campaign therefore carries the
// id as one escaped path segment (RFC 3986 §3.3), and the handlers read it
// back from the escaped path, never from the decoded one, where an escaped
// "/" would already have split it.

// dotMark prefixes the ids that no escaping keeps in a path: browsers and
// HTTP clients drop "." and ".." segments, escaped or not (RFC 3986 §5.2.4),
// and an empty segment is no segment. url.PathEscape always escapes "!", so
// "!", "!." and "!.." as segments can only be marked ids; a client that
// leaves "!" unescaped (JavaScript's encodeURIComponent) is misread only for
// those three ids.
const dotMark = "!"

// Segment is id as one path segment that comes back unchanged through
// FromPath.
func Segment(id string) string {
	switch id {
	case "", ".", "..":
		return dotMark + id
	}
	return url.PathEscape(id)
}

// FromPath reads the campaign id that Segment put right
// after prefix (e.g. "/admin/campaigns/") in r's path; false when the path
// holds none.
func FromPath(r *http.Request, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), prefix)
	if !ok {
		return "", false
	}
	seg, _, _ := strings.Cut(rest, "/")
	if dots, ok := strings.CutPrefix(seg, dotMark); ok && (dots == "" || dots == "." || dots == "..") {
		return dots, true
	}
	id, err := url.PathUnescape(seg)
	return id, err == nil
}
