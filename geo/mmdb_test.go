package geo

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/cadastre-ipam/cadastre/location"
)

// geoip2 is a record in MaxMind's GeoIP2 layout.
func geoip2(country, subdivision, city string) mmdbtype.Map {
	m := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(country), "names": mmdbtype.Map{"en": mmdbtype.String(country + " name")}}}
	if subdivision != "" {
		m["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(subdivision)}}
	}
	if city != "" {
		m["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(city), "de": mmdbtype.String(city + " (de)")}}
	}
	return m
}

// flat is a record in the ip-location-db layout.
func flat(country, state1, city string) mmdbtype.Map {
	m := mmdbtype.Map{"country_code": mmdbtype.String(country)}
	if state1 != "" {
		m["state1"] = mmdbtype.String(state1)
	}
	if city != "" {
		m["city"] = mmdbtype.String(city)
	}
	return m
}

type netRecord struct {
	prefix string
	rec    mmdbtype.Map
}

// writeMMDB writes an IPv6 MMDB (IPv4 aliased into it, as real files
// are) with the given networks to dir/name and returns its path.
func writeMMDB(t testing.TB, dir, name string, nets ...netRecord) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "cadastre-test", IncludeReservedNetworks: true, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets {
		_, ipn, err := net.ParseCIDR(n.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(ipn, n.rec); err != nil {
			t.Fatalf("insert %s: %v", n.prefix, err)
		}
	}
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// Replace atomically, as a careful updater does.
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMMDBSchemas(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		nets   []netRecord
		schema Schema
		addr   string
		prefix string
		want   location.Location
	}{
		{
			name:   "GeoIP2: country.iso_code, subdivision prefixed with the country, city.names.en",
			nets:   []netRecord{{"192.0.2.0/24", geoip2("US", "VA", "Ashburn")}},
			schema: SchemaGeoIP2, addr: "192.0.2.77", prefix: "192.0.2.0/24",
			want: location.Location{Country: "US", Subdivision: "US-VA", City: "Ashburn"},
		},
		{
			name:   "GeoIP2: country only",
			nets:   []netRecord{{"2001:db8::/32", geoip2("DE", "", "")}},
			schema: SchemaGeoIP2, addr: "2001:db8::1", prefix: "2001:db8::/32",
			want: location.Location{Country: "DE"},
		},
		{
			name:   "ip-location-db: country_code, state1 name to ISO 3166-2 code, city",
			nets:   []netRecord{{"198.51.100.0/24", flat("BR", "São Paulo", "Campinas")}},
			schema: SchemaFlat, addr: "198.51.100.1", prefix: "198.51.100.0/24",
			want: location.Location{Country: "BR", Subdivision: "BR-SP", City: "Campinas"},
		},
		{
			name:   "ip-location-db: an unknown state1 is dropped, never stored as a code",
			nets:   []netRecord{{"198.51.100.0/24", flat("US", "Atlantis", "")}},
			schema: SchemaFlat, addr: "198.51.100.1", prefix: "198.51.100.0/24",
			want: location.Location{Country: "US"},
		},
		{
			name:   "ip-location-db: country only, IPv6",
			nets:   []netRecord{{"2001:db8:1::/48", flat("JP", "", "")}},
			schema: SchemaFlat, addr: "2001:db8:1::5", prefix: "2001:db8:1::/48",
			want: location.Location{Country: "JP"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeMMDB(t, dir, string(rune('a'+i))+".mmdb", tt.nets...)
			m, err := OpenMMDB("test", path)
			if err != nil {
				t.Fatal(err)
			}
			if m.Schema() != tt.schema {
				t.Errorf("schema %q, want %q", m.Schema(), tt.schema)
			}
			ans, ok, err := m.Lookup(netip.MustParseAddr(tt.addr))
			if err != nil || !ok {
				t.Fatalf("Lookup(%s) = %v, %v, %v", tt.addr, ans, ok, err)
			}
			want := Answer{Source: "test", Kind: KindMMDB, Prefix: netip.MustParsePrefix(tt.prefix), Location: tt.want}
			if ans != want {
				t.Errorf("Lookup(%s) = %+v, want %+v", tt.addr, ans, want)
			}
			if _, ok, err := m.Lookup(netip.MustParseAddr("203.0.113.1")); ok || err != nil {
				t.Errorf("Lookup outside the data: ok %v, err %v", ok, err)
			}
		})
	}
}

func TestOpenMMDBRejects(t *testing.T) {
	dir := t.TempDir()
	good := writeMMDB(t, dir, "good.mmdb", netRecord{"192.0.2.0/24", flat("US", "", "")})
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		is      error
		mention []string
	}{
		{"a missing file names the file", filepath.Join(dir, "absent.mmdb"), os.ErrNotExist, []string{"source s", "absent.mmdb"}},
		{"a truncated file is not a MaxMind DB", write("truncated.mmdb", data[:len(data)/2]), nil, []string{"source s", "truncated.mmdb"}},
		{"random bytes are not a MaxMind DB", write("junk.mmdb", []byte(strings.Repeat("not an mmdb ", 100))), nil, []string{"junk.mmdb"}},
		{"an empty file is not a MaxMind DB", write("empty.mmdb", nil), nil, []string{"empty.mmdb"}},
		{
			"an ASN database has no country field: the error names the fields found",
			writeMMDB(t, dir, "asn.mmdb", netRecord{"192.0.2.0/24", mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(64496), "autonomous_system_organization": mmdbtype.String("Example")}}),
			ErrSchema, []string{"asn.mmdb", "fields found: autonomous_system_number, autonomous_system_organization"},
		},
		{
			"a GeoIP2-like record without country.iso_code is not taken for GeoIP2",
			writeMMDB(t, dir, "continent.mmdb", netRecord{"192.0.2.0/24", mmdbtype.Map{"continent": mmdbtype.Map{"code": mmdbtype.String("EU")}, "country": mmdbtype.Map{"names": mmdbtype.Map{}}}}),
			ErrSchema, []string{"fields found: continent, country"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := OpenMMDB("s", tt.path)
			if err == nil {
				t.Fatalf("OpenMMDB(%s) = %v, want an error", tt.path, m)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not match %v", err, tt.is)
			}
			for _, s := range tt.mention {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestMMDBWalk(t *testing.T) {
	path := writeMMDB(t, t.TempDir(), "w.mmdb",
		netRecord{"198.51.100.0/25", flat("US", "", "")},
		netRecord{"198.51.100.128/26", flat("BR", "", "")},
		netRecord{"198.51.100.192/26", mmdbtype.Map{"country_code": mmdbtype.String("")}},
		netRecord{"203.0.112.0/23", flat("JP", "", "")},
		netRecord{"2001:db8::/48", flat("DE", "", "")},
		netRecord{"2001:db8:0:8000::/49", flat("FR", "", "")},
	)
	m, err := OpenMMDB("w", path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		within string
		want   []string
	}{
		{"every network inside, in address order, none sampled", "198.51.100.0/24", []string{"198.51.100.0/25 US", "198.51.100.128/26 BR", "198.51.100.192/26 "}},
		{"a prefix inside one network is clipped to the prefix", "203.0.113.0/24", []string{"203.0.113.0/24 JP"}},
		{"a prefix with no data yields nothing", "192.0.2.0/24", nil},
		{"IPv6", "2001:db8::/47", []string{"2001:db8::/49 DE", "2001:db8:0:8000::/49 FR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := m.Walk(netip.MustParsePrefix(tt.within), func(e Entry) error {
				got = append(got, e.Prefix.String()+" "+e.Location.Country)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Walk(%s) = %q, want %q", tt.within, got, tt.want)
			}
		})
	}
	stop := errors.New("stop")
	n := 0
	if err := m.Walk(netip.MustParsePrefix("198.51.100.0/24"), func(Entry) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Walk did not stop at fn's error: %v after %d", err, n)
	}
}
