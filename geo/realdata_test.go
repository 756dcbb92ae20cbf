package geo

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/cadastre-ipam/cadastre/internal/testenv"
)

// Real databases fetched by scripts/fetch-geodata into .cache/geodata/.
const (
	geolite2File = "geolite2-country.mmdb"      // @ip-location-db/geolite2-country-mmdb
	whoisFile    = "geo-whois-asn-country.mmdb" // @ip-location-db/geo-whois-asn-country-mmdb
)

func TestRealDatabases(t *testing.T) {
	dbs := map[string]string{"geolite2": testenv.GeoData(t, geolite2File), "whois": testenv.GeoData(t, whoisFile)}
	tests := []struct {
		name, db, addr, country string
	}{
		{"Google's resolver is in the US", "geolite2", "8.8.8.8", "US"},
		{"Google's resolver is registered in the US", "whois", "8.8.8.8", "US"},
		{"Google's IPv6 resolver", "geolite2", "2001:4860:4860::8888", "US"},
		{"Google's IPv6 resolver, registration data", "whois", "2001:4860:4860::8888", "US"},
		{"Cloudflare's 1.1.1.1 is registered to APNIC's lab in Australia", "whois", "1.1.1.1", "AU"},
		// The Azure story: 191.232.0.0/13 was allocated through LACNIC to
		// Brazil, so a database that follows registration data says BR
		// wherever the addresses are used.
		{"Azure's 191.232.0.0/13 is Brazilian in registration data", "whois", "191.232.0.1", "BR"},
		{"Azure's 191.232.0.0/13, further in", "whois", "191.235.200.1", "BR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := OpenMMDB(tt.db, dbs[tt.db])
			if err != nil {
				t.Fatal(err)
			}
			if m.Schema() != SchemaFlat {
				t.Errorf("%s: schema %q, want %q", tt.db, m.Schema(), SchemaFlat)
			}
			ans, ok, err := m.Lookup(netip.MustParseAddr(tt.addr))
			if err != nil || !ok || ans.Location.Country != tt.country {
				t.Errorf("%s: Lookup(%s) = %+v, %v, %v; want %s", tt.db, tt.addr, ans, ok, err, tt.country)
			}
		})
	}

	// GeoLite2 places nothing for 1.1.1.0/24 (anycast): ranked after it,
	// the registration database answers.
	tab, err := Build(context.Background(), Inputs{MMDBs: []MMDBFile{{"geolite2", dbs["geolite2"]}, {"whois", dbs["whois"]}}}, nil, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if r := tab.LookupAll(netip.MustParseAddr("1.1.1.1")); r.Source != "whois" || r.Location.Country != "AU" || r.All[len(r.All)-1].Source != "whois" {
		t.Errorf("Lookup(1.1.1.1) = %+v", r)
	}
	// A Teredo client in Azure's Brazilian block is located by the client.
	r := tab.Lookup(netip.MustParseAddr("2001:0:4136:e378:8000:63bf:4017:fffe"))
	if r.LocatedBy != netip.MustParseAddr("191.232.0.1") || r.Location.Country != "BR" {
		t.Errorf("Teredo client in 191.232.0.1: %+v", r)
	}

	// Walk every network of the registration database inside the /13.
	m, _ := tab.MMDB("whois")
	var nets, br int
	countries := map[string]int{}
	if err := m.Walk(netip.MustParsePrefix("191.232.0.0/13"), func(e Entry) error {
		nets++
		countries[e.Location.Country]++
		if e.Location.Country == "BR" {
			br++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if nets == 0 || br == 0 {
		t.Errorf("walk of 191.232.0.0/13: %d networks, %d in BR", nets, br)
	}
	t.Logf("whois: 191.232.0.0/13 has %d networks, %d placed in BR; by country %v", nets, br, countries)
}

// randomIPv4 returns n uniformly random IPv4 addresses (xorshift, fixed seed).
func randomIPv4(n int) []netip.Addr {
	addrs := make([]netip.Addr, n)
	x := uint32(2463534242)
	for i := range addrs {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		addrs[i] = netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	}
	return addrs
}

// BenchmarkRealLookup is a whole Table.Lookup (classification, transition
// decoding, register and feed table, then the MMDB) of random IPv4
// addresses against GeoLite2 country.
func BenchmarkRealLookup(b *testing.B) {
	tab, err := Build(context.Background(), Inputs{MMDBs: []MMDBFile{{"geolite2", testenv.GeoData(b, geolite2File)}}}, nil, epoch)
	if err != nil {
		b.Fatal(err)
	}
	addrs := randomIPv4(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		tab.Lookup(addrs[i%len(addrs)])
	}
}

// BenchmarkRealMaxminddbDecode is the baseline: maxminddb-golang v2's
// Lookup and decode of the country code, for the same addresses.
func BenchmarkRealMaxminddbDecode(b *testing.B) {
	r, err := maxminddb.Open(testenv.GeoData(b, geolite2File))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	addrs := randomIPv4(4096)
	var cc string
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := r.Lookup(addrs[i%len(addrs)]).DecodePath(&cc, "country_code"); err != nil {
			b.Fatal(err)
		}
	}
}

// randomIPv6Hosts returns n random IPv6 hosts inside the networks of
// the first MMDB of tab (a random network, a random host in it).
func randomIPv6Hosts(t testing.TB, tab *Table, n int) []netip.Addr {
	m := tab.sources[tab.mmdbs[0]].mmdb
	var nets []netip.Prefix
	for res := range m.r.Networks() {
		if p := res.Prefix(); p.Addr().Is6() && !p.Addr().Is4In6() {
			nets = append(nets, p)
		}
	}
	if len(nets) == 0 {
		t.Fatal("no IPv6 networks")
	}
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]netip.Addr, n)
	for i := range out {
		p := nets[r.IntN(len(nets))]
		b := p.Addr().As16()
		for j := p.Bits(); j < 128; j++ {
			if r.IntN(2) == 1 {
				b[j/8] |= 0x80 >> (j % 8)
			}
		}
		out[i] = netip.AddrFrom16(b)
	}
	return out
}
