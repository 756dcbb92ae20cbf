package zone

import (
	"hash/fnv"
	"hash/maphash"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// modelChain is the NSEC3 chain as buildChain made it from the map of a
// full build before names were frozen first: every name marked held
// through a map of each name with records and its ancestors. The chain
// is compared with it.
func modelChain(zd *Data) []nsec3Entry {
	held := map[string]bool{}
	for name, n := range zd.building {
		if len(n.sets) == 0 {
			continue
		}
		for m := name; !held[m]; {
			held[m] = true
			i, end := dns.NextLabel(m, 0)
			if end || m == zd.zone.Name {
				break
			}
			m = m[i:]
		}
	}
	type link struct {
		hash  string
		types []uint16
	}
	var links []link
	for name, n := range zd.building {
		if !held[name] {
			continue
		}
		ts, ok := zd.cutLinkTypes(name, n)
		if !ok {
			continue
		}
		links = append(links, link{nsec3Hash(name), ts})
	}
	sort.Slice(links, func(i, j int) bool { return links[i].hash < links[j].hash })
	chain := make([]nsec3Entry, len(links))
	for i, l := range links {
		chain[i] = nsec3Entry{hash: l.hash, l: &chainLink{next: links[(i+1)%len(links)].hash, types: l.types}}
	}
	return chain
}

// The chain made by walking the frozen names in canonical order is the
// one the map of held names made: names with records and the names above
// them, delegations with their DS, no glue, and no empty name with
// nothing below it (a synthesis template's suffix), whatever the names:
// wildcards, escaped dots, names that are prefixes of others.
func TestChainMatchesModel(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 7))
		zd := &Data{zone: Zone{Name: "example."}, building: map[string]*node{"example.": {}}}
		zd.names = newPtree[*node](canonicalCompare, maphash.MakeSeed())
		zd.add(&dns.NS{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 60}, Ns: "ns.example."})
		for range 1 + r.IntN(60) {
			name := randomName(r)
			switch r.IntN(5) {
			case 0: // an empty name: nothing below it but what others add
				if _, ok := zd.building[name]; !ok {
					zd.building[name] = &node{}
				}
			case 1: // a delegation, with a DS or not
				zd.add(&dns.NS{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 60}, Ns: "ns." + name})
				if r.IntN(2) == 0 {
					zd.add(&dns.DS{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeDS, Class: dns.ClassINET, Ttl: 60}, KeyTag: 1, Algorithm: 13, DigestType: 2, Digest: "00"})
				}
			default:
				zd.add(&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(10, 0, 0, byte(r.IntN(256)))})
			}
		}
		zd.addENTs()
		for name, n := range zd.building {
			if name != zd.zone.Name && n.sets.get(dns.TypeNS) != nil {
				if zd.cuts == nil {
					zd.cuts = map[string]bool{}
				}
				zd.cuts[name] = true
			}
		}
		want := modelChain(zd)
		zd.freeze()
		got := zd.buildChain()
		same := len(got) == len(want)
		for i := 0; same && i < len(got); i++ {
			same = got[i].hash == want[i].hash && sameLink(got[i].l, want[i].l)
		}
		if !same {
			var names []string
			for name := range zd.names.All() {
				names = append(names, name)
			}
			t.Fatalf("seed %d: names %q\nchain %d links, the model's %d", seed, names, len(got), len(want))
		}
	}
}

// setHash is hash/fnv's FNV-1a of the lower-case owner and the type, as
// forSet computed it before: the signing periods of every set stay where
// they were (a change would re-sign whole zones at the upgrade).
func TestSetHashIsFNV(t *testing.T) {
	for _, c := range []struct {
		owner string
		t     uint16
	}{
		{"", 0}, {"example.", dns.TypeSOA}, {"Host.Cloud.Example.", dns.TypeA}, {"a\\.b.example.", dns.TypeAAAA},
		{"*.wild.example.", dns.TypeTXT}, {"\\200.example.", 65534}, {"ÄBC.example.", dns.TypeNSEC3}, {"x\xffY.example.", dns.TypePTR},
	} {
		h := fnv.New32a()
		h.Write([]byte(strings.ToLower(c.owner)))
		h.Write([]byte{byte(c.t >> 8), byte(c.t)})
		if got, want := setHash(c.owner, c.t), h.Sum32(); got != want {
			t.Errorf("setHash(%q, %d) = %d, hash/fnv %d", c.owner, c.t, got, want)
		}
	}
}
