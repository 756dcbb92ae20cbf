package geo

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gaissmai/bart"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
)

// TestFlat6AgreesWithBart checks the flattened IPv6 index against bart's
// longest match on random nested prefixes of every length, /0 to /128,
// crowded into a few /64s and at both ends of the space so that ranges
// start inside /64s (the fine table) and at ::, and end at the last
// address.
func TestFlat6AgreesWithBart(t *testing.T) {
	bases := []netip.Addr{ma("::"), ma("2001:db8::"), ma("2001:db8:0:1::"), ma("2a00:1450:4001:800::"), ma("ffff:ffff:ffff:ffff::")}
	fine := 0
	for seed := range uint64(30) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 6))
			rnd := func() netip.Addr {
				b := bases[r.IntN(len(bases))].As16()
				for i := 6 + r.IntN(3); i < 16; i++ {
					if r.IntN(3) > 0 {
						b[i] = byte(r.IntN(256))
					}
				}
				return netip.AddrFrom16(b)
			}
			var tbl bart.Table[slot]
			var ps []netip.Prefix
			for i := range 1 + r.IntN(300) {
				bits := r.IntN(129)
				if r.IntN(2) == 0 {
					bits = 56 + r.IntN(73) // around and inside /64s
				}
				p, _ := rnd().Prefix(bits)
				tbl.Insert(p, mkSlot(p.Bits(), i%7, uint32(i%5)))
				ps = append(ps, p)
			}
			answer := func(s slot) Answer {
				return Answer{Source: fmt.Sprint(s.src()), Location: location.Location{Country: fmt.Sprint(s.loc())}}
			}
			f := newFlat6(tbl.AllSorted6(), answer)
			fine += len(f.fineAt) - 1
			check := func(a netip.Addr) {
				want, wantOK := tbl.Lookup(a)
				id := f.lookup(a)
				if id == 0 || !wantOK {
					if (id != 0) != wantOK {
						t.Fatalf("%v: flat6 id %#x, bart %v %v", a, id, want, wantOK)
					}
					return
				}
				got := f.ans[id>>8]
				got.Prefix = prefix6(a, int(id&0xff))
				w := answer(want)
				w.Prefix, _ = a.Prefix(want.bits())
				if got != w {
					t.Fatalf("%v: flat6 %+v, bart %+v", a, got, w)
				}
			}
			for _, p := range ps {
				last := prefix.Last(p)
				for _, a := range []netip.Addr{p.Addr(), last, p.Addr().Prev(), last.Next()} {
					if a.IsValid() {
						check(a)
					}
				}
			}
			for range 2000 {
				check(rnd())
			}
		})
	}
	if fine == 0 {
		t.Error("no range started inside a /64: the fine table went untested")
	}
	t.Logf("%d /64s with ranges starting inside", fine)
}

func TestPrefix6(t *testing.T) {
	a := ma("2001:db8:89ab:cdef:0123:4567:89ab:cdef")
	for bits := range 129 {
		want, _ := a.Prefix(bits)
		if got := prefix6(a, bits); got != want {
			t.Errorf("prefix6(%v, %d) = %v, want %v", a, bits, got, want)
		}
	}
}

// TestMayEmbed checks that the quick test lets through every address
// prefix.Embedded decodes.
func TestMayEmbed(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	forms := []netip.Prefix{mp("2001::/32"), mp("2002::/16"), mp("64:ff9b::/96"), mp("64:ff9b:1::/48"), mp("::ffff:0:0/96"), mp("::/96"), mp("2000::/3"), mp("::/0"), mp("::/64")}
	for range 200000 {
		p := forms[r.IntN(len(forms))]
		b := p.Addr().As16()
		for j := p.Bits(); j < 128; j++ {
			if r.IntN(2) == 1 {
				b[j/8] |= 0x80 >> (j % 8)
			}
		}
		if r.IntN(4) == 0 { // an ISATAP interface identifier
			b[8], b[9], b[10], b[11] = byte(r.IntN(2)*2), 0, 0x5e, 0xfe
		}
		a := netip.AddrFrom16(b)
		if _, ok := prefix.Embedded(a); ok && !mayEmbed(a) {
			t.Fatalf("%v: prefix.Embedded decodes it, mayEmbed says no", a)
		}
	}
}
