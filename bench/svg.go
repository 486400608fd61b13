package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Plots are drawn as inline SVG with no script and no outside resource, so
// that report.html is one self-contained file.

const (
	plotW, plotH       = 900, 280
	padL, padR         = 70, 20
	padT, padB         = 30, 40
	innerW, innerH     = plotW - padL - padR, plotH - padT - padB
	plotFont           = `font-family="sans-serif" font-size="11"`
	seriesStrokeWidth  = 1.5
	markerStrokeDashes = "4 3"
)

// series is one line of a chart.
type series struct {
	name  string
	color string
	ys    []float64
}

// marker is a vertical line at x with a label (a fault).
type marker struct {
	x     float64
	label string
	color string
}

// axis maps values to pixels, linear or log10.
type axis struct {
	lo, hi float64
	log    bool
}

func (a axis) frac(v float64) float64 {
	if a.log {
		v, lo, hi := math.Log10(max(v, a.lo)), math.Log10(a.lo), math.Log10(a.hi)
		return (v - lo) / (hi - lo)
	}
	return (v - a.lo) / (a.hi - a.lo)
}

// ticks returns tick values: powers of ten (log) or five even steps.
func (a axis) ticks() []float64 {
	var out []float64
	if a.log {
		for v := math.Pow(10, math.Floor(math.Log10(a.lo))); v <= a.hi*1.0001; v *= 10 {
			if v >= a.lo*0.9999 {
				out = append(out, v)
			}
		}
		return out
	}
	step := niceStep((a.hi - a.lo) / 5)
	for v := math.Ceil(a.lo/step) * step; v <= a.hi*1.0001; v += step {
		out = append(out, v)
	}
	return out
}

// niceStep rounds d up to 1, 2 or 5 times a power of ten.
func niceStep(d float64) float64 {
	if d <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(d)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= d {
			return m * p
		}
	}
	return 10 * p
}

// lineChart draws series over xs (seconds) with y tick labels by yfmt.
func lineChart(title string, xs []float64, ss []series, logY bool, yfmt func(float64) string, ms []marker) string {
	var b strings.Builder
	svgOpen(&b, title)
	if len(xs) < 1 {
		b.WriteString(`<text x="450" y="150" text-anchor="middle">no data</text></svg>`)
		return b.String()
	}
	x := axis{lo: xs[0], hi: max(xs[len(xs)-1], xs[0]+1)}
	y := yAxis(ss, logY)
	grid(&b, x, y, func(v float64) string { return fmt.Sprintf("%g s", math.Round(v*10)/10) }, yfmt)
	for _, m := range ms {
		px := padL + x.frac(m.x)*innerW
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-dasharray="%s"/>`, px, padT, px, padT+innerH, m.color, markerStrokeDashes)
		lx, anchor := px+3, "start"
		if px > plotW-padR-80 {
			lx, anchor = px-3, "end"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="%s" text-anchor="%s" %s>%s</text>`, lx, padT+12, m.color, anchor, plotFont, html.EscapeString(m.label))
	}
	for i, s := range ss {
		var pts []string
		for j, v := range s.ys {
			if j < len(xs) && (!logY || v > 0) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", padL+x.frac(xs[j])*innerW, padT+innerH-y.frac(v)*innerH))
			}
		}
		fmt.Fprintf(&b, `<polyline class="series" fill="none" stroke="%s" stroke-width="%.1f" points="%s"/>`, s.color, seriesStrokeWidth, strings.Join(pts, " "))
		legend(&b, i, s)
	}
	b.WriteString("</svg>")
	return b.String()
}

func yAxis(ss []series, logY bool) axis {
	lo, hi := math.Inf(1), 0.0
	for _, s := range ss {
		for _, v := range s.ys {
			if v > 0 {
				lo = min(lo, v)
			}
			hi = max(hi, v)
		}
	}
	if hi <= 0 {
		hi = 1
	}
	if !logY {
		return axis{lo: 0, hi: hi * 1.05}
	}
	if math.IsInf(lo, 1) {
		lo = hi / 10
	}
	return axis{lo: math.Pow(10, math.Floor(math.Log10(lo))), hi: math.Pow(10, math.Ceil(math.Log10(hi*1.0001))), log: true}
}

// barChart draws one bar per bucket (labels under every few bars).
func barChart(title string, labels []string, ss []series, yfmt func(float64) string) string {
	var b strings.Builder
	svgOpen(&b, title)
	y := yAxis(ss, false)
	grid(&b, axis{lo: 0, hi: 1}, y, nil, yfmt)
	n := max(len(labels), 1)
	slot := float64(innerW) / float64(n)
	bw := slot / float64(len(ss)+1)
	for i, s := range ss {
		for j, v := range s.ys {
			h := y.frac(v) * innerH
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`,
				padL+float64(j)*slot+float64(i)*bw, padT+innerH-h, bw, h, s.color)
		}
		legend(&b, i, s)
	}
	every := max(n/12, 1)
	for j := 0; j < len(labels); j += every {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" %s>%s</text>`, padL+(float64(j)+0.5)*slot, padT+innerH+15, plotFont, html.EscapeString(labels[j]))
	}
	b.WriteString("</svg>")
	return b.String()
}

func svgOpen(b *strings.Builder, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		plotW, plotH, plotW, plotH, html.EscapeString(title))
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="#fff"/><text x="%d" y="18" font-family="sans-serif" font-size="14" font-weight="bold">%s</text>`,
		plotW, plotH, padL, html.EscapeString(title))
}

// grid draws the frame, the y ticks and (with xfmt) the x ticks.
func grid(b *strings.Builder, x, y axis, xfmt, yfmt func(float64) string) {
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`, padL, padT, innerW, innerH)
	for _, v := range y.ticks() {
		py := padT + innerH - y.frac(v)*innerH
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`, padL, py, padL+innerW, py)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" %s>%s</text>`, padL-5, py+4, plotFont, html.EscapeString(yfmt(v)))
	}
	if xfmt == nil {
		return
	}
	for _, v := range x.ticks() {
		px := padL + x.frac(v)*innerW
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" %s>%s</text>`, px, padT+innerH+15, plotFont, html.EscapeString(xfmt(v)))
	}
}

func legend(b *strings.Builder, i int, s series) {
	x := padL + 10 + i*130
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="3" fill="%s"/><text x="%d" y="%d" %s>%s</text>`,
		x, plotH-12, s.color, x+16, plotH-8, plotFont, html.EscapeString(s.name))
}
