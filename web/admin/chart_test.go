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
