package web

import (
	"cmp"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/web/worldmap"
)

// The world's view (issue 13 item 6): the geolocation audit's findings,
// largest first, and a map of where the sources place each region's space
// against where it is used. It is an operator's page (the API's audit
// operation is not open to tenant tokens): the findings name every
// region's space, whoever it is assigned to.

// worldView is the data of templates/pages/world.html.
type worldView struct {
	Loaded   bool // geolocation is loaded in this process
	Report   geo.AuditReport
	Map      template.HTML // the SVG, made and escaped by package worldmap
	Pairs    []worldPair   // the map's lines as a table, for those who do not see the map
	Findings int
}

// worldPair is one line of the map: a source places some of a region's
// space in Says, though it is used in Used.
type worldPair struct {
	Region, Source, Used, Says string
	Prefixes                   int
}

// Colours of the map: where space is used, where a source places it
// elsewhere, and both.
const (
	fillUsed  = "#2a7f62"
	fillSays  = "#c0392b"
	fillBoth  = "#8e6c1f"
	lineColor = "#a02020"
)

func (s *Server) pageWorld(w http.ResponseWriter, r *http.Request) error {
	v := worldView{}
	if s.cfg.Geo != nil {
		rep, err := geo.AuditRegisterWith(r.Context(), s.cfg.Geo.Table(), s.reg, geo.AuditOptions{}, s.cfg.Now())
		if err != nil {
			return err
		}
		v.Loaded, v.Report, v.Findings = true, rep, len(rep.Findings)
	}
	m, err := worldmap.World()
	if err != nil {
		return err
	}
	svg, pairs, err := worldMap(m, v.Report.Findings)
	if err != nil {
		return err
	}
	// Trusted markup: package worldmap escapes every text and colour it
	// writes (its tests feed it markup).
	v.Map, v.Pairs = template.HTML(svg), pairs
	return s.render(w, r, http.StatusOK, "world", v)
}

// worldMap draws the findings: the countries where the space is used, the
// countries where sources place it, and a line from each such place to
// where the space really is. The findings come sorted by addresses
// affected; the pairs are sorted by prefixes, most first.
func worldMap(m *worldmap.Map, findings []geo.Finding) (string, []worldPair, error) {
	fill := map[string]string{}
	labels := map[string][]string{}
	byPair := map[worldPair]int{}
	for _, f := range findings {
		used := f.Intended.Country
		if used != "" && fill[used] == "" {
			fill[used] = fillUsed
		}
		if used != "" {
			labels[used] = appendUnique(labels[used], "used by "+f.Region)
		}
		for _, sh := range f.Says {
			says := sh.Location.Country
			if says == "" || says == used {
				continue
			}
			if fill[says] == fillUsed {
				fill[says] = fillBoth
			} else if fill[says] == "" {
				fill[says] = fillSays
			}
			labels[says] = appendUnique(labels[says], f.Source+" places "+f.Region+" here")
			byPair[worldPair{Region: f.Region, Source: f.Source, Used: used, Says: says}]++
		}
	}
	pairs := make([]worldPair, 0, len(byPair))
	for p, n := range byPair {
		p.Prefixes = n
		pairs = append(pairs, p)
	}
	slices.SortFunc(pairs, func(a, b worldPair) int {
		return cmp.Or(cmp.Compare(b.Prefixes, a.Prefixes), cmp.Compare(a.Region, b.Region),
			cmp.Compare(a.Source, b.Source), cmp.Compare(a.Says, b.Says))
	})
	opts := worldmap.Options{
		Title:       "Where the geolocation sources place the register's space",
		Description: fmt.Sprintf("%d countries coloured; %d lines from where a source places a region's space to where it is used.", len(fill), len(pairs)),
		Width:       1000,
		Fill:        fill,
		Labels:      map[string]string{},
	}
	for cc, ls := range labels {
		c, _ := m.Country(cc)
		opts.Labels[cc] = c.Name + ": " + strings.Join(ls, "; ")
	}
	marked := map[string]bool{}
	for _, p := range pairs {
		from, ok1 := m.Center(p.Says)
		to, ok2 := m.Center(p.Used)
		if !ok1 || !ok2 {
			continue
		}
		opts.Lines = append(opts.Lines, worldmap.Line{From: from, To: to, Stroke: lineColor,
			Label: fmt.Sprintf("%s places %d prefixes of %s in %s; used in %s", p.Source, p.Prefixes, p.Region, p.Says, p.Used)})
		if !marked[p.Used] {
			marked[p.Used] = true
			opts.Markers = append(opts.Markers, worldmap.Marker{At: to, Fill: fillUsed, Radius: 5, Label: p.Region + " is used in " + p.Used})
		}
	}
	var b strings.Builder
	if err := m.SVG(&b, opts); err != nil {
		return "", nil, err
	}
	return b.String(), pairs, nil
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
