package registry

import "strings"

// ZoneCut is a delegation of a zone of the register: an NS record at
// Name, below the apex Zone (both lower case, with the trailing dot).
type ZoneCut struct {
	Zone, Name string
}

// Cuts answers, in memory, what NameHolder answers for a name at or below
// a delegation (HolderDelegation, HolderBelowDelegation): an NS record
// of the deepest zone holding the name, other than at its apex, at the
// name or at one of its ancestors. An import into a register without
// assignments asks it for every name it loads (loadstream.go): a
// look-up per name would scan the assignments whose indexes it defers.
// A Cuts is not written after NewCuts.
type Cuts struct {
	zones map[string]bool
	cuts  map[ZoneCut]bool
}

// NewCuts keeps what ZoneCuts listed; with no delegation it is nil, and
// a nil Cuts finds none.
func NewCuts(zones []string, cuts []ZoneCut) *Cuts {
	if len(cuts) == 0 {
		return nil
	}
	c := &Cuts{zones: make(map[string]bool, len(zones)), cuts: make(map[ZoneCut]bool, len(cuts))}
	for _, z := range zones {
		c.zones[fqdn(z)] = true
	}
	for _, x := range cuts {
		c.cuts[ZoneCut{fqdn(x.Zone), fqdn(x.Name)}] = true
	}
	return c
}

// Holder says whether a delegation holds name (any case, with or without
// the trailing dot): below one first, as NameHolder answers.
func (c *Cuts) Holder(name string) (HolderKind, bool) {
	if c == nil {
		return "", false
	}
	n := fqdn(name)
	// The deepest zone holding the name, and the name's ancestors below
	// its apex.
	var below []string
	z := ""
	for a := n; ; {
		if c.zones[a] {
			z = a
			break
		}
		below = append(below, a)
		i := strings.IndexByte(a, '.')
		if i < 0 || i == len(a)-1 {
			break
		}
		a = a[i+1:]
	}
	if z == "" {
		return "", false
	}
	for _, a := range below[min(1, len(below)):] {
		if c.cuts[ZoneCut{z, a}] {
			return HolderBelowDelegation, true
		}
	}
	if len(below) > 0 && below[0] == n && c.cuts[ZoneCut{z, n}] {
		return HolderDelegation, true
	}
	return "", false
}
