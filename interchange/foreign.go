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
	rec      registry.AssignmentRecord // tenant, resource, name
}

// place turns candidates into pools and assignments: a marked pool, or a
// prefix that holds other candidates, is a pool; a pool inside another is
// a child pool, which version 1 cannot record (listed), and what it holds
// goes to the outer pool; everything else is an assignment of the pool
// holding it. A prefix outside every pool becomes a pool when topLevel is
// "pool", is listed when "skip", and is refused otherwise.
func place(cs []candidate, opt ForeignOptions, d *registry.Dump, un *[]Unmapped) error {
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
			pr := registry.PoolRecord{Pos: registry.Pos{At: c.at}, Prefix: c.p, Region: region}
			d.Pools = append(d.Pools, pr)
			outer = &pr
			continue
		}
		a := c.rec
		a.Pos = registry.Pos{At: c.at}
		a.Prefix, a.Pool, a.Region, a.State = c.p, outer.Prefix, outer.Region, registry.StateAssigned
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
