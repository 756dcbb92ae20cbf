package zone

import (
	"slices"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/registry"
)

// Delta builds of zones linked by synthesis. A reverse zone with a
// template (it synthesises the PTR of every unnamed address of its
// pools) and the forward zone holding the template's suffix (it answers
// the A/AAAA of those names, unless the reverse zone holds a PTR for the
// address) are built from their last versions like any other zone: a
// named assignment is a PTR set in the one and an address set in the
// other, and neither needs the whole register. Two things are theirs:
//
//   - The versions point at each other (Data.forward, Data.synthFor):
//     the forward zone reads the reverse zone's PTRs to know which
//     addresses it must not synthesise. When one of them gets a new
//     version, the other, whether delta-built or unchanged, must point at
//     it. relink does so, on a shallow copy of a version already
//     published (never written: readers of the old snapshot see the old
//     links), with its serial and content unchanged.
//   - The forward zone keeps the template's suffix (and the names between
//     it and the apex) as names even with nothing below them (link), but
//     its NSEC3 chain holds them only while some name below holds records
//     (buildChain: the chain serves transfers, where such a name does not
//     exist). keptNames and (*Data).held make delta builds do the same.
//
// A change of the links themselves (a synthesising zone added, removed or
// moved to another forward zone) or of the pools a reverse zone
// synthesises in is not a delta: both zones are built in full (rebuildSet
// keeps the linked zones of a full build together).

// synthLinks is what a zone is linked to by synthesis in a build's input,
// by zone name.
type synthLinks struct {
	forward string   // a synthesising zone: the zone holding its template's suffix, or ""
	reverse []string // a forward zone: the synthesising zones whose suffix it holds, sorted
}

// linksOf is the links of every zone of zones, as link makes them from
// full builds of those zones: each synthesising zone is linked to the
// zone holding its template's suffix (the longest match).
func linksOf(zones []Zone) map[string]synthLinks {
	names := make(map[string]*Data, len(zones))
	for _, z := range zones {
		names[z.Name] = nil
	}
	out := map[string]synthLinks{}
	for _, z := range zones {
		if z.Synthesize == "" {
			continue
		}
		t, err := ParseTemplate(z.Synthesize)
		if err != nil {
			continue
		}
		fz := findZoneName(names, t.Suffix)
		if fz == "" {
			continue
		}
		l := out[z.Name]
		l.forward = fz
		out[z.Name] = l
		f := out[fz]
		f.reverse = append(f.reverse, z.Name)
		out[fz] = f
	}
	for name, l := range out {
		slices.Sort(l.reverse)
		out[name] = l
	}
	return out
}

// sameLinks says whether the version o has the links l (see linksOf) and,
// for a synthesising zone z, synthesises in the pools of pools that a
// full build would give it: then the change can be applied to o alone.
func (o *Data) sameLinks(l synthLinks, z *Zone, pools []registry.Pool) bool {
	fwd := ""
	if o.forward != nil {
		fwd = o.forward.zone.Name
	}
	if fwd != l.forward || len(o.synthFor) != len(l.reverse) {
		return false
	}
	for _, r := range o.synthFor {
		if !slices.Contains(l.reverse, r.zone.Name) {
			return false
		}
	}
	if o.tmpl == nil {
		return true
	}
	// As build chooses them, in the same order.
	i := 0
	for _, p := range pools {
		if !p.Prefix.Overlaps(z.Prefix) || !z.Config.Serves(p.Space) {
			continue
		}
		if i >= len(o.pools) || o.pools[i] != p.Prefix {
			return false
		}
		i++
	}
	return i == len(o.pools)
}

// relink makes the versions of zs linked by synthesis point at each
// other's versions in zs. Versions made by this build (made: built in
// full, or by delta builds) are set in place; a version published before
// is copied first (a shallow copy: the same names, chain, serial and
// content; only its links differ), so that readers of the snapshot that
// served it never see it change.
func relink(zs map[string]*Data, made map[*Data]bool) {
	// cur is the version of zs of the zone of d, or d when zs has none.
	cur := func(d *Data) *Data {
		if d == nil {
			return nil
		}
		if c := zs[d.zone.Name]; c != nil {
			return c
		}
		return d
	}
	// Each pass copies at most the versions that point at one copied
	// or new in the pass before; a version is copied once.
	for again := true; again; {
		again = false
		for name, zd := range zs {
			fwd := cur(zd.forward)
			stale := fwd != zd.forward
			for _, r := range zd.synthFor {
				stale = stale || cur(r) != r
			}
			if !stale {
				continue
			}
			if !made[zd] {
				c := *zd
				zd = &c
				zs[name], made[zd] = zd, true
			}
			rev := make([]*Data, len(zd.synthFor))
			for i, r := range zd.synthFor {
				rev[i] = cur(r)
			}
			zd.forward, zd.synthFor = fwd, rev
			again = true
		}
	}
}

// keptNames is the names the forward zone version o keeps whether or not
// anything is below them (link): the suffix of each template whose names
// it holds, and the names between that suffix and the apex. Nil for the
// other zones.
func (o *Data) keptNames() map[string]bool {
	if len(o.synthFor) == 0 {
		return nil
	}
	kept := map[string]bool{}
	for _, r := range o.synthFor {
		for m := r.tmpl.Suffix; m != o.zone.Name && !kept[m]; {
			kept[m] = true
			i, end := dns.NextLabel(m, 0)
			if end {
				break
			}
			m = m[i:]
		}
	}
	return kept
}

// held says whether name, a name of zd, holds records or has a name
// below it that does: whether buildChain gives it an NSEC3 link. Only a
// kept name can be neither (any other empty name is an empty
// non-terminal of a name with records), so the walk down the names below
// it, in canonical order, passes kept names only.
func (zd *Data) held(name string, kept map[string]bool) bool {
	n := zd.node(name)
	if n == nil {
		return false
	}
	if len(n.sets) > 0 || !kept[name] {
		return true
	}
	for at := name; ; {
		next, nn, ok := zd.names.After(at)
		if !ok || !dns.IsSubDomain(name, next) {
			return false
		}
		if len(nn.sets) > 0 || !kept[next] {
			return true
		}
		at = next
	}
}
