package learn

import (
	"strings"
	"testing"
)

func TestDiffShowsWhatDiffersPerRecipient(t *testing.T) {
	a := newsletter("jan", newRecipient(1))
	b := newsletter("jan", newRecipient(2))
	b = append(b, Resource{"https://www.shop.example/only-for-b", "a"})
	diffs := Diff(a, b)
	var lines []string
	for _, d := range diffs {
		switch {
		case d.A == "":
			lines = append(lines, "only-b "+d.B)
		case d.B == "":
			lines = append(lines, "only-a "+d.A)
		default:
			lines = append(lines, d.Carrier+" "+PartsString(d.Parts)+" "+map[bool]string{true: "per-recipient", false: "differs"}[d.PerRecipient])
		}
	}
	want := []string{
		"img query:e per-recipient",
		"img query:e per-recipient",
		"a query:sid per-recipient",
		"a query:e per-recipient",
		"a query:e per-recipient",
		"img path[2] per-recipient",
		"only-b https://www.shop.example/only-for-b",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("diff:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestDiffOfIdenticalCopiesIsEmpty(t *testing.T) {
	a := newsletter("jan", newRecipient(1))
	if d := Diff(a, a); len(d) != 0 {
		t.Fatalf("identical copies differ: %+v", d)
	}
}

func TestDiffReportsWordsWithoutCallingThemIdentifiers(t *testing.T) {
	d := Diff([]Resource{{"https://x.example/n?lang=de", "a"}}, []Resource{{"https://x.example/n?lang=fr", "a"}})
	if len(d) != 1 || d[0].PerRecipient || PartsString(d[0].Parts) != "query:lang" {
		t.Fatalf("got %+v", d)
	}
}

func TestDiffUnpairedOnBothSides(t *testing.T) {
	d := Diff([]Resource{{"https://x.example/a", "a"}}, []Resource{{"https://x.example/b", "a"}})
	if len(d) != 2 || d[0].B != "https://x.example/b" || d[1].A != "https://x.example/a" {
		t.Fatalf("got %+v", d)
	}
}
