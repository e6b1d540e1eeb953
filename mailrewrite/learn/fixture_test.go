package learn

import (
	"bytes"
	"testing"

	"github.com/pixelgate/pixelgate/mailrewrite/learn/learntest"
)

type recipient = learntest.Recipient

func newRecipient(n int) recipient { return learntest.NewRecipient(n) }

func newsletter(campaign string, r recipient) []Resource {
	return learntest.Newsletter[Resource](campaign, r)
}

func testLearner(t testing.TB, lim Limits) *Learner {
	t.Helper()
	l, err := NewLearner([]byte("test secret"), lim)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testState(t testing.TB, seed byte) *State {
	t.Helper()
	st, err := NewState(bytes.NewReader(bytes.Repeat([]byte{seed}, 16)))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// cleaned returns what a copy's URLs become once the learned parts are
// removed, and how many changed.
func cleaned(t testing.TB, sh *Shapes, c []Resource) ([]string, int) {
	t.Helper()
	return learntest.Cleaned(t, sh.PerRecipient, RemoveParts, c)
}
