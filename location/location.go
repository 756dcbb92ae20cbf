// Package location holds Location, the place an address is used: an ISO
// 3166-1 country, an optional ISO 3166-2 subdivision and a city, as RFC
// 8805 geofeeds carry them. Postal codes are deliberately absent: RFC 8805
// §2.1.1.5 deprecates them. It validates against the embedded code lists of
// package iso3166 and knows nothing of storage.
package location

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/cadastre-ipam/cadastre/iso3166"
)

// Location is a place: plain value, comparable, usable as a map key.
type Location struct {
	Country     string `json:"country"`
	Subdivision string `json:"subdivision,omitempty"`
	City        string `json:"city,omitempty"`
}

// maxCity bounds a city name; the longest real ones are under 100 bytes.
const maxCity = 128

// Validate checks the country and subdivision against the ISO 3166 lists
// and that the subdivision belongs to the country.
func (l Location) Validate() error {
	if err := iso3166.Validate(l.Country, l.Subdivision); err != nil {
		return err
	}
	if !utf8.ValidString(l.City) {
		return fmt.Errorf("city %q: not valid UTF-8", l.City)
	}
	if len(l.City) > maxCity {
		return fmt.Errorf("city %.20q...: longer than %d bytes", l.City, maxCity)
	}
	if strings.TrimSpace(l.City) != l.City {
		return fmt.Errorf("city %q: leading or trailing spaces", l.City)
	}
	if strings.ContainsAny(l.City, ",\n\r\"") {
		return fmt.Errorf("city %q: must not contain commas, quotes or line breaks (it is published in CSV)", l.City)
	}
	return nil
}

// IsZero reports whether no field is set: in a geofeed, "do not geolocate".
func (l Location) IsZero() bool { return l == Location{} }

// String prints "US/US-VA/Ashburn", omitting empty trailing parts.
func (l Location) String() string {
	s := l.Country
	if l.Subdivision != "" || l.City != "" {
		s += "/" + l.Subdivision
	}
	if l.City != "" {
		s += "/" + l.City
	}
	return s
}
