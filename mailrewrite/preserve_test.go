package mailrewrite

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode ISO-8859-1 and Windows-1252 parts in the validity check
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const fixtureRcpt = "reader@example.com"

func newTestRewriter(t testing.TB) *Rewriter {
	t.Helper()
	rw, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rw
}

type fixture struct {
	name string
	data []byte
}

// fixtures reads testdata/messages.
func fixtures(t *testing.T) []fixture {
	t.Helper()
	names, err := filepath.Glob("testdata/messages/*.eml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	out := make([]fixture, 0, len(names))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fixture{name, b})
	}
	return out
}

func decisionFor(c Consent) Decision {
	return Decision{Recipient: fixtureRcpt, Consent: c, Campaign: "spring", URLs: testURLs(fixtureRcpt)}
}

// TestBytePreservation: putting the input's body back into every part the
// rewrite changed must give the input exactly, so headers, preamble,
// epilogue, boundaries and every other part are byte-identical.
func TestBytePreservation(t *testing.T) {
	rw := newTestRewriter(t)
	for _, fx := range fixtures(t) {
		name, in := fx.name, fx.data
		for _, c := range []Consent{Refused, Granted} {
			t.Run(filepath.Base(name)+"/"+c.String(), func(t *testing.T) {
				out, rep, err := rw.Rewrite(in, decisionFor(c))
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.PartsRewritten) == 0 {
					t.Fatal("fixture without any rewritten part proves nothing")
				}
				restored := restoreParts(t, in, out, rep.PartsRewritten)
				if !bytes.Equal(restored, in) {
					t.Errorf("bytes outside the rewritten parts %v changed:\n%s", rep.PartsRewritten, firstDiff(in, restored))
				}
				checkValidMIME(t, out)
			})
		}
	}
}

// restoreParts replaces, in out, the body of each listed part by the body
// the same part has in in.
func restoreParts(t *testing.T, in, out []byte, paths []string) []byte {
	t.Helper()
	inRoot, err := parseMessage(in)
	if err != nil {
		t.Fatal(err)
	}
	outRoot, err := parseMessage(out)
	if err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	var es edits
	for _, p := range paths {
		a, b := findLeaf(inRoot, p), findLeaf(outRoot, p)
		if a == nil || b == nil {
			t.Fatalf("part %s missing (in %v, out %v)", p, a != nil, b != nil)
		}
		es.put(b.bodyStart, b.end, in[a.bodyStart:a.end])
	}
	return es.apply(out)
}

func findLeaf(e *entity, path string) *entity {
	if len(e.children) == 0 {
		if e.leafPath() == path {
			return e
		}
		return nil
	}
	for _, c := range e.children {
		if l := findLeaf(c, path); l != nil {
			return l
		}
	}
	return nil
}

func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-60)
	return "at byte " + itoa(i) + ":\n want …" + string(a[lo:min(len(a), i+60)]) + "…\n got  …" + string(b[lo:min(len(b), i+60)]) + "…"
}

// checkValidMIME reads every part of out with go-message, an independent
// parser, decoding transfer encodings and charsets.
func checkValidMIME(t *testing.T, out []byte) {
	t.Helper()
	ent, err := message.Read(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("output is not a valid message: %v", err)
	}
	var walk func(e *message.Entity)
	walk = func(e *message.Entity) {
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if errors.Is(err, io.EOF) {
					return
				}
				if err != nil {
					t.Fatalf("output multipart: %v", err)
				}
				walk(p)
			}
		}
		if _, err := io.ReadAll(e.Body); err != nil {
			t.Fatalf("output part body: %v", err)
		}
	}
	walk(ent)
}

// TestGolden compares each rewrite with its reviewed golden file.
func TestGolden(t *testing.T) {
	rw := newTestRewriter(t)
	for _, fx := range fixtures(t) {
		name, in := fx.name, fx.data
		for _, c := range []Consent{Refused, Granted} {
			base := strings.TrimSuffix(filepath.Base(name), ".eml")
			golden := filepath.Join("testdata", "golden", base+"."+c.String()+".eml")
			out, _, err := rw.Rewrite(in, decisionFor(c))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update once and review the files)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("%s differs from %s:\n%s", name, golden, firstDiff(want, out))
			}
		}
	}
}

// TestIdempotent: rewriting the output again changes nothing.
func TestIdempotent(t *testing.T) {
	rw := newTestRewriter(t)
	for _, fx := range fixtures(t) {
		name, in := fx.name, fx.data
		for _, d := range []Decision{decisionFor(Refused), decisionFor(Granted),
			{Recipient: fixtureRcpt, Deliverability: true, Ask: func() bool { return true }, URLs: testURLs(fixtureRcpt)}} {
			once, _, err := rw.Rewrite(in, d)
			if err != nil {
				t.Fatal(err)
			}
			twice, rep, err := rw.Rewrite(once, d)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(once, twice) {
				t.Errorf("%s %v: second rewrite changed parts %v:\n%s", name, d.Consent, rep.PartsRewritten, firstDiff(once, twice))
			}
		}
	}
}

// TestRefusedLeavesNoTracker: after a refused rewrite the classifier finds
// no tracker and no per-recipient URL in any fixture.
func TestRefusedLeavesNoTracker(t *testing.T) {
	rw := newTestRewriter(t)
	for _, fx := range fixtures(t) {
		name, in := fx.name, fx.data
		before, err := rw.Scan(in, fixtureRcpt)
		if err != nil {
			t.Fatal(err)
		}
		if before.Trackers == 0 {
			t.Errorf("%s: fixture has no tracker to remove", name)
		}
		out, _, err := rw.Rewrite(in, decisionFor(Refused))
		if err != nil {
			t.Fatal(err)
		}
		after, err := rw.Scan(out, fixtureRcpt)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range after.Findings {
			if f.Class == ClassTracker || f.Class == ClassPerRecipient {
				t.Errorf("%s: still there after refusal: %+v", name, f)
			}
		}
	}
}
