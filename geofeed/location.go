package geofeed

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"

	"github.com/cadastre-ipam/cadastre/iso3166"
	"github.com/cadastre-ipam/cadastre/location"
)

// locInfo is the checked form of a country,region,city triple, computed
// once per distinct triple (up to maxLocCache of them).
type locInfo struct {
	loc   location.Location
	hash  uint64
	diags []locDiag
}

type locDiag struct {
	field int // 1 country, 2 region, 3 city
	sev   Severity
	code  string
	msg   string
}

var locSeed = maphash.MakeSeed()

// location returns the checked location for the three fields, from the
// cache when it can: a lookup with string(key) does not allocate.
func (r *Reader) location(country, region, city []byte) *locInfo {
	r.key = append(r.key[:0], country...)
	r.key = append(r.key, 0)
	r.key = append(r.key, region...)
	r.key = append(r.key, 0)
	r.key = append(r.key, city...)
	// Feeds list many prefixes of one place in a row.
	if r.lastLoc != nil && bytes.Equal(r.key, r.lastKey) {
		return r.lastLoc
	}
	li, ok := r.locs[string(r.key)]
	if !ok {
		li = r.newLocation(country, region, city)
	}
	r.lastKey = append(r.lastKey[:0], r.key...)
	r.lastLoc = li
	return li
}

func (r *Reader) newLocation(country, region, city []byte) *locInfo {
	li := checkLocation(string(country), string(region), string(city))
	if len(r.locs) < maxLocCache && r.locBytes+len(r.key) < maxLocCacheBytes {
		r.locs[string(r.key)] = li
		r.locBytes += len(r.key)
	}
	return li
}

// checkLocation applies the location rules of RFC 8805 §2.1.1.2–4 with the
// ISO 3166 lists of package iso3166.
func checkLocation(country, region, city string) *locInfo {
	li := &locInfo{}
	add := func(field int, sev Severity, code, format string, args ...any) {
		li.diags = append(li.diags, locDiag{field, sev, code, fmt.Sprintf(format, args...)})
	}
	upC, upR := strings.ToUpper(country), strings.ToUpper(region)
	countryOK := false
	switch {
	case country == "" && (region != "" || city != ""):
		add(1, Error, CodeMissingCountry, "no country but a region or city: a location needs its ISO 3166-1 country (leave every field empty for \"do not geolocate\")")
	case country != "":
		if err := iso3166.Validate(upC, ""); err != nil {
			add(1, Error, CodeUnknownCountry, "%s", countryMessage(country, err))
			break
		}
		countryOK = true
		if upC != country {
			add(1, Warning, CodeLowerCase, "country code %q in lower case: read as %s", country, upC)
		}
	}
	if region != "" && countryOK {
		checkRegion(upC, region, upR, add)
	}
	if city != "" {
		checkCity(city, add)
	}
	li.loc = location.Location{Country: upC, Subdivision: upR, City: city}
	var h maphash.Hash
	h.SetSeed(locSeed)
	h.WriteString(upC)
	h.WriteByte(0)
	h.WriteString(upR)
	h.WriteByte(0)
	h.WriteString(city)
	li.hash = h.Sum64()
	return li
}

func countryMessage(country string, err error) string {
	if country == strings.ToUpper(country) {
		return err.Error()
	}
	// iso3166 was given the upper-case form; say what was written.
	return fmt.Sprintf("country code %q: %v", country, err)
}

func checkRegion(country, region, upR string, add func(int, Severity, string, string, ...any)) {
	if !strings.Contains(region, "-") {
		// Not of the form CC-XXX: a bare code ("VA") or a name ("Virginia").
		hint := ""
		if _, ok := iso3166.LookupSubdivision(country + "-" + upR); ok {
			hint = fmt.Sprintf(" (did you mean %s-%s?)", country, upR)
		} else if err := iso3166.Validate(country, region); err != nil && strings.Contains(err.Error(), "did you mean") {
			add(2, Error, CodeUnknownRegion, "%v; a region is an ISO 3166-2 code, not a name", err)
			return
		} else {
			hint = "; it looks like a name: a city belongs in the city field"
		}
		add(2, Error, CodeUnknownRegion, "region %q is not an ISO 3166-2 code (%s-XXX) of %s%s", region, country, country, hint)
		return
	}
	err := iso3166.Validate(country, upR)
	if upR != region && !errors.Is(err, iso3166.ErrUnknownSubdivision) {
		add(2, Warning, CodeLowerCase, "region code %q in lower case: read as %s", region, upR)
	}
	switch {
	case err == nil:
	case errors.Is(err, iso3166.ErrWithdrawnSubdivision):
		// One rule for every withdrawn code: a warning that names the
		// successor, so the entry still places its prefix; an error only
		// where ISO named none (the area was split across new units) and
		// the entry cannot be read as any current subdivision.
		if succ, _ := iso3166.Successor(upR); len(succ) > 0 {
			add(2, Warning, CodeWithdrawnRegion, "%v", err)
		} else {
			add(2, Error, CodeWithdrawnRegion, "%v", err)
		}
	case errors.Is(err, iso3166.ErrWrongCountry):
		add(2, Error, CodeWrongCountry, "%v", err)
	default:
		hint := ""
		// "US-US-MO": the country written twice.
		if doubled := country + "-" + country + "-"; strings.HasPrefix(upR, doubled) {
			if s, ok := iso3166.LookupSubdivision(country + "-" + upR[len(doubled):]); ok {
				hint = fmt.Sprintf(" (the country is doubled: did you mean %s, %s?)", s.Code, s.Name)
			}
		}
		if hint == "" {
			if subs := iso3166.Subdivisions(country); len(subs) == 0 {
				hint = fmt.Sprintf(" (%s has no ISO 3166-2 subdivisions: leave the region empty)", country)
			} else if len(subs) <= 8 {
				codes := make([]string, len(subs))
				for i, s := range subs {
					codes[i] = s.Code
				}
				hint = fmt.Sprintf(" (%s has %s)", country, strings.Join(codes, ", "))
			}
		}
		add(2, Error, CodeUnknownRegion, "region %q is not a current ISO 3166-2 code of %s%s", region, country, hint)
	}
}

// placeholders are what feeds write for "unknown city"; RFC 8805 §2.1.1.4
// says to leave the field empty instead.
var placeholders = map[string]bool{
	"n/a": true, "na": true, "n.a.": true, "-": true, "--": true, ".": true, "?": true, "??": true,
	"unknown": true, "null": true, "nil": true, "none": true, "tbd": true, "tba": true,
	"undefined": true, "not available": true, "not applicable": true, "0": true, "x": true, "xx": true,
	"city": true, "any": true, "various": true, "*": true,
}

func checkCity(city string, add func(int, Severity, string, string, ...any)) {
	switch {
	case len(city) > maxCity:
		add(3, Error, CodeBadCity, "city %.20q...: longer than %d bytes", city, maxCity)
	case strings.ContainsFunc(city, func(c rune) bool { return c < 0x20 || c == 0x7f || c == '"' }):
		add(3, Error, CodeBadCity, "city %q: quotes and control characters are not allowed", city)
	case placeholders[strings.ToLower(city)]:
		add(3, Warning, CodePlaceholderCity, "city %q is a placeholder: leave the city empty when it is not known (RFC 8805 §2.1.1.4)", city)
	}
}
