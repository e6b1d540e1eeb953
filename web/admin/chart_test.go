package admin

import (
	"encoding/xml"
	"io"
	"math"
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
	for _, c := range []struct {
		in      float64
		integer bool
		top     float64
	}{{0, true, 1}, {1, true, 1}, {3, true, 3}, {7, true, 8}, {10, true, 10}, {11, true, 15}, {240, true, 250}, {1234, true, 1250},
		{0, false, 1}, {0.5, false, 0.5}, {0.66, false, 0.8}, {0.93, false, 1}, {1, false, 1}} {
		top, step := niceMax(c.in, c.integer)
		if math.Abs(top-c.top) > 1e-9 || top < c.in {
			t.Errorf("niceMax(%v, %v) = %v, want %v", c.in, c.integer, top, c.top)
		}
		if c.integer && step != math.Trunc(step) {
			t.Errorf("niceMax(%v): fractional step %v for counts", c.in, step)
		}
	}
}

func FuzzChartLabels(f *testing.F) {
	for _, s := range []string{"Spring sale", `"><script>alert(1)</script>`, "é\u202e\x00", "]]>&amp;<"} {
		f.Add(s, 3.5)
	}
	f.Fuzz(func(t *testing.T, label string, v float64) {
		c := barChart{ID: "f", Title: label, Labels: []string{label, label}, Series: []series{{Name: label, Values: []float64{v, -v}, Notes: []string{label}}}}
		rows := c
		rows.Rows = true
		svg := string(c.SVG()) + string(rows.SVG())
		if strings.Contains(svg, "<script") || strings.Contains(svg, "<svg><svg") {
			t.Fatal("label injected markup")
		}
		if strings.ToValidUTF8(label, "") == label && !strings.ContainsFunc(label, func(r rune) bool {
			return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF
		}) {
			if err := wellFormed("<g>" + svg + "</g>"); err != nil {
				t.Fatalf("label %q breaks the SVG: %v", label, err)
			}
		}
	})
}

// Percent axes print as a person writes them, not as binary floats do.
func TestPercentAxisLabels(t *testing.T) {
	c := barChart{Percent: true}
	three := 3.0 // a variable, so 0.2*three is computed in float64 (0.6000000000000001)
	for _, tc := range []struct {
		v    float64
		want string
	}{{0.6, "60%"}, {0.2 * three, "60%"}, {0.125, "12.5%"}, {1, "100%"}, {0, "0%"}} {
		if got := c.axisLabel(tc.v); got != tc.want {
			t.Errorf("axisLabel(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// A campaign name is wrapped, never cut: every character is drawn, and no
// line is longer than the chart allows.
func TestWrapKeepsEverything(t *testing.T) {
	for _, s := range []string{"", "Spring", "Autumn newsletter for our loyal customers in Brittany & Normandy",
		strings.Repeat("x", 250), "a " + strings.Repeat("é", 23) + " b", "  spaced   out  "} {
		lines := wrap(s, 20)
		// Only spaces may go, where a line breaks.
		if strings.Join(strings.Fields(strings.Join(lines, " ")), "") != strings.Join(strings.Fields(s), "") {
			t.Errorf("wrap(%q) = %q loses text", s, lines)
		}
		for _, l := range lines {
			if n := len([]rune(l)); n > 20 {
				t.Errorf("wrap(%q): line %q has %d runes, more than 20", s, l, n)
			}
		}
	}
}

func TestRowsChartSVG(t *testing.T) {
	name := "Autumn newsletter for our loyal customers in Brittany & Normandy, with a name longer than one line of the chart"
	c := barChart{ID: "r", Title: "Campaigns", Percent: true, Rows: true, Labels: []string{name, "Summer"},
		Series: []series{{Name: "Share", Values: []float64{0.5, 1}, Notes: []string{"1 of 2 emails", "3 of 3 emails"}}}}
	svg := string(c.SVG())
	if err := wellFormed(svg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"50.0 % (1 of 2 emails)", "100.0 % (3 of 3 emails)", "Autumn newsletter", "with a name longer than one line"} {
		if !strings.Contains(svg, want) {
			t.Errorf("rows chart lacks %q", want)
		}
	}
	if strings.Contains(svg, "…") || strings.Index(svg, "Autumn") > strings.Index(svg, "Summer") {
		t.Error("rows chart cuts a name or changes the order")
	}
}
