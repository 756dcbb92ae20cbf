package worldmap

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"strings"
)

// Marker is a dot at a place, with a label shown as its tooltip and read by
// assistive technology.
type Marker struct {
	At     Point
	Label  string
	Fill   string  // a CSS colour; "" is #222
	Radius float64 // pixels; 0 is 4
	Class  string  // extra class names for the page's CSS
}

// Line joins two places with a gentle curve, from where a source says a
// space is to where the register says it is used.
type Line struct {
	From, To Point
	Label    string
	Stroke   string // a CSS colour; "" is #b00
	Class    string
}

// Options say what to draw on the map.
type Options struct {
	// Title names the map for assistive technology (the SVG's <title> and
	// aria-label); Description says more (<desc>).
	Title, Description string
	// Width in pixels (the SVG's viewBox; it scales to its container);
	// 0 is 960. The height follows from the projection.
	Width float64
	// Projection; the zero value is NaturalEarth.
	Projection Projection
	// Fill colours countries by alpha-2 code (CSS colours); others get
	// DefaultFill ("" is #e4e4e4). Countries with a fill also get the class
	// "marked".
	Fill        map[string]string
	DefaultFill string
	// Labels replace a country's tooltip (its name), e.g. "Brazil: 3
	// findings"; by alpha-2 code.
	Labels  map[string]string
	Markers []Marker
	Lines   []Line
}

// SVG writes the map as a standalone SVG element, for inlining into an
// HTML page or serving as image/svg+xml: one <path> per country with the
// id "country-XX" (alpha-2; Natural Earth's territories without a code get
// no id), data-iso and a <title>; then the lines, then the markers. Every
// text and colour is escaped, so labels may hold any text.
func (m *Map) SVG(w io.Writer, o Options) error {
	if o.Width <= 0 {
		o.Width = 960
	}
	if o.Projection.raw == nil {
		o.Projection = NaturalEarth
	}
	if o.DefaultFill == "" {
		o.DefaultFill = "#e4e4e4"
	}
	width, height := o.Width, o.Projection.Height(o.Width)
	bw := bufio.NewWriter(w)
	esc := html.EscapeString
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" class="worldmap" viewBox="0 0 %s %s" role="img" aria-labelledby="worldmap-title worldmap-desc">`,
		num(width), num(height))
	fmt.Fprintf(bw, `<title id="worldmap-title">%s</title><desc id="worldmap-desc">%s</desc>`,
		esc(o.Title), esc(strings.TrimSpace(o.Description+" Projection: "+o.Projection.Name+".")))
	// The sphere's outline: the sea, and the clip of the countries (the
	// copies of rings that cross the antimeridian reach beyond it).
	var outline strings.Builder
	for i := 0; i <= 36; i++ {
		x, y := o.Projection.project(Point{-180, 90 - float64(i)*5}, width)
		outline.WriteString(map[bool]string{true: "M", false: "L"}[i == 0] + num(x) + "," + num(y))
	}
	for i := 0; i <= 36; i++ {
		x, y := o.Projection.project(Point{180, -90 + float64(i)*5}, width)
		outline.WriteString("L" + num(x) + "," + num(y))
	}
	outline.WriteString("Z")
	fmt.Fprintf(bw, `<defs><clipPath id="worldmap-clip"><path d="%s"/></clipPath></defs>`, outline.String())
	fmt.Fprintf(bw, `<path class="sea" d="%s" fill="#f4f8fb" stroke="#c8d2da"/>`, outline.String())
	bw.WriteString(`<g class="countries" clip-path="url(#worldmap-clip)" stroke="#8a8a8a" stroke-width="0.5" stroke-linejoin="round">`)
	for _, c := range m.countries {
		fill, marked := o.Fill[c.Alpha2]
		if !marked || c.Alpha2 == "" {
			fill, marked = o.DefaultFill, false
		}
		label := c.Name
		if l, ok := o.Labels[c.Alpha2]; ok && c.Alpha2 != "" {
			label = l
		}
		bw.WriteString(`<path`)
		if c.Alpha2 != "" {
			fmt.Fprintf(bw, ` id="country-%s" data-iso="%s"`, c.Alpha2, c.Alpha2)
		}
		class := "country"
		if marked {
			class += " marked"
		}
		fmt.Fprintf(bw, ` class="%s" fill="%s" d="`, class, esc(fill))
		for _, poly := range c.Polygons {
			for _, ring := range poly {
				pts, lo, hi := unwrap(ring)
				// A ring beyond ±180 is drawn again a world away, so
				// that both sides of the antimeridian show their part.
				for _, off := range []float64{0, -360, 360} {
					if off == -360 && hi <= 180 || off == 360 && lo >= -180 {
						continue
					}
					for i, p := range pts {
						x, y := o.Projection.project(Point{p.Lon + off, p.Lat}, width)
						if i == 0 {
							bw.WriteString("M")
						} else {
							bw.WriteString("L")
						}
						bw.WriteString(num(x) + "," + num(y))
					}
					bw.WriteString("Z")
				}
			}
		}
		fmt.Fprintf(bw, `"><title>%s</title></path>`, esc(label))
	}
	bw.WriteString(`</g>`)
	if len(o.Lines) > 0 {
		bw.WriteString(`<g class="lines" fill="none" stroke-width="1.5">`)
		for _, l := range o.Lines {
			stroke := l.Stroke
			if stroke == "" {
				stroke = "#b00"
			}
			x1, y1 := o.Projection.Project(l.From, width)
			x2, y2 := o.Projection.Project(l.To, width)
			// The control point lifts the curve a fifth of its length to
			// the left of its direction, so opposite lines do not overlap.
			cx, cy := (x1+x2)/2-(y2-y1)/5, (y1+y2)/2+(x2-x1)/5
			fmt.Fprintf(bw, `<path class="%s" stroke="%s" d="M%s,%sQ%s,%s %s,%s"><title>%s</title></path>`,
				esc(strings.TrimSpace("line "+l.Class)), esc(stroke), num(x1), num(y1), num(cx), num(cy), num(x2), num(y2), esc(l.Label))
		}
		bw.WriteString(`</g>`)
	}
	if len(o.Markers) > 0 {
		bw.WriteString(`<g class="markers" stroke="#fff" stroke-width="1">`)
		for _, mk := range o.Markers {
			fill, r := mk.Fill, mk.Radius
			if fill == "" {
				fill = "#222"
			}
			if r <= 0 {
				r = 4
			}
			x, y := o.Projection.Project(mk.At, width)
			fmt.Fprintf(bw, `<circle class="%s" cx="%s" cy="%s" r="%s" fill="%s"><title>%s</title></circle>`,
				esc(strings.TrimSpace("marker "+mk.Class)), num(x), num(y), num(r), esc(fill), esc(mk.Label))
		}
		bw.WriteString(`</g>`)
	}
	bw.WriteString(`</svg>`)
	return bw.Flush()
}
