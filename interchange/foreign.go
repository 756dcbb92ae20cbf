package interchange

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/cadastre-ipam/cadastre/registry"
)

// ForeignOptions say how to map what another IPAM's export leaves open.
type ForeignOptions struct {
	// Region is the region of pools that name none (NetBox: no site or
	// region scope; phpIPAM: instead of the section's name).
	Region string
	// TopLevel is what a NetBox active prefix outside every pool becomes:
	// "pool", or "skip" (listed as not mapped). Empty: such a prefix is
	// ambiguous, and the file refused.
	TopLevel string
}

// Unmapped is one item of a foreign export that has no place in the
// register (yet): it is listed, never dropped silently.
type Unmapped struct {
	At   string `json:"at"`
	What string `json:"what"`
	Why  string `json:"why"`
}

// String is "WHERE: WHAT: WHY", one line of the import's list.
func (u Unmapped) String() string { return u.At + ": " + u.What + ": " + u.Why }

// candidate is a prefix of a foreign export that may become a pool or an
// assignment, with what the export says of it.
type candidate struct {
	at       string
	p        netip.Prefix
	pool     bool // the export marks it a pool (container, is_pool, a subnet)
	leafOnly bool // an address: never a pool
	region   string
	space    string                    // the VRF's space; empty: global (or private, by the block)
	reserved string                    // not empty: a reservation, with this reason
	rec      registry.AssignmentRecord // tenant, resource, name, tags
}

// place turns candidates into pools and assignments: a marked pool, or a
// prefix that holds other candidates, is a pool; a pool inside another is
// a child pool, which version 1 cannot record (listed), and what it holds
// goes to the outer pool; everything else is an assignment of the pool
// holding it. A prefix outside every pool becomes a pool when topLevel is
// "pool", is listed when "skip", and is refused otherwise.
//
// Candidates of each space are placed apart (VRFs may overlap); reserved
// ones become reservations of the pool holding them, or are listed.
func place(cs []candidate, opt ForeignOptions, d *registry.Dump, un *[]Unmapped) error {
	var reserved []candidate
	bySpace := map[string][]candidate{}
	var spaces []string
	for _, c := range cs {
		if c.reserved != "" {
			reserved = append(reserved, c)
			continue
		}
		if _, ok := bySpace[c.space]; !ok {
			spaces = append(spaces, c.space)
		}
		bySpace[c.space] = append(bySpace[c.space], c)
	}
	slices.Sort(spaces)
	for _, sp := range spaces {
		if err := placeIn(bySpace[sp], sp, opt, d, un); err != nil {
			return err
		}
	}
	for _, c := range reserved {
		var in *registry.PoolRecord
		for i := range d.Pools {
			p := &d.Pools[i]
			if p.Space == c.space && p.Prefix.Contains(c.p.Addr()) && p.Prefix.Bits() <= c.p.Bits() && (in == nil || p.Prefix.Bits() > in.Prefix.Bits()) {
				in = p
			}
		}
		if in == nil {
			*un = append(*un, Unmapped{c.at, "reserved " + c.p.String(), "outside every pool of the file: a reservation lies in a pool"})
			continue
		}
		d.Reservations = append(d.Reservations, registry.ReservationRecord{Pos: registry.Pos{At: c.at}, Prefix: c.p, Reason: c.reserved, Space: c.space})
	}
	return nil
}

// placeIn places the candidates of one space.
func placeIn(cs []candidate, space string, opt ForeignOptions, d *registry.Dump, un *[]Unmapped) error {
	slices.SortStableFunc(cs, func(a, b candidate) int {
		if c := a.p.Addr().Compare(b.p.Addr()); c != 0 {
			return c
		}
		return a.p.Bits() - b.p.Bits()
	})
	// outer is the pool being filled; everything up to its last address
	// lies inside it.
	var outer *registry.PoolRecord // a copy: d.Pools grows
	for i := range cs {
		c := &cs[i]
		holds := !c.leafOnly && i+1 < len(cs) && c.p.Contains(cs[i+1].p.Addr()) && cs[i+1].p.Bits() >= c.p.Bits()
		inside := outer != nil && outer.Prefix.Contains(c.p.Addr())
		if !inside {
			outer = nil
		}
		isPool := !c.leafOnly && (c.pool || holds)
		switch {
		case isPool && inside:
			*un = append(*un, Unmapped{c.at, "pool " + c.p.String(), fmt.Sprintf("nested in pool %s: child pools are not supported by this version; what it holds goes to %s", outer.Prefix, outer.Prefix)})
			continue
		case !isPool && !inside && !c.leafOnly:
			switch opt.TopLevel {
			case "pool":
				isPool = true
			case "skip":
				*un = append(*un, Unmapped{c.at, "prefix " + c.p.String(), "outside every pool (--top-level skip)"})
				continue
			default:
				return fmt.Errorf("%s: prefix %s: active, outside every container or pool, holding nothing: a pool or an assignment? Say --top-level pool or --top-level skip: %w", c.at, c.p, ErrInvalid)
			}
		case !isPool && !inside:
			*un = append(*un, Unmapped{c.at, "address " + c.p.Addr().String(), "outside every pool of the file"})
			continue
		}
		if isPool {
			region := c.region
			if region == "" {
				region = opt.Region
			}
			if region == "" {
				return fmt.Errorf("%s: pool %s: no site or region names its region: give --region: %w", c.at, c.p, ErrInvalid)
			}
			pr := registry.PoolRecord{Pos: registry.Pos{At: c.at}, Prefix: c.p, Region: region, Space: space, Tags: c.rec.Tags}
			d.Pools = append(d.Pools, pr)
			outer = &pr
			continue
		}
		a := c.rec
		a.Pos = registry.Pos{At: c.at}
		// VRFs may overlap: the assignment names its pool's space.
		a.Prefix, a.Pool, a.Region, a.State, a.Space = c.p, outer.Prefix, outer.Region, registry.StateAssigned, space
		d.Assignments = append(d.Assignments, a)
	}
	return nil
}

// dnsName returns name as an assignment's name, or lists it.
func dnsName(at, what, name string, un *[]Unmapped) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		return ""
	}
	if err := registry.ValidateFQDN(n); err != nil {
		*un = append(*un, Unmapped{at, what, fmt.Sprintf("DNS name %q: %v; imported without a name", name, err)})
		return ""
	}
	return n
}

// slug makes a foreign name into a region or tenant name: lower case,
// spaces and underscores as '-'.
func slug(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer(" ", "-", "_", "-").Replace(s)
}

// tagsOf maps a foreign export's labels to tags KEY="" (NetBox tags have
// no value); a label that is no tag key is listed.
func tagsOf(at, what string, labels []string, un *[]Unmapped) registry.Tags {
	var t registry.Tags
	for _, l := range labels {
		k := slug(l)
		if err := registry.ValidateTagKey(k); err != nil {
			*un = append(*un, Unmapped{at, what, fmt.Sprintf("tag %q: %v", l, err)})
			continue
		}
		if t == nil {
			t = registry.Tags{}
		}
		t[k] = ""
	}
	return t
}

// addSpaces adds a space record for each space the pools name, and, for
// a pool whose space has no block in the file, a copy of the private
// block of the file holding it in that space (a VRF reuses the private
// space of the aggregates).
func addSpaces(d *registry.Dump) {
	seen := map[string]bool{}
	for _, p := range d.Pools {
		if p.Space == "" {
			continue
		}
		if !seen[p.Space] {
			seen[p.Space] = true
			d.Spaces = append(d.Spaces, registry.SpaceRecord{Pos: p.Pos, Name: p.Space, Note: "a VRF of the import"})
		}
		if slices.ContainsFunc(d.Blocks, func(b registry.BlockRecord) bool { return b.Space == p.Space && b.Prefix.Overlaps(p.Prefix) }) {
			continue
		}
		i := slices.IndexFunc(d.Blocks, func(b registry.BlockRecord) bool {
			return b.Space == "" && b.Source == registry.SourcePrivate && b.Prefix.Contains(p.Prefix.Addr()) && b.Prefix.Bits() <= p.Prefix.Bits()
		})
		if i >= 0 {
			b := d.Blocks[i]
			b.Space, b.Pos = p.Space, p.Pos
			d.Blocks = append(d.Blocks, b)
		}
	}
}
