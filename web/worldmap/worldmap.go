// Package worldmap draws a world map of country borders as SVG, in pure
// Go, for the web UI's view of where the world's geolocation sources place
// an operator's space: countries filled with colours the caller picks,
// markers at places, and lines between them (where a source says a
// region's space is, to where it is used).
//
// The borders are the 1:110m countries of Natural Earth as the npm package
// world-atlas 2.0.2 ships them (countries-110m.json beside this file, ISC
// licence in LICENSE; Natural Earth itself is public domain), embedded in
// the binary. Decode reads any TopoJSON topology of polygons (delta-encoded,
// quantized arcs); countries are named by ISO 3166-1 numeric codes there and
// mapped to alpha-2 with package iso3166.
//
// The package knows nothing of the register: it draws what it is given.
package worldmap

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"

	"github.com/cadastre-ipam/cadastre/iso3166"
)

//go:embed countries-110m.json
var countries110m []byte

// Point is a place on the earth in degrees: longitude east, latitude north.
type Point struct{ Lon, Lat float64 }

// Country is one country's borders.
type Country struct {
	Alpha2  string // ISO 3166-1 alpha-2, "" for a territory ISO does not code (Kosovo, N. Cyprus, Somaliland in Natural Earth)
	Numeric string // the id in the topology: ISO 3166-1 numeric, "" if none
	Name    string // the ISO short name, or the topology's name when ISO has none
	// Polygons are the country's parts; each is a list of rings (the first
	// the outer border, the rest holes), each ring a closed list of points.
	Polygons [][][]Point
}

// Map is a set of countries to draw. It is immutable once made, so one Map
// serves concurrent requests.
type Map struct {
	countries []Country
}

// World is the map of the embedded Natural Earth 1:110m countries. It is
// decoded once (tens of milliseconds) and shared: a Map is immutable, like
// iso3166's embedded table.
func World() (*Map, error) { return decodedWorld() }

var decodedWorld = sync.OnceValues(func() (*Map, error) {
	m, err := Decode(countries110m, "countries")
	if err != nil {
		return nil, fmt.Errorf("worldmap: embedded countries-110m.json: %w", err)
	}
	return m, nil
})

// Countries is the map's countries, in the topology's order. The slice is
// the caller's; the points inside are shared and must not be written.
func (m *Map) Countries() []Country { return append([]Country(nil), m.countries...) }

// Country finds a country by its alpha-2 code.
func (m *Map) Country(alpha2 string) (Country, bool) {
	for _, c := range m.countries {
		if c.Alpha2 == alpha2 && alpha2 != "" {
			return c, true
		}
	}
	return Country{}, false
}

type topology struct {
	Type      string                     `json:"type"`
	Objects   map[string]json.RawMessage `json:"objects"`
	Arcs      [][][]float64              `json:"arcs"`
	Transform *struct {
		Scale     [2]float64 `json:"scale"`
		Translate [2]float64 `json:"translate"`
	} `json:"transform"`
}

type geometry struct {
	Type       string          `json:"type"`
	ID         json.RawMessage `json:"id"`
	Arcs       json.RawMessage `json:"arcs"`
	Properties struct {
		Name string `json:"name"`
	} `json:"properties"`
}

// Decode reads a TopoJSON topology (RFC-less, see the TopoJSON
// specification 1.0) and returns the Polygon and MultiPolygon geometries of
// its object named object as countries. Geometries of other types are
// skipped. Ids are taken as ISO 3166-1 numeric codes.
func Decode(data []byte, object string) (*Map, error) {
	var topo topology
	if err := json.Unmarshal(data, &topo); err != nil {
		return nil, fmt.Errorf("topojson: %w", err)
	}
	if topo.Type != "Topology" {
		return nil, fmt.Errorf("topojson: type %q, want Topology", topo.Type)
	}
	raw, ok := topo.Objects[object]
	if !ok {
		return nil, fmt.Errorf("topojson: no object %q", object)
	}
	var coll struct {
		Type       string     `json:"type"`
		Geometries []geometry `json:"geometries"`
	}
	if err := json.Unmarshal(raw, &coll); err != nil {
		return nil, fmt.Errorf("topojson: object %q: %w", object, err)
	}
	arcs, err := decodeArcs(topo)
	if err != nil {
		return nil, err
	}
	m := &Map{}
	for i, g := range coll.Geometries {
		var polys [][][]int
		switch g.Type {
		case "Polygon":
			var rings [][]int
			if err := json.Unmarshal(g.Arcs, &rings); err != nil {
				return nil, fmt.Errorf("topojson: geometry %d: arcs: %w", i, err)
			}
			polys = [][][]int{rings}
		case "MultiPolygon":
			if err := json.Unmarshal(g.Arcs, &polys); err != nil {
				return nil, fmt.Errorf("topojson: geometry %d: arcs: %w", i, err)
			}
		default:
			continue
		}
		c := Country{Name: g.Properties.Name, Numeric: numericID(g.ID)}
		if iso, ok := iso3166.LookupNumeric(c.Numeric); ok {
			c.Alpha2, c.Name = iso.Alpha2, iso.Name
		}
		for _, rings := range polys {
			var poly [][]Point
			for _, ring := range rings {
				pts, err := stitch(arcs, ring)
				if err != nil {
					return nil, fmt.Errorf("topojson: geometry %d (%s): %w", i, c.Name, err)
				}
				poly = append(poly, pts)
			}
			c.Polygons = append(c.Polygons, poly)
		}
		m.countries = append(m.countries, c)
	}
	return m, nil
}

// numericID reads an id written as a string ("076") or a number (76).
func numericID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n int
	if json.Unmarshal(raw, &n) == nil && n >= 0 && n < 1000 {
		return fmt.Sprintf("%03d", n)
	}
	return ""
}

// decodeArcs turns the topology's arcs into points: with a transform the
// positions are quantized and delta-encoded (each position is the offset
// from the previous one), without one they are absolute degrees.
func decodeArcs(topo topology) ([][]Point, error) {
	arcs := make([][]Point, len(topo.Arcs))
	for i, arc := range topo.Arcs {
		pts := make([]Point, len(arc))
		var x, y float64
		for j, pos := range arc {
			if len(pos) < 2 {
				return nil, fmt.Errorf("topojson: arc %d position %d: %d coordinates, want 2", i, j, len(pos))
			}
			if topo.Transform == nil {
				pts[j] = Point{pos[0], pos[1]}
				continue
			}
			x += pos[0]
			y += pos[1]
			pts[j] = Point{
				Lon: x*topo.Transform.Scale[0] + topo.Transform.Translate[0],
				Lat: y*topo.Transform.Scale[1] + topo.Transform.Translate[1],
			}
		}
		arcs[i] = pts
	}
	return arcs, nil
}

// stitch joins the arcs of a ring: a negative index ~i is arc i reversed,
// and each arc after the first starts where the previous one ended, so its
// first point is dropped.
func stitch(arcs [][]Point, ring []int) ([]Point, error) {
	var pts []Point
	for k, idx := range ring {
		rev := idx < 0
		if rev {
			idx = ^idx
		}
		if idx >= len(arcs) {
			return nil, fmt.Errorf("arc %d of %d", idx, len(arcs))
		}
		arc := arcs[idx]
		for j := range arc {
			p := arc[j]
			if rev {
				p = arc[len(arc)-1-j]
			}
			if k > 0 && j == 0 {
				continue
			}
			pts = append(pts, p)
		}
	}
	return pts, nil
}

// Projection maps points of the earth to the plane of a whole-world map
// (Project), whose height follows from its width (Height).
type Projection struct {
	// Name is the projection's name, for the SVG's description.
	Name string
	// raw projects radians to unscaled x (east) and y (north).
	raw func(lambda, phi float64) (x, y float64)
}

// Equirectangular maps longitude and latitude linearly: simple, but it
// stretches the poles.
var Equirectangular = Projection{Name: "equirectangular", raw: func(l, p float64) (float64, float64) { return l, p }}

// NaturalEarth is the Natural Earth I projection (Šavrič et al., 2011), a
// compromise that keeps both shapes and areas believable on a world map;
// the polynomial is the one of d3-geo's geoNaturalEarth1.
var NaturalEarth = Projection{Name: "Natural Earth", raw: func(l, p float64) (float64, float64) {
	p2 := p * p
	p4 := p2 * p2
	return l * (0.8707 - 0.131979*p2 + p4*(-0.013791+p4*(0.003971*p2-0.001529*p4))),
		p * (1.007226 + p2*(0.015085+p4*(-0.044475+0.028874*p2-0.005916*p4)))
}}

// bounds is the projection's extent: x at the equator's ends, y at the poles.
func (p Projection) bounds() (xmax, ymax float64) {
	xmax, _ = p.raw(math.Pi, 0)
	_, ymax = p.raw(0, math.Pi/2)
	return xmax, ymax
}

// Height is the height in pixels of a whole-world map of the given width.
func (p Projection) Height(width float64) float64 {
	xmax, ymax := p.bounds()
	return width * ymax / xmax
}

// Project maps a point to pixels on a whole-world map of the given width
// (x from the left, y from the top).
func (p Projection) Project(pt Point, width float64) (x, y float64) {
	return p.project(Point{clamp(pt.Lon, -180, 180), pt.Lat}, width)
}

// project is Project without bounds on the longitude: the copies of a
// ring that crosses the antimeridian lie partly beyond ±180 (and are
// clipped to the map's outline).
func (p Projection) project(pt Point, width float64) (x, y float64) {
	xmax, ymax := p.bounds()
	rx, ry := p.raw(pt.Lon*math.Pi/180, clamp(pt.Lat, -90, 90)*math.Pi/180)
	s := width / (2 * xmax)
	return (rx + xmax) * s, (ymax - ry) * s
}

// unwrap makes a ring's longitudes continuous: Natural Earth's rings that
// cross the antimeridian (Fiji, Chukotka) jump from 180 to -180, which
// drawn as is would streak across the whole map. A ring around a pole
// (Antarctica) ends 360 degrees from where it began: it is closed along the
// pole. The result may reach beyond ±180; lo and hi are its extent.
func unwrap(ring []Point) (out []Point, lo, hi float64) {
	out = make([]Point, 0, len(ring)+2)
	shift := 0.0
	for i, p := range ring {
		if i > 0 {
			switch d := p.Lon - ring[i-1].Lon; {
			case d > 180:
				shift -= 360
			case d < -180:
				shift += 360
			}
		}
		out = append(out, Point{p.Lon + shift, p.Lat})
	}
	if n := len(out); n > 1 && math.Abs(out[n-1].Lon-out[0].Lon) > 180 {
		pole := 90.0
		if out[0].Lat < 0 {
			pole = -90
		}
		out = append(out, Point{out[n-1].Lon, pole}, Point{out[0].Lon, pole})
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range out {
		lo, hi = math.Min(lo, p.Lon), math.Max(hi, p.Lon)
	}
	return out, lo, hi
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// num writes a coordinate with one decimal: a tenth of a pixel is finer
// than the 1:110m borders, and it keeps the SVG small.
func num(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// Center is a point to mark a country by: the middle of the bounding box
// of its largest part (mainland France, not French Guiana; the contiguous
// United States, not Alaska). ok is false for a code the map lacks.
func (m *Map) Center(alpha2 string) (p Point, ok bool) {
	c, ok := m.Country(alpha2)
	if !ok {
		return Point{}, false
	}
	best := -1.0
	for _, poly := range c.Polygons {
		if len(poly) == 0 || len(poly[0]) == 0 {
			continue
		}
		lo, hi := poly[0][0], poly[0][0]
		for _, q := range poly[0] {
			lo = Point{math.Min(lo.Lon, q.Lon), math.Min(lo.Lat, q.Lat)}
			hi = Point{math.Max(hi.Lon, q.Lon), math.Max(hi.Lat, q.Lat)}
		}
		if area := (hi.Lon - lo.Lon) * (hi.Lat - lo.Lat); area > best {
			best, p = area, Point{(lo.Lon + hi.Lon) / 2, (lo.Lat + hi.Lat) / 2}
		}
	}
	return p, best >= 0
}
