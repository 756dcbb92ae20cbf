package geo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/cadastre-ipam/cadastre/internal/testenv"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// model is the ranking rule written out the slow way: the register and
// the feeds in order, each by its own longest match, then each MMDB file
// in order through its reader, skipping records that place nothing.
func model(t *testing.T, in Inputs, tab *Table, a netip.Addr) (Answer, bool) {
	t.Helper()
	longest := func(entries []Entry) (Entry, bool) {
		var best Entry
		found := false
		for _, e := range entries {
			// A prefix twice in one source: the later entry (the checker refuses duplicates).
			if e.Prefix.Contains(a) && (!found || e.Prefix.Bits() >= best.Prefix.Bits()) {
				best, found = e, true
			}
		}
		return best, found
	}
	reg := make([]Entry, len(in.Register))
	for i, p := range in.Register {
		reg[i] = Entry{p.Prefix, p.Location}
	}
	if e, ok := longest(reg); ok {
		return Answer{RegisterSource, KindRegister, e.Prefix, e.Location}, true
	}
	for _, f := range in.Feeds {
		if e, ok := longest(f.Entries); ok {
			return Answer{f.Name, KindGeofeed, e.Prefix, e.Location}, true
		}
	}
	for _, f := range in.MMDBs {
		m, ok := tab.MMDB(f.Name)
		if !ok {
			continue
		}
		ans, ok, err := m.Lookup(a)
		if err != nil {
			t.Fatal(err)
		}
		if ok && !ans.Location.IsZero() {
			return ans, true
		}
	}
	return Answer{}, false
}

// randomPrefix is a prefix inside 10.0.0.0/16 or 2001:db8::/40 of length
// 16-28 (IPv4) or 40-60 (IPv6), so that random sources nest and overlap.
func randomPrefix(r *rand.Rand) netip.Prefix {
	if r.IntN(2) == 0 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(256)), byte(r.IntN(256))})
		p, _ := a.Prefix(16 + r.IntN(13))
		return p
	}
	b := netip.MustParseAddr("2001:db8::").As16()
	b[5], b[6], b[7] = byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))
	p, _ := netip.AddrFrom16(b).Prefix(40 + r.IntN(21))
	return p
}

var countries = []string{"US", "BR", "DE", "JP", "AU", ""}

func TestMergedTableAgreesWithRankModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 5))
			dir := t.TempDir()
			var in Inputs
			// The register's placements never overlap.
			for range 6 {
				p := randomPrefix(r)
				overlaps := false
				for _, q := range in.Register {
					overlaps = overlaps || q.Prefix.Overlaps(p)
				}
				if !overlaps {
					in.Register = append(in.Register, registry.Placement{Prefix: p, Location: location.Location{Country: countries[r.IntN(5)]}})
				}
			}
			for f := range 2 {
				feed := Feed{Name: fmt.Sprintf("feed-%d", f)}
				for range 8 {
					feed.Entries = append(feed.Entries, Entry{randomPrefix(r), location.Location{Country: countries[r.IntN(len(countries))]}})
				}
				in.Feeds = append(in.Feeds, feed)
			}
			for f := range 3 {
				var nets []netRecord
				for range 12 {
					c := countries[r.IntN(len(countries))]
					rec := mmdbtype.Map{"country_code": mmdbtype.String(c)}
					if f == 1 {
						rec = geoip2(c, "", "")
					}
					nets = append(nets, netRecord{randomPrefix(r).String(), rec})
				}
				name := fmt.Sprintf("db-%d", f)
				in.MMDBs = append(in.MMDBs, MMDBFile{name, writeMMDB(t, dir, name+".mmdb", nets...)})
			}
			tab, err := Build(context.Background(), in, nil, epoch)
			if err != nil {
				t.Fatal(err)
			}
			// Rebuilt over the previous table with another register: the
			// MMDB part is reused and must not keep the old register.
			in2 := in
			in2.Register = append([]registry.Placement{}, in.Register[:len(in.Register)/2]...)
			tab2, err := Build(context.Background(), in2, tab, epoch)
			if err != nil {
				t.Fatal(err)
			}
			if tab2.mm != tab.mm {
				t.Error("the MMDB index was built again for unchanged files")
			}
			// A Point over a store holding the same sources answers as
			// the table does, without building it.
			st := &fakeStore{entries: map[string][]Entry{}}
			for i, f := range in.Feeds {
				st.srcs = append(st.srcs, Source{ID: int64(10 + i), Name: f.Name, Kind: KindGeofeed, Entries: int64(len(f.Entries))})
				st.entries[f.Name] = f.Entries
			}
			for i, f := range in.MMDBs {
				st.srcs = append(st.srcs, Source{ID: int64(20 + i), Name: f.Name, Kind: KindMMDB, Origin: f.Path})
			}
			// The rank is by ID, not by the order listed.
			slices.Reverse(st.srcs)
			pt, err := NewPoint(context.Background(), fakePlacer(in.Register), st, epoch)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := pt.Sources(), tab.Sources(); len(got) != len(want) {
				t.Fatalf("point sources %+v, table %+v", got, want)
			}
			for range 3000 {
				a := randomPrefix(r).Addr()
				if r.IntN(2) == 0 {
					a = a.Next()
				}
				for _, all := range []bool{false, true} {
					var got Result
					if err := pt.Lookup(context.Background(), &got, a, all); err != nil {
						t.Fatal(err)
					}
					want := tab.Lookup(a)
					if all {
						want = tab.LookupAll(a)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%v (all %v): point %+v, table %+v", a, all, got, want)
					}
				}
			}
			for range 3000 {
				a := randomPrefix(r).Addr()
				if r.IntN(2) == 0 {
					a = a.Next()
				}
				for _, c := range []struct {
					in  Inputs
					tab *Table
				}{{in, tab}, {in2, tab2}} {
					want, wantOK := model(t, c.in, c.tab, a)
					var got Answer
					gotOK := c.tab.best(&got, a)
					if got != want || gotOK != wantOK {
						t.Fatalf("%v: table %+v %v, model %+v %v", a, got, gotOK, want, wantOK)
					}
				}
			}
		})
	}
}

// TestRealTableAgreesWithReader checks the merged table against the
// maxminddb reader on both real databases, for random addresses of both
// families.
func TestRealTableAgreesWithReader(t *testing.T) {
	in := Inputs{MMDBs: []MMDBFile{{"geolite2", testenv.GeoData(t, geolite2File)}, {"whois", testenv.GeoData(t, whoisFile)}}}
	tab, err := Build(context.Background(), in, nil, epoch)
	if err != nil {
		t.Fatal(err)
	}
	addrs := append(randomIPv4(20000), randomIPv6Hosts(t, tab, 20000)...)
	for _, a := range addrs {
		want, wantOK := model(t, in, tab, a)
		var got Answer
		gotOK := tab.best(&got, a)
		if got != want || gotOK != wantOK {
			t.Fatalf("%v: table %+v %v, reader %+v %v", a, got, gotOK, want, wantOK)
		}
	}
}
