package zone

import (
	"net/netip"
	"slices"

	"github.com/cadastre-ipam/cadastre/registry"
)

// Static PTR records at tenants' addresses (issue 10: tenants own their
// names). A static PTR is not refused when its address is later handed
// to a tenant (any PTR could otherwise block an address), so the zone
// builder decides what answers at an address a tenant holds, live or
// quarantined, through any assignment that covers it (a /32, a /29, a
// /64):
//
//   - a named live single address answers its assignment's name alone
//     (shadowPTRs): the tenant's reverse name is its assignment's name;
//   - otherwise a static PTR written before the assignment was made
//     (Record.CreatedAt not after Assignment.CreatedAt) is not served:
//     it is a stranger's or an earlier holder's name. The address then
//     answers the static PTRs written while the tenant held it, or the
//     synthesised name where the zone synthesises, or no PTR. Who can
//     write a PTR there while the tenant holds the address: the tenant
//     itself (a token bound to it, under a reverse name suffix it was
//     given, manage.ReverseRecordCheck refuses everyone else, admins
//     included), and admins before that check existed. Both wrote it for
//     this holder.
//
// The operator's own addresses (no tenant) serve their static PTRs as
// written, and so does a free address: once a quarantine ends the
// records answer again, and the next holder never inherits them (they
// predate it). The full build (build), the incremental one (a change at
// such an address is built in full: touchesStaticPTR), the fingerprint
// and `record list` (PTRShadowedBy, through manage.MarkNotServed) read
// the same rule.

// Why a static PTR is not served, as `record list` says it
// (Record.NotServed). Neither names the tenant or its name: a tenant's
// token lists the records under its suffixes.
const (
	// PTRNamed: the address is a tenant's named live assignment.
	PTRNamed = "the address is a tenant's named assignment, whose name is its PTR"
	// PTRBeforeHolder: the record is older than the tenant's assignment.
	PTRBeforeHolder = "written before the address was handed to the tenant that holds it (assigned or quarantined)"
)

// PTRShadowedBy says why assignment a keeps reverse zone z from serving
// its static PTR record r at address addr (PTRNamed, PTRBeforeHolder), or
// "" when a leaves r served: a is not a tenant's, not live (assigned or
// quarantined), not of a space z serves, or does not cover addr, or r
// was written after a was made.
func PTRShadowedBy(z *Zone, r Record, addr netip.Addr, a registry.Assignment) string {
	if a.Tenant == "" || a.State != registry.StateAssigned && a.State != registry.StateQuarantined ||
		!z.Config.Serves(a.Space) || !a.Prefix.Contains(addr) {
		return ""
	}
	if a.State == registry.StateAssigned && a.Name != "" && a.Prefix.IsSingleIP() {
		return PTRNamed
	}
	if !r.CreatedAt.After(a.CreatedAt) {
		return PTRBeforeHolder
	}
	return ""
}

// StaticPTRAddrs is the addresses of the static PTR records of reverse
// zone z among rs (those at an address's own reverse name), sorted, each
// once: where a tenant's assignment decides what answers (PTRShadowedBy).
// Nil for a forward zone.
func StaticPTRAddrs(z *Zone, rs []Record) []netip.Addr {
	if z.Kind != Reverse {
		return nil
	}
	var out []netip.Addr
	for _, r := range rs {
		if r.ZoneID != z.ID || r.Type != "PTR" {
			continue
		}
		if p, ok := reversePrefix(z, r.Name); ok && p.IsSingleIP() {
			out = append(out, p.Addr())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// covered is the addresses of addrs (sorted) that p covers.
func covered(addrs []netip.Addr, p netip.Prefix) []netip.Addr {
	if len(addrs) == 0 || !p.IsValid() {
		return nil
	}
	p = p.Masked()
	i, _ := slices.BinarySearchFunc(addrs, p.Addr(), netip.Addr.Compare)
	j := i
	for j < len(addrs) && p.Contains(addrs[j]) {
		j++
	}
	return addrs[i:j]
}

// touchesStaticPTR says whether a change of in.Delta is one of a
// tenant's assignment (on either side) covering one of addrs, the static
// PTR addresses of zone z: what z serves there may change with it
// (PTRShadowedBy), which the set edits of a delta build do not see (an
// unnamed or quarantined assignment gives no record), so z is built in
// full.
func touchesStaticPTR(z *Zone, in *BuildInput, addrs []netip.Addr) bool {
	if len(addrs) == 0 || in.Delta == nil {
		return false
	}
	for _, c := range in.Delta.Changes {
		if c.Before.Tenant == "" && c.After.Tenant == "" {
			continue
		}
		for _, a := range []*registry.Assignment{&c.Before, &c.After} {
			if a.ID != 0 && z.Config.Serves(a.Space) && len(covered(addrs, a.Prefix)) > 0 {
				return true
			}
		}
	}
	return false
}
