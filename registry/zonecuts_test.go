package registry_test

import (
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// TestCutsAnswersAsNameHolder: the in-memory delegations of an import
// answer what NameHolder answers for a name at or below a delegation
// (storetest "NameHolder names what holds a name"): the deepest zone
// holding the name decides, below a delegation comes before at one.
func TestCutsAnswersAsNameHolder(t *testing.T) {
	c := registry.NewCuts([]string{"example.net.", "kid.example.net.", "Other.Example"}, []registry.ZoneCut{
		{Zone: "example.net.", Name: "acme.example.net."},
		{Zone: "example.net.", Name: "kid.example.net."},
		{Zone: "example.net.", Name: "b.acme.example.net."},
		{Zone: "other.example.", Name: "Lab.Other.Example"},
	})
	for _, tc := range []struct {
		name string
		want registry.HolderKind
	}{
		{"vm1.acme.example.net.", registry.HolderBelowDelegation},
		{"VM1.Acme.Example.Net", registry.HolderBelowDelegation},
		{"a.b.acme.example.net.", registry.HolderBelowDelegation},
		{"b.acme.example.net.", registry.HolderBelowDelegation}, // a cut below a cut: below the upper one
		{"acme.example.net.", registry.HolderDelegation},
		{"lab.other.example", registry.HolderDelegation},
		{"x.lab.other.example.", registry.HolderBelowDelegation},
		{"www.example.net.", ""},
		{"example.net.", ""},         // the apex
		{"kid.example.net.", ""},     // the apex of a zone of the register below the cut
		{"vm.kid.example.net.", ""},  // which answers its own names
		{"vm.acme.example.org.", ""}, // under no zone
		{"notacme.example.net.", ""}, // a label's suffix is no ancestor
	} {
		got, held := c.Holder(tc.name)
		if got != tc.want || held != (tc.want != "") {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, held, tc.want)
		}
	}
	var none *registry.Cuts
	if k, held := none.Holder("vm1.acme.example.net."); held {
		t.Errorf("no delegations: %q", k)
	}
	if c := registry.NewCuts([]string{"example.net."}, nil); c != nil {
		t.Errorf("no delegations: %v, want nil", c)
	}
}
