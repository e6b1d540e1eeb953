package admin

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// barChart is a bar chart drawn as inline SVG on the server: no script, no
// third-party library, readable without CSS, and the same numbers are
// always given as a table next to it.
type barChart struct {
	// ID is unique on the page; Title is read by screen readers.
	ID     string
	Title  string
	Labels []string
	Series []series
	// Percent formats the axis as a share (values in 0..1).
	Percent bool
	// Rows draws one row per label, top to bottom in the order given,
	// each label written in full (wrapped, never cut) above its bars:
	// for campaign names, which are long and must read in the same order
	// as the table below the chart.
	Rows bool
}

type series struct {
	Name   string
	Values []float64
	// Notes, when set, are the counts behind each value ("5 of 6
	// emails"), written next to the bar and in its tooltip.
	Notes []string
}

// note is the text of value i of s: the formatted value and its count.
func (c barChart) note(s series, i int) string {
	t := c.axisLabel(s.Values[i])
	if c.Percent {
		// As the tables write it, so chart and table read alike.
		t = percent(s.Values[i])
	}
	if i < len(s.Notes) && s.Notes[i] != "" {
		t += " (" + s.Notes[i] + ")"
	}
	return t
}

const (
	chartW, chartH = 880, 260
	padL, padR     = 56, 12
	padT, padB     = 30, 40
	maxXLabels     = 12
)

// niceMax picks the axis: the smallest step of 1, 2, 2.5 or 5 times a power
// of ten that reaches v in at most five steps, and the top at a whole number
// of steps. Counts (integer) never get fractional steps, so an axis never
// reads "3.8 opens".
func niceMax(v float64, integer bool) (top, step float64) {
	if v <= 0 || math.IsNaN(v) {
		if integer {
			return 1, 1
		}
		return 1, 0.25
	}
	v = min(v, 1e15) // beyond any count pixelgate keeps; keeps the maths finite
	mag := math.Pow(10, math.Floor(math.Log10(v/5)))
	step = 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		s := m * mag
		if integer && (s < 1 || s != math.Trunc(s)) {
			continue
		}
		if v/s <= 5 {
			step = s
			break
		}
	}
	if integer {
		step = max(step, 1)
	}
	return math.Ceil(v/step-1e-9) * step, step
}

func (c barChart) axisLabel(v float64) string {
	if c.Percent {
		// Rounded to 0.1 point: axis steps like 0.6 are not exact in
		// binary and would print as 60.00000000000001%.
		return strconv.FormatFloat(math.Round(v*1000)/10, 'f', -1, 64) + "%"
	}
	if v == math.Trunc(v) {
		return thousands(int64(v))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// SVG renders the chart. Every piece of text goes through the XML escaper;
// labels come from campaign names, which come from mail headers.
func (c barChart) SVG() template.HTML {
	maxV := c.clean()
	if c.Rows {
		return c.rowsSVG(maxV)
	}
	var b strings.Builder
	esc := template.HTMLEscapeString
	top, step := niceMax(maxV, !c.Percent)
	plotW := float64(chartW - padL - padR)
	plotH := float64(chartH - padT - padB)
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH, esc(c.ID))
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, esc(c.ID), esc(c.Title))
	c.legend(&b, padL, 8)
	// Grid and y axis.
	for i := 0; i <= int(math.Round(top/step)); i++ {
		v := float64(i) * step
		y := float64(padT) + plotH - v/top*plotH
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y, y)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-6, y+4, esc(c.axisLabel(v)))
	}
	n := len(c.Labels)
	if n == 0 {
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="middle">No data yet</text></svg>`, chartW/2, chartH/2)
		return template.HTML(b.String())
	}
	slot := plotW / float64(n)
	// Few bars stay bar-shaped instead of filling the plot.
	groupW := min(slot*0.8, 56*float64(max(len(c.Series), 1)))
	barW := groupW / float64(max(len(c.Series), 1))
	every := (n + maxXLabels - 1) / maxXLabels
	for i, label := range c.Labels {
		x0 := float64(padL) + float64(i)*slot + (slot-groupW)/2
		for si, s := range c.Series {
			if i >= len(s.Values) {
				continue
			}
			h := barLen(s.Values[i], top, plotH)
			fmt.Fprintf(&b, `<rect class="s%d" x="%.1f" y="%.1f" width="%.1f" height="%.1f">%s</rect>`,
				si, x0+float64(si)*barW, float64(padT)+plotH-h, math.Max(barW-1, 1), h, c.barTitle(label, s, i))
		}
		if i%every == 0 {
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x0+groupW/2, chartH-padB+16, esc(shorten(label, 16)))
		}
	}
	fmt.Fprintf(&b, `<line class="base" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, float64(padT)+plotH, float64(padT)+plotH)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// barLen is the drawn length of value v on an axis from 0 to top that is
// full long; a non-zero value stays visible.
func barLen(v, top, full float64) float64 {
	l := v / top * full
	if v > 0 && l < 1 {
		l = 1
	}
	return l
}

// barTitle is the tooltip of value i of s: label, series, value and count.
func (c barChart) barTitle(label string, s series, i int) string {
	esc := template.HTMLEscapeString
	return "<title>" + esc(label) + " · " + esc(s.Name) + ": " + esc(c.note(s, i)) + "</title>"
}

// clean draws bad values as zero and returns the largest value (at least
// 1 % on a percent chart, so an all-zero chart still has an axis).
func (c barChart) clean() float64 {
	maxV := 0.0
	for _, s := range c.Series {
		for i, v := range s.Values {
			// Counts are never negative; a bad value draws as zero
			// rather than breaking the drawing.
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				s.Values[i] = 0
				continue
			}
			maxV = max(maxV, v)
		}
	}
	if c.Percent {
		maxV = max(maxV, 0.01)
	}
	return maxV
}

// Row layout: each label's lines, then one bar per series with its value
// and count written after it in the right margin.
const (
	rowPadL, rowNoteW = 12, 210
	rowLineH, rowBarH = 16, 14
	rowGap            = 14
	// rowLineRunes fits a label line in the chart width at the label
	// font size (about 7 px per character).
	rowLineRunes = 110
)

func (c barChart) rowsSVG(maxV float64) template.HTML {
	esc := template.HTMLEscapeString
	top, step := niceMax(maxV, !c.Percent)
	plotW := float64(chartW - rowPadL - rowNoteW)
	y := float64(padT) + 4
	var body strings.Builder
	for i, label := range c.Labels {
		for _, line := range wrap(label, rowLineRunes) {
			y += rowLineH
			fmt.Fprintf(&body, `<text class="label" x="%d" y="%.1f">%s</text>`, rowPadL, y-4, esc(line))
		}
		for si, s := range c.Series {
			if i >= len(s.Values) {
				continue
			}
			w := barLen(s.Values[i], top, plotW)
			fmt.Fprintf(&body, `<rect class="s%d" x="%d" y="%.1f" width="%.1f" height="%d">%s</rect>`,
				si, rowPadL, y+2, w, rowBarH-2, c.barTitle(label, s, i))
			fmt.Fprintf(&body, `<text class="axis value" x="%.1f" y="%.1f">%s</text>`, float64(rowPadL)+w+6, y+rowBarH-2, esc(c.note(s, i)))
			y += rowBarH
		}
		y += rowGap
	}
	height := int(y) + 8
	if len(c.Labels) == 0 {
		height = chartH
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t" xmlns="http://www.w3.org/2000/svg">`, chartW, height, esc(c.ID))
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, esc(c.ID), esc(c.Title))
	c.legend(&b, rowPadL, 2)
	if len(c.Labels) == 0 {
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="middle">No data yet</text></svg>`, chartW/2, chartH/2)
		return template.HTML(b.String())
	}
	// Vertical grid lines at the axis steps, behind the bars.
	for i := 0; i <= int(math.Round(top/step)); i++ {
		x := float64(rowPadL) + float64(i)*step/top*plotW
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>`, x, x, padT, height-8)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x, padT-2, esc(c.axisLabel(float64(i)*step)))
	}
	b.WriteString(body.String())
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// legend draws a swatch and the name of each series on one line at y.
func (c barChart) legend(b *strings.Builder, x0, y int) {
	x := float64(x0)
	for i, s := range c.Series {
		fmt.Fprintf(b, `<rect class="s%d" x="%.1f" y="%d" width="12" height="12"/><text class="legend" x="%.1f" y="%d">%s</text>`,
			i, x, y, x+16, y+10, template.HTMLEscapeString(s.Name))
		x += 24 + 7.5*float64(len([]rune(s.Name)))
	}
}

// wrap splits s into lines of at most n runes at spaces, breaking a word
// only when it alone is longer than a line. Nothing is dropped: joined
// back, the lines hold every character of s.
func wrap(s string, n int) []string {
	var lines []string
	var cur []rune
	for _, word := range strings.Fields(s) {
		w := []rune(word)
		if len(cur) > 0 && len(cur)+1+len(w) > n {
			lines = append(lines, string(cur))
			cur = nil
		}
		if len(cur) > 0 {
			cur = append(cur, ' ')
		}
		cur = append(cur, w...)
		for len(cur) > n {
			lines = append(lines, string(cur[:n]))
			cur = cur[n:]
		}
	}
	if len(cur) > 0 || len(lines) == 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
