package geo

import (
	"net/netip"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
)

// KindRegister is the kind of the register's own source: where its pools
// are used (registry.Placements). It ranks above every imported source.
const KindRegister Kind = "register"

// RegisterSource is the name under which the register answers.
const RegisterSource = "register"

// Answer is one source's answer for an address: the source's most specific
// prefix containing it and the location the source gives that prefix. A
// zero Location means the source holds the address but places it nowhere
// (an MMDB record without a country, a geofeed's "do not geolocate").
type Answer struct {
	Source   string            `json:"source"`
	Kind     Kind              `json:"source_kind"`
	Prefix   netip.Prefix      `json:"prefix"`
	Location location.Location `json:"location"`
}

// Special classifies an address of an IANA special-purpose block
// (prefix.Lookup): its Kind is one of prefix.Special's words, such as
// "private", "shared", "loopback", "link-local", "documentation",
// "benchmarking", "ula", "multicast", "reserved", "teredo", "nat64".
type Special struct {
	Prefix            netip.Prefix `json:"prefix"`
	Kind              string       `json:"kind"`
	Name              string       `json:"name"`
	RFC               string       `json:"rfc"`
	GloballyReachable bool         `json:"globally_reachable"`
}

// Classify returns the special-purpose classification of a, or false for
// an ordinary global unicast address.
func Classify(a netip.Addr) (Special, bool) {
	s, ok := prefix.Lookup(a)
	if !ok {
		return Special{}, false
	}
	return Special{Prefix: s.Prefix, Kind: s.Kind, Name: s.Name, RFC: s.RFC, GloballyReachable: s.GloballyReachable}, true
}

// Result is the answer for one address. The embedded Answer is the
// best-ranked source's (the register, then geofeeds, then MMDB files in the
// order added); Found says whether any source placed the address.
//
// For a transition address (prefix.Embedded) other than ISATAP, the
// location is that of the IPv4 address it carries, and LocatedBy says so:
// MMDB files that alias Teredo place the Teredo server, and many alias
// nothing, so cadastre decodes the form itself and locates the client.
// An ISATAP address is located by its own /64 first, and by the IPv4 it
// carries only when no source places the /64.
type Result struct {
	Addr  netip.Addr `json:"addr"`
	Found bool       `json:"found"`
	Answer
	// Special is the IANA special-purpose classification of Addr, if any.
	Special Special `json:"special,omitzero"`
	// Transition is the decoding of a transition address, if Addr is one.
	Transition prefix.Transition `json:"transition,omitzero"`
	// LocatedBy is the address the location belongs to when it is not
	// Addr itself: the IPv4 address a transition address carries.
	LocatedBy netip.Addr `json:"located_by,omitzero"`
	// All is every source's answer, in rank order (LookupAll only).
	All []Answer `json:"all,omitempty"`
	// Errors names the sources that failed to answer, with why; the
	// other sources still answered.
	Errors []string `json:"errors,omitempty"`
}
