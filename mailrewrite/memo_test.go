package mailrewrite

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The Rewriter keeps what the rules say about each link across messages
// (linkFacts). A later copy of a campaign, for any recipient, must get
// exactly what a Rewriter that never saw the campaign gives: the memo must
// not carry one recipient's identity, consent or click wrapping into
// another's message. The relay's ways of calling (ReportOptions.CountOnly, ReportOptions.SkipResources, AppendRewrite)
// must give the same message too.
func checkMemoAnswers(t *testing.T, warm, cold *Rewriter, msg []byte, rcpts ...string) {
	t.Helper()
	granted := decisionFor(Granted)
	granted.TrackClicks = true
	other := Decision{Recipient: "someone.else@example.org", Consent: Refused, Campaign: "spring",
		URLs: testURLs("someone.else@example.org")}
	decisions := []Decision{decisionFor(Refused), granted, other, decisionFor(Unknown)}
	for _, r := range rcpts {
		decisions = append(decisions,
			Decision{Recipient: r, Consent: Refused, Campaign: "c", URLs: testURLs(r)},
			Decision{Recipient: r, Consent: Granted, TrackClicks: true, Campaign: "c", URLs: testURLs(r)})
	}
	for _, d := range decisions { // warm every link of msg, for every recipient
		_, _, _ = warm.Rewrite(msg, d)
	}
	for i, d := range decisions {
		wOut, wRep, wErr := warm.Rewrite(msg, d)
		cOut, cRep, cErr := cold.Rewrite(msg, d)
		if (wErr == nil) != (cErr == nil) {
			t.Fatalf("decision %d: error with memo %v, without %v", i, wErr, cErr)
		}
		if cErr != nil {
			var pe *ParseError
			if !errors.As(cErr, &pe) {
				t.Fatalf("decision %d: %v", i, cErr)
			}
			continue
		}
		if !bytes.Equal(wOut, cOut) {
			t.Fatalf("decision %d: output differs with the memo:\n%s", i, firstDiff(cOut, wOut))
		}
		if !reflect.DeepEqual(wRep, cRep) {
			t.Fatalf("decision %d: report differs with the memo:\n%+v\nwant\n%+v", i, wRep, cRep)
		}
		// Appending to a buffer that already holds bytes gives the same
		// message after them (the relay's reused buffers).
		prefix := []byte("earlier bytes\r\n--zz\r\n")
		aOut, _, err := warm.AppendRewrite(bytes.Clone(prefix), msg, d, ReportOptions{})
		if err != nil || !bytes.Equal(aOut, append(bytes.Clone(prefix), cOut...)) {
			t.Fatalf("decision %d: AppendRewrite differs from Rewrite (%v)", i, err)
		}
		// The relay's counting mode changes the report's form only.
		nOut, nRep, err := warm.AppendRewrite(nil, msg, d, ReportOptions{CountOnly: true, SkipResources: true})
		if err != nil {
			t.Fatalf("decision %d, counting: %v", i, err)
		}
		if !bytes.Equal(nOut, cOut) || len(nRep.Findings) != 0 || len(nRep.Resources) != 0 {
			t.Fatalf("decision %d, counting: output differs or %d findings, %d resources listed", i, len(nRep.Findings), len(nRep.Resources))
		}
		if got, want := nRep.CountFindings(), cRep.CountFindings(); !reflect.DeepEqual(got, want) {
			t.Fatalf("decision %d, counting: counts %v, want %v", i, got, want)
		}
	}
}

func memoFreeRewriter(t testing.TB) *Rewriter {
	rw := newTestRewriter(t)
	rw.noMemo = true
	return rw
}

func TestLinkMemoAcrossRecipients(t *testing.T) {
	warm, cold := newTestRewriter(t), memoFreeRewriter(t)
	names, _ := filepath.Glob("testdata/messages/*.eml")
	// A campaign whose links carry one reader's address: the memo must not
	// let the next reader's copy keep or lose it wrongly.
	msgs := [][]byte{[]byte("Content-Type: text/html\r\n\r\n" +
		`<a href="https://click.example/ls/click?upn=abc&amp;e=reader%40example.com">Shop</a>` +
		`<a href="https://www.google.com/url?q=https%3A%2F%2Fshop.example%2F%3Femail%3Dreader%40example.com&amp;sa=D">Sale</a>` +
		`<a href="https://shop.example/unsubscribe?u=reader@example.com">Unsubscribe</a>` +
		`<a href="https://shop.example/p/1?utm_source=news">Product</a>`)}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	if len(msgs) < 2 {
		t.Fatal("no fixtures in testdata/messages")
	}
	for _, m := range msgs {
		checkMemoAnswers(t, warm, cold, m)
	}
	if warm.linkMemo.Len() == 0 {
		t.Fatal("the memo kept nothing: the test compared nothing")
	}
}

// FuzzLinkMemo: for any message, answers with the memo equal answers
// without it.
func FuzzLinkMemo(f *testing.F) {
	names, _ := filepath.Glob("testdata/messages/*.eml")
	for _, name := range names {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("Content-Type: text/html\r\n\r\n<a href=\"https://click.example/c?u=reader@example.com\">x</a><a href=\"https://x.example/?_hsenc=p2A&amp;u=1\">b</a>"))
	warm, cold := newTestRewriter(f), memoFreeRewriter(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		checkMemoAnswers(t, warm, cold, msg)
	})
}
