package geo

import (
	"context"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// Special-purpose space that is not globally reachable is answered by its
// class and never placed from an MMDB: only the register, which knows
// where its own private pools are used, places it.
func TestSpecialPurposeSpaceIsNeverPlacedFromADatabase(t *testing.T) {
	dir := t.TempDir()
	world := writeMMDB(t, dir, "world.mmdb",
		netRecord{"192.168.0.0/16", flat("AU", "", "")},
		netRecord{"10.0.0.0/8", flat("AU", "", "")},
		netRecord{"100.64.0.0/10", flat("AU", "", "")},
		netRecord{"127.0.0.0/8", flat("AU", "", "")},
		netRecord{"192.0.2.0/24", flat("AU", "", "")},
		netRecord{"192.0.0.0/24", flat("AU", "", "")},
		netRecord{"2001:db8::/32", flat("AU", "", "")},
		netRecord{"fc00::/7", flat("AU", "", "")},
		netRecord{"8.8.8.0/24", flat("US", "", "")},
	)
	in := Inputs{
		Register: []registry.Placement{{Prefix: mp("10.1.0.0/16"), Location: loc("US", "US-VA")}},
		MMDBs:    []MMDBFile{{Name: "world", Path: world}},
	}
	tab, err := Build(context.Background(), in, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, addr  string
		wantSource  string // "" for not placed
		wantSpecial string
	}{
		{"private space is not placed from a database", "192.168.1.1", "", "private"},
		{"private space outside the register's pools is not placed", "10.2.0.1", "", "private"},
		{"private space inside a register pool is placed by the register", "10.1.2.3", "register", "private"},
		{"shared (CGNAT) space is not placed", "100.64.0.1", "", "shared"},
		{"loopback is not placed", "127.0.0.1", "", "loopback"},
		{"IPv4 documentation space is not placed", "192.0.2.1", "", "documentation"},
		{"IETF protocol space is not placed", "192.0.0.100", "", "ietf-protocol"},
		{"IPv6 documentation space is not placed", "2001:db8::1", "", "documentation"},
		{"unique-local space is not placed", "fd00::1", "", "ula"},
		{"a 6to4 address carrying a private address is not placed", "2002:c0a8:0101::1", "", "6to4"},
		{"global space is placed from the database", "8.8.8.8", "world", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []Result{tab.Lookup(ma(tc.addr)), tab.LookupAll(ma(tc.addr))} {
				if r.Found != (tc.wantSource != "") || r.Source != tc.wantSource || r.Special.Kind != tc.wantSpecial {
					t.Errorf("%s: found %v from %q special %q; want from %q special %q", tc.addr, r.Found, r.Source, r.Special.Kind, tc.wantSource, tc.wantSpecial)
				}
				for _, x := range r.All {
					if tc.wantSpecial != "" && x.Kind == KindMMDB {
						t.Errorf("%s: --all lists %s's answer %+v", tc.addr, x.Source, x)
					}
				}
			}
		})
	}
}
