package admin

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// wellFormed reports whether s parses as XML: the SVG is inline in HTML,
// and a label that broke out of its element would inject markup.
func wellFormed(s string) error {
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestChartSVG(t *testing.T) {
	c := barChart{ID: "t", Title: "Opens", Labels: []string{"a", "b", "c"},
		Series: []series{{Name: "Opens", Values: []float64{0, 5, 10}}, {Name: "Machine", Values: []float64{1, 0, 0}}}}
	svg := string(c.SVG())
	if err := wellFormed(svg); err != nil {
		t.Fatal(err)
	}
	// Axis tops at a round number and the tallest bar fills the plot.
	if !strings.Contains(svg, ">10</text>") {
		t.Error("axis does not reach 10")
	}
	if n := strings.Count(svg, `<rect class="s0"`); n != 1+3 { // legend + 3 bars
		t.Errorf("%d series-0 rects, want 4", n)
	}
	if !strings.Contains(svg, `height="190.0"`) {
		t.Error("the maximum bar does not span the plot height")
	}
	if strings.Contains(svg, "style=") {
		t.Error("inline style would be blocked by the CSP")
	}
	empty := string(barChart{ID: "e", Title: "Nothing"}.SVG())
	if err := wellFormed(empty); err != nil || !strings.Contains(empty, "No data yet") {
		t.Errorf("empty chart: %v", err)
	}
}

func TestNiceMax(t *testing.T) {
	for _, c := range []struct{ in, top float64 }{{0, 1}, {1, 1}, {3, 5}, {7, 10}, {11, 20}, {0.66, 1}, {240, 250}, {1234, 2000}} {
		if top, _ := niceMax(c.in); top != c.top {
			t.Errorf("niceMax(%v) = %v, want %v", c.in, top, c.top)
		}
	}
}

func FuzzChartLabels(f *testing.F) {
	for _, s := range []string{"Spring sale", `"><script>alert(1)</script>`, "é\u202e\x00", "]]>&amp;<"} {
		f.Add(s, 3.5)
	}
	f.Fuzz(func(t *testing.T, label string, v float64) {
		c := barChart{ID: "f", Title: label, Labels: []string{label, label}, Series: []series{{Name: label, Values: []float64{v, -v}}}}
		svg := string(c.SVG())
		if strings.Contains(svg, "<script") {
			t.Fatal("label injected markup")
		}
		if strings.ToValidUTF8(label, "") == label && !strings.ContainsFunc(label, func(r rune) bool {
			return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF
		}) {
			if err := wellFormed(svg); err != nil {
				t.Fatalf("label %q breaks the SVG: %v", label, err)
			}
		}
	})
}
