package worldmap_test

import (
	"fmt"
	"strings"

	"github.com/cadastre-ipam/cadastre/web/worldmap"
)

// A map of where a source places a region's space (Brazil) against where
// the register says it is used (the United States).
func ExampleMap_SVG() {
	m, err := worldmap.World()
	if err != nil {
		panic(err)
	}
	var b strings.Builder
	err = m.SVG(&b, worldmap.Options{
		Title: "us-east: where geolite2 places it",
		Fill:  map[string]string{"US": "#2a7f62", "BR": "#c0392b"},
		Markers: []worldmap.Marker{
			{At: worldmap.Point{Lon: -77.5, Lat: 38.9}, Label: "us-east: used in Virginia"},
		},
		Lines: []worldmap.Line{
			{From: worldmap.Point{Lon: -47.9, Lat: -15.8}, To: worldmap.Point{Lon: -77.5, Lat: 38.9}, Label: "geolite2 says BR"},
		},
	})
	if err != nil {
		panic(err)
	}
	svg := b.String()
	fmt.Println(strings.Count(svg, `class="country marked"`), "countries filled")
	fmt.Println(strings.Contains(svg, `id="country-BR"`), strings.Count(svg, "<circle"), "marker")
	// Output:
	// 2 countries filled
	// true 1 marker
}
