package geo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/cadastre-ipam/cadastre/iso3166"
	"github.com/cadastre-ipam/cadastre/location"
)

// ErrSchema is matched, with errors.Is, by the error for an MMDB file whose
// records are in neither schema cadastre reads.
var ErrSchema = errors.New("unknown MMDB schema")

// Schema names the record layout of an MMDB file.
type Schema string

// The schemas MMDB reads.
const (
	// SchemaGeoIP2 is MaxMind's GeoIP2/GeoLite2 layout: country.iso_code,
	// subdivisions[].iso_code (without the country prefix) and
	// city.names.en.
	SchemaGeoIP2 Schema = "geoip2"
	// SchemaFlat is the flat layout of the ip-location-db packages:
	// country_code, state1 (a subdivision name) and city.
	SchemaFlat Schema = "ip-location-db"
)

// schemaProbe is how many networks OpenMMDB reads, at most, to find a
// record that tells the schema: the first records of a file can be empty
// (GeoLite2 has {} for anycast space such as 1.1.1.0/24).
const schemaProbe = 10000

// MMDB is an MMDB file opened as a geolocation source. The file is read
// into memory once, so a file replaced, truncated or removed afterwards
// does not disturb look-ups in flight; a reload opens the new file as a
// new MMDB and the old one is freed when no look-up holds it. It is safe
// for concurrent use.
type MMDB struct {
	name   string
	path   string
	size   int64
	mtime  time.Time
	schema Schema
	r      *maxminddb.Reader

	// Decoded records by data offset: a country database has a few
	// hundred distinct records behind a million networks, so each is
	// decoded once and look-ups allocate nothing.
	mu    sync.RWMutex
	cache map[uintptr]location.Location
	// Subdivision names (SchemaFlat) to ISO 3166-2 codes, per country.
	subdivs map[string]map[string]string
}

// OpenMMDB reads the MMDB file at path as the source called name. It
// fails, naming the file, when the file cannot be read, is not a valid
// MaxMind DB (truncated, corrupt: the search tree's size is checked, and
// Verify reads every record), or its records are in neither schema:
// that error matches ErrSchema and names the fields found.
func OpenMMDB(name, path string) (*MMDB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", name, err)
	}
	defer f.Close()
	// Size and time come from the open file, so they describe the bytes
	// read even when the file is replaced meanwhile.
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", name, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("source %s: read %s: %w", name, path, err)
	}
	m, err := newMMDB(name, path, data)
	if err != nil {
		return nil, err
	}
	m.size, m.mtime = st.Size(), st.ModTime()
	return m, nil
}

func newMMDB(name, path string, data []byte) (*MMDB, error) {
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("source %s: %s: %w", name, path, err)
	}
	// The search tree must end where the file says: a node count or
	// record size that is not the one written puts the data section
	// elsewhere, and every record read would be garbage.
	md := r.Metadata
	tree := md.NodeCount * md.RecordSize / 4
	if md.RecordSize != 24 && md.RecordSize != 28 && md.RecordSize != 32 {
		return nil, fmt.Errorf("source %s: %s: not a valid MaxMind DB: record size %d (want 24, 28 or 32)", name, path, md.RecordSize)
	}
	if tree+16 > uint(len(data)) || !bytes.Equal(data[tree:tree+16], make([]byte, 16)) {
		return nil, fmt.Errorf("source %s: %s: not a valid MaxMind DB (truncated or corrupt): no data section separator after the search tree of %d nodes of %d bits", name, path, md.NodeCount, md.RecordSize)
	}
	schema, err := detectSchema(r)
	if err != nil {
		return nil, fmt.Errorf("source %s: %s: %w", name, path, err)
	}
	return &MMDB{name: name, path: path, schema: schema, r: r,
		cache: map[uintptr]location.Location{}, subdivs: map[string]map[string]string{}}, nil
}

// Verify reads the whole file: every network of the search tree and every
// record it points at, decoded as look-ups decode it. A file cut short by
// a failed download opens and reads its first records well, so only a
// full walk tells it from a good one (maxminddb's own Verify also insists
// on metadata, such as a description, that real files omit). It is what
// AddMMDB runs before keeping a source; a reload walks every network
// anyway to build its table (see Build), and keeps the previous copy of a
// file that fails there.
func (m *MMDB) Verify() error {
	_, err := m.verify()
	return err
}

// verify is Verify, counting the file's networks (a Table's count of
// the source's entries, stored by AddMMDB for ListSources).
func (m *MMDB) verify() (int, error) {
	seen := map[uintptr]bool{}
	n := 0
	for res := range m.r.Networks() {
		n++
		if err := res.Err(); err != nil {
			return 0, fmt.Errorf("source %s: %s: not a valid MaxMind DB (truncated or corrupt): %w", m.name, m.path, err)
		}
		if seen[res.Offset()] {
			continue
		}
		seen[res.Offset()] = true
		if _, err := m.location(res); err != nil {
			return 0, fmt.Errorf("source %s: %s: not a valid MaxMind DB (truncated or corrupt): network %v: %w", m.name, m.path, res.Prefix(), err)
		}
	}
	return n, nil
}

// detectSchema reads records until one has a country field of either
// schema.
func detectSchema(r *maxminddb.Reader) (Schema, error) {
	fields := map[string]bool{}
	n := 0
	for res := range r.Networks() {
		if n++; n > schemaProbe {
			break
		}
		var rec map[string]any
		if err := res.Decode(&rec); err != nil {
			return "", fmt.Errorf("network %v: %w", res.Prefix(), err)
		}
		if c, ok := rec["country"].(map[string]any); ok {
			if _, ok := c["iso_code"]; ok {
				return SchemaGeoIP2, nil
			}
		}
		if _, ok := rec["country_code"]; ok {
			return SchemaFlat, nil
		}
		for k := range rec {
			fields[k] = true
		}
	}
	found := "none"
	if len(fields) > 0 {
		found = strings.Join(slices.Sorted(maps.Keys(fields)), ", ")
	}
	return "", fmt.Errorf("%w: no country.iso_code (GeoIP2) or country_code (ip-location-db) in the first %d networks; fields found: %s",
		ErrSchema, min(n, schemaProbe), found)
}

// Name is the source's name.
func (m *MMDB) Name() string { return m.name }

// Path is the file the source was read from.
func (m *MMDB) Path() string { return m.path }

// Schema is the record layout found in the file.
func (m *MMDB) Schema() Schema { return m.schema }

// DatabaseType is the database_type the file's metadata gives.
func (m *MMDB) DatabaseType() string { return m.r.Metadata.DatabaseType }

// BuildTime is when the file says it was built.
func (m *MMDB) BuildTime() time.Time { return m.r.Metadata.BuildTime() }

// Lookup answers for a: the file's network containing a and its location.
// ok is false when the file has no data for a. A zone on a is ignored,
// and an IPv4-mapped address is looked up as its IPv4 address.
func (m *MMDB) Lookup(a netip.Addr) (ans Answer, ok bool, err error) {
	res := m.r.Lookup(a.WithZone("").Unmap())
	if err := res.Err(); err != nil {
		return Answer{}, false, fmt.Errorf("source %s: look up %v: %w", m.name, a, err)
	}
	if !res.Found() {
		return Answer{}, false, nil
	}
	loc, err := m.location(res)
	if err != nil {
		return Answer{}, false, fmt.Errorf("source %s: look up %v: %w", m.name, a, err)
	}
	return Answer{Source: m.name, Kind: KindMMDB, Prefix: res.Prefix(), Location: loc}, true, nil
}

// Walk calls fn, in address order, for each of the file's networks inside
// p, clipped to p: when a single network of the file contains p, fn sees
// p itself with that network's location. Every network is visited, none
// sampled; parts of p the file has no data for are skipped, and networks
// whose record places nothing come with a zero Location. Walk stops at
// the first error fn returns and returns it.
func (m *MMDB) Walk(p netip.Prefix, fn func(Entry) error) error {
	p = p.Masked()
	for res := range m.r.NetworksWithin(p) {
		if err := res.Err(); err != nil {
			return fmt.Errorf("source %s: walk %v: %w", m.name, p, err)
		}
		loc, err := m.location(res)
		if err != nil {
			return fmt.Errorf("source %s: walk %v: network %v: %w", m.name, p, res.Prefix(), err)
		}
		q := res.Prefix()
		if q.Bits() < p.Bits() {
			q = p
		}
		if err := fn(Entry{Prefix: q, Location: loc}); err != nil {
			return err
		}
	}
	return nil
}

// location decodes the record of res, once per distinct record.
func (m *MMDB) location(res maxminddb.Result) (location.Location, error) {
	off := res.Offset()
	m.mu.RLock()
	loc, ok := m.cache[off]
	m.mu.RUnlock()
	if ok {
		return loc, nil
	}
	var err error
	switch m.schema {
	case SchemaGeoIP2:
		var rec struct {
			Country struct {
				ISOCode string `maxminddb:"iso_code"`
			} `maxminddb:"country"`
			Subdivisions []struct {
				ISOCode string `maxminddb:"iso_code"`
			} `maxminddb:"subdivisions"`
			City struct {
				Names struct {
					EN string `maxminddb:"en"`
				} `maxminddb:"names"`
			} `maxminddb:"city"`
		}
		if err = res.Decode(&rec); err == nil {
			loc.Country = strings.ToUpper(rec.Country.ISOCode)
			// GeoIP2 lists subdivisions from the largest; its codes
			// lack the country part ("VA" for US-VA). The most specific
			// one is kept (GB-WBK West Berkshire, not GB-ENG England):
			// ISO 3166-2 knows it lies in the larger (see Within), and a
			// region placed in GB-WBK is then compared with GB-WBK.
			if loc.Country != "" {
				for i := len(rec.Subdivisions) - 1; i >= 0; i-- {
					if c := rec.Subdivisions[i].ISOCode; c != "" {
						loc.Subdivision = loc.Country + "-" + strings.ToUpper(c)
						break
					}
				}
			}
			loc.City = rec.City.Names.EN
		}
	case SchemaFlat:
		var rec struct {
			CountryCode string `maxminddb:"country_code"`
			State1      string `maxminddb:"state1"`
			City        string `maxminddb:"city"`
		}
		if err = res.Decode(&rec); err == nil {
			loc.Country = strings.ToUpper(rec.CountryCode)
			loc.City = rec.City
			if loc.Country != "" && rec.State1 != "" {
				loc.Subdivision = m.subdivisionCode(loc.Country, rec.State1)
			}
		}
	}
	if err != nil {
		return location.Location{}, err
	}
	m.mu.Lock()
	m.cache[off] = loc
	m.mu.Unlock()
	return loc, nil
}

// subdivisionCode turns the flat schema's state1, a subdivision name such
// as "Virginia" (or, in some files, a code), into its ISO 3166-2 code, or
// "" when it names no current subdivision of country: a Location carries
// codes only (RFC 8805 §2.1.1.3).
func (m *MMDB) subdivisionCode(country, state string) string {
	m.mu.RLock()
	names, ok := m.subdivs[country]
	m.mu.RUnlock()
	if !ok {
		names = map[string]string{}
		for _, s := range iso3166.Subdivisions(country) {
			names[strings.ToLower(s.Name)] = s.Code
			names[strings.ToLower(s.Code)] = s.Code
			names[strings.ToLower(strings.TrimPrefix(s.Code, country+"-"))] = s.Code
		}
		m.mu.Lock()
		m.subdivs[country] = names
		m.mu.Unlock()
	}
	return names[strings.ToLower(state)]
}
