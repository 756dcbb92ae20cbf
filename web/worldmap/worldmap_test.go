package worldmap

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
)

func world(t *testing.T) *Map {
	t.Helper()
	m, err := World()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestWorldNamesCountriesByAlpha2(t *testing.T) {
	m := world(t)
	if n := len(m.Countries()); n != 177 {
		t.Errorf("%d countries, want world-atlas's 177", n)
	}
	for _, c := range []struct{ alpha2, numeric, name string }{
		{"BR", "076", "Brazil"},
		{"US", "840", "United States"},
		{"FJ", "242", "Fiji"},
		{"EH", "732", "Western Sahara"},
	} {
		got, ok := m.Country(c.alpha2)
		if !ok || got.Numeric != c.numeric || got.Name != c.name {
			t.Errorf("Country(%s) = %q %q %v, want %s %s", c.alpha2, got.Numeric, got.Name, ok, c.numeric, c.name)
		}
	}
	var uncoded []string
	for _, c := range m.Countries() {
		if c.Alpha2 == "" {
			uncoded = append(uncoded, c.Name)
		}
	}
	if strings.Join(uncoded, ",") != "N. Cyprus,Somaliland,Kosovo" {
		t.Errorf("territories without an ISO code: %q", uncoded)
	}
}

func TestBordersLieWhereTheCountriesAre(t *testing.T) {
	m := world(t)
	for _, c := range []struct {
		alpha2                         string
		minLon, maxLon, minLat, maxLat float64
	}{
		{"BR", -74.1, -34.7, -33.8, 5.3},
		{"DE", 5.8, 15.1, 47.2, 55.1},
		{"AU", 113, 154, -44, -10},
	} {
		got, _ := m.Country(c.alpha2)
		lo := Point{math.Inf(1), math.Inf(1)}
		hi := Point{math.Inf(-1), math.Inf(-1)}
		for _, poly := range got.Polygons {
			for _, ring := range poly {
				if ring[0] != ring[len(ring)-1] {
					t.Errorf("%s: ring not closed: %v ... %v", c.alpha2, ring[0], ring[len(ring)-1])
				}
				for _, p := range ring {
					lo = Point{math.Min(lo.Lon, p.Lon), math.Min(lo.Lat, p.Lat)}
					hi = Point{math.Max(hi.Lon, p.Lon), math.Max(hi.Lat, p.Lat)}
				}
			}
		}
		if lo.Lon < c.minLon-1 || hi.Lon > c.maxLon+1 || lo.Lat < c.minLat-1 || hi.Lat > c.maxLat+1 ||
			lo.Lon > c.minLon+1 || hi.Lon < c.maxLon-1 {
			t.Errorf("%s spans %v to %v, want about [%v %v] x [%v %v]", c.alpha2, lo, hi, c.minLon, c.maxLon, c.minLat, c.maxLat)
		}
	}
}

func TestDecodeStitchesDeltaEncodedArcs(t *testing.T) {
	// Two squares sharing the edge x=1 (arc 1, walked backwards by the
	// second), with a transform of 1 degree per unit from (10, 20).
	topo := `{"type":"Topology","transform":{"scale":[1,1],"translate":[10,20]},
	"objects":{"c":{"type":"GeometryCollection","geometries":[
	  {"type":"Polygon","id":"076","arcs":[[0,1]]},
	  {"type":"MultiPolygon","id":840,"arcs":[[[2,-2]]]},
	  {"type":"Point","coordinates":[0,0]}]}},
	"arcs":[[[1,0],[-1,0],[0,1],[1,0]], [[1,1],[0,-1]], [[1,1],[1,0],[0,-1],[-1,0]]]}`
	m, err := Decode([]byte(topo), "c")
	if err != nil {
		t.Fatal(err)
	}
	cs := m.Countries()
	if len(cs) != 2 {
		t.Fatalf("%d countries, want 2 (the point is skipped)", len(cs))
	}
	want := map[string][]Point{
		"BR": {{11, 20}, {10, 20}, {10, 21}, {11, 21}, {11, 20}},
		"US": {{11, 21}, {12, 21}, {12, 20}, {11, 20}, {11, 21}},
	}
	for _, c := range cs {
		got := c.Polygons[0][0]
		if len(got) != len(want[c.Alpha2]) {
			t.Errorf("%s ring %v, want %v", c.Alpha2, got, want[c.Alpha2])
			continue
		}
		for i := range got {
			if got[i] != want[c.Alpha2][i] {
				t.Errorf("%s ring %v, want %v", c.Alpha2, got, want[c.Alpha2])
				break
			}
		}
	}
}

func TestDecodeRefusesBrokenTopologies(t *testing.T) {
	for name, topo := range map[string]string{
		"not JSON":            `{`,
		"not a topology":      `{"type":"FeatureCollection"}`,
		"no such object":      `{"type":"Topology","objects":{},"arcs":[]}`,
		"arc out of range":    `{"type":"Topology","objects":{"c":{"type":"GeometryCollection","geometries":[{"type":"Polygon","arcs":[[3]]}]}},"arcs":[]}`,
		"short position":      `{"type":"Topology","objects":{"c":{"type":"GeometryCollection","geometries":[]}},"arcs":[[[1]]]}`,
		"arcs of wrong shape": `{"type":"Topology","objects":{"c":{"type":"GeometryCollection","geometries":[{"type":"Polygon","arcs":[1]}]}},"arcs":[]}`,
	} {
		if _, err := Decode([]byte(topo), "c"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestProjectionsKeepTheWorldInTheirFrame(t *testing.T) {
	for _, p := range []Projection{NaturalEarth, Equirectangular} {
		const w = 1000.0
		h := p.Height(w)
		for _, c := range []struct {
			at   Point
			x, y float64
		}{
			{Point{0, 0}, w / 2, h / 2},
			{Point{-180, 0}, 0, h / 2},
			{Point{180, 0}, w, h / 2},
			{Point{0, 90}, w / 2, 0},
			{Point{0, -90}, w / 2, h},
		} {
			x, y := p.Project(c.at, w)
			if math.Abs(x-c.x) > 1e-6 || math.Abs(y-c.y) > 1e-6 {
				t.Errorf("%s: Project(%v) = %.3f,%.3f, want %.3f,%.3f", p.Name, c.at, x, y, c.x, c.y)
			}
		}
	}
	for _, p := range []Projection{NaturalEarth, Equirectangular} {
		x1, y1 := p.Project(Point{200, 100}, 1000)
		x2, y2 := p.Project(Point{180, 90}, 1000)
		if x1 != x2 || y1 != y2 {
			t.Errorf("%s: out-of-range point not clamped: %v,%v vs %v,%v", p.Name, x1, y1, x2, y2)
		}
	}
	if h := Equirectangular.Height(1000); math.Abs(h-500) > 1e-9 {
		t.Errorf("equirectangular height %v, want 500", h)
	}
	if h := NaturalEarth.Height(1000); h < 480 || h > 530 {
		t.Errorf("Natural Earth height %v, want about half the width", h)
	}
}

// svgDoc is what the test reads back from the SVG.
type svgDoc struct {
	Title string `xml:"title"`
	Paths []struct {
		ID    string `xml:"id,attr"`
		Class string `xml:"class,attr"`
		Fill  string `xml:"fill,attr"`
		D     string `xml:"d,attr"`
		Title string `xml:"title"`
	} `xml:"g>path"`
	Circles []struct {
		Title string `xml:"title"`
	} `xml:"g>circle"`
}

func TestSVGIsWellFormedWithFillsMarkersLinesAndEscapedText(t *testing.T) {
	m := world(t)
	var buf bytes.Buffer
	const hostile = `<script>alert("x")</script> & "quotes"`
	err := m.SVG(&buf, Options{
		Title:  "Where sources place us-east " + hostile,
		Fill:   map[string]string{"US": "#2a6", "BR": `red" onload="alert(1)`},
		Labels: map[string]string{"BR": "Brazil: 3 findings " + hostile},
		Markers: []Marker{
			{At: Point{-77.5, 38.9}, Label: "us-east (used) " + hostile},
			{At: Point{-46.6, -23.5}, Label: "us-east per geolite2"},
		},
		Lines: []Line{{From: Point{-46.6, -23.5}, To: Point{-77.5, 38.9}, Label: "geolite2 places it in BR " + hostile}},
	})
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG not well-formed: %v", err)
		}
	}
	var doc svgDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(doc.Title, hostile) {
		t.Errorf("title %q", doc.Title)
	}
	byID := map[string]int{}
	countries := 0
	for i, p := range doc.Paths {
		if strings.Contains(p.Class, "country") {
			countries++
		}
		if p.ID != "" {
			byID[p.ID] = i
		}
	}
	if countries != 177 || len(byID) != 174 {
		t.Errorf("%d country paths, %d with an id; want 177 and 174", countries, len(byID))
	}
	us, br, de := doc.Paths[byID["country-US"]], doc.Paths[byID["country-BR"]], doc.Paths[byID["country-DE"]]
	if us.Fill != "#2a6" || us.Class != "country marked" || !strings.HasPrefix(us.D, "M") {
		t.Errorf("US path: fill %q class %q", us.Fill, us.Class)
	}
	if br.Fill != `red" onload="alert(1)` || br.Title != "Brazil: 3 findings "+hostile {
		t.Errorf("BR path: fill %q title %q (escaping lost the text)", br.Fill, br.Title)
	}
	if de.Fill != "#e4e4e4" || de.Title != "Germany" {
		t.Errorf("DE path: fill %q title %q", de.Fill, de.Title)
	}
	if len(doc.Circles) != 2 || !strings.HasSuffix(doc.Circles[0].Title, hostile) {
		t.Errorf("markers %+v", doc.Circles)
	}
	if strings.Contains(buf.String(), "<script>") {
		t.Error("the SVG holds a raw <script>")
	}
}

func BenchmarkSVG(b *testing.B) {
	m, err := World()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := m.SVG(io.Discard, Options{Fill: map[string]string{"US": "#2a6"}}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCenterIsInTheMainlandOfTheCountry(t *testing.T) {
	m := world(t)
	for _, c := range []struct {
		alpha2   string
		lon, lat float64
	}{{"US", -98, 39}, {"FR", 2.5, 46.5}, {"BR", -53, -14}} {
		p, ok := m.Center(c.alpha2)
		if !ok || math.Abs(p.Lon-c.lon) > 4 || math.Abs(p.Lat-c.lat) > 4 {
			t.Errorf("Center(%s) = %v %v, want about %v,%v", c.alpha2, p, ok, c.lon, c.lat)
		}
	}
	if _, ok := m.Center("ZZ"); ok {
		t.Error("Center(ZZ) found")
	}
}

func TestUnwrapMendsRingsAcrossTheAntimeridian(t *testing.T) {
	// An island across the antimeridian: continuous longitudes, one copy
	// reaching past 180.
	pts, lo, hi := unwrap([]Point{{179, -16}, {-179, -16}, {-179, -17}, {179, -17}, {179, -16}})
	if lo != 179 || hi != 181 || len(pts) != 5 {
		t.Errorf("island: %v, extent %v..%v", pts, lo, hi)
	}
	// A ring around the south pole is closed along the pole.
	pts, lo, hi = unwrap([]Point{{-180, -80}, {0, -70}, {180, -80}})
	if len(pts) != 5 || pts[3] != (Point{180, -90}) || pts[4] != (Point{-180, -90}) || lo != -180 || hi != 180 {
		t.Errorf("polar ring: %v, extent %v..%v", pts, lo, hi)
	}
}

func BenchmarkDecode(b *testing.B) {
	for b.Loop() {
		if _, err := Decode(countries110m, "countries"); err != nil {
			b.Fatal(err)
		}
	}
}
