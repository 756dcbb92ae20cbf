// Package cloudregions maps a cloud provider's region names to the ISO 3166
// country and subdivision where the provider documents the region to be.
// The table is embedded and versioned (regions.tsv), each row citing the
// provider's own region documentation: a region it does not list is
// unknown, never guessed, so that an import reports it instead of placing
// a provider's space somewhere it is not.
package cloudregions

import (
	"bufio"
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"github.com/cadastre-ipam/cadastre/location"
)

//go:embed regions.tsv
var raw string

// Providers are the range file formats whose regions the table knows.
var Providers = []string{"aws", "azure", "gcp", "oracle"}

// Region is one provider region and where it is.
type Region struct {
	Provider string
	Name     string
	Location location.Location
	// Label is the provider's own name for the region; Source cites
	// where the location comes from.
	Label, Source string
}

type table struct {
	version string
	byKey   map[[2]string]Region
	err     error
}

var load = sync.OnceValue(func() table {
	t := table{byKey: map[[2]string]Region{}}
	s := bufio.NewScanner(strings.NewReader(raw))
	n := 0
	for s.Scan() {
		n++
		line := s.Text()
		if v, ok := strings.CutPrefix(line, "# version\t"); ok {
			t.version = v
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 6 {
			t.err = fmt.Errorf("cloudregions: regions.tsv line %d: %d fields, want 6", n, len(f))
			return t
		}
		r := Region{Provider: f[0], Name: f[1], Location: location.Location{Country: f[2], Subdivision: f[3]}, Label: f[4], Source: f[5]}
		if err := r.Location.Validate(); err != nil {
			t.err = fmt.Errorf("cloudregions: regions.tsv line %d (%s %s): %w", n, r.Provider, r.Name, err)
			return t
		}
		t.byKey[[2]string{r.Provider, r.Name}] = r
	}
	return t
})

// Version is the date of the embedded table, printed with an import so an
// operator knows how current its region list is.
func Version() string { return load().version }

// Check reports an error in the embedded table (a row whose location is
// not valid ISO 3166); tests and imports call it.
func Check() error { return load().err }

// Lookup finds a provider's region by its name as the provider's range
// file spells it (matched without regard to case: Azure's files and
// documentation differ in case).
func Lookup(provider, name string) (Region, bool) {
	r, ok := load().byKey[[2]string{provider, strings.ToLower(name)}]
	return r, ok
}

// Regions lists the regions of a provider whose location is loc, for
// naming a place by the regions the provider puts there.
func Regions(provider string, loc location.Location) []string {
	var out []string
	for k, r := range load().byKey {
		if k[0] == provider && r.Location == loc {
			out = append(out, r.Name)
		}
	}
	return out
}
