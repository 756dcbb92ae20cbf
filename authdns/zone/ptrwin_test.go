package zone_test

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/internal/testenv"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestLiveAddressPTRWins: a static PTR written while an address was free
// (or by anyone at the address) is not served once the address is a
// tenant's named assignment: its PTR set is the assignment's name alone,
// with the zone's TTL. The static record answers again when the
// assignment goes, and beside the assignment of the operator's own (no
// tenant) address; a tenant's unnamed address serves none (it is older
// than the assignment: TestStalePTRAtATenantsUnnamedAddress). Each step is built
// by delta from the previous version and compared with a full build of the
// same register, in a signed in-addr.arpa zone (compact denial) and a
// signed ip6.arpa zone (NSEC3); ldns-verify-zone accepts both at the end.
func TestLiveAddressPTRWins(t *testing.T) {
	e := newDeltaEnv(t)
	mgr := manage.NewManager(e.st, e.sealer, nil)
	v4 := deltaV4.Addr().Next().Next().Next().Next().Next().Next().Next() // 10.9.0.7
	v6 := deltaV6.Addr().Next().Next().Next().Next().Next().Next().Next() // fd00:0:0:9::7
	owner4, owner6 := "7.0.9.10.in-addr.arpa.", "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa."
	for _, c := range []struct {
		zone  netip.Prefix
		owner string
	}{{deltaV4, owner4}, {deltaV6, owner6}} {
		zs, err := mgr.ZonesOf(e.ctx, c.zone.String())
		if err != nil || len(zs) != 1 {
			t.Fatalf("zones of %s: %v %v", c.zone, zs, err)
		}
		if _, err := mgr.AddRecord(e.ctx, zs[0].Name, c.owner, "PTR", "stale.example.", 60); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.read(); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	opt := zone.BuilderOptions{Now: func() time.Time { return now }}
	b := zone.NewBuilder(e.st, e.sealer, opt)
	snap, _, err := b.Rebuild(e.ctx, &e.in, now, "")
	if err != nil {
		t.Fatal(err)
	}
	// ptrs is the PTR set served at owner, "TTL target" each.
	ptrs := func(owner string) []string {
		var out []string
		for name, zd := range snap.All() {
			if !strings.HasSuffix(owner, name) {
				continue
			}
			for _, rr := range zd.Records() {
				if h := rr.Header(); h.Name == owner && h.Rrtype == 12 {
					f := strings.Fields(rr.String())
					out = append(out, f[1]+" "+f[4])
				}
			}
		}
		slices.Sort(out)
		return out
	}
	assign := func(id int64, addr netip.Addr, tenant, name string) registry.Assignment {
		// Made after the static record was written (TestStalePTRAtATenantsUnnamedAddress
		// has the times).
		return registry.Assignment{ID: id, Prefix: netip.PrefixFrom(addr, addr.BitLen()), State: registry.StateAssigned, Tenant: tenant, Name: name, CreatedAt: time.Now()}
	}
	var live []registry.Assignment
	stale := []string{"60 stale.example."}
	for step, c := range []struct {
		rule string
		now  []registry.Assignment // the live assignments at both addresses after the step
		want []string              // the PTR set at each of the two owners
	}{
		{"a tenant's named address answers its name alone", []registry.Assignment{assign(1, v4, "b", "vm7.delta.test."), assign(2, v6, "b", "vm7.delta.test.")}, []string{"3600 vm7.delta.test."}},
		{"a rename keeps the static record out", []registry.Assignment{assign(1, v4, "b", "web.delta.test."), assign(2, v6, "b", "web.delta.test.")}, []string{"3600 web.delta.test."}},
		{"the address released: the static record answers again", nil, stale},
		{"a tenant's unnamed address: not the older static record either", []registry.Assignment{assign(3, v4, "b", ""), assign(4, v6, "b", "")}, nil},
		{"the operator's own named address: both, as before", []registry.Assignment{assign(5, v4, "", "ops.delta.test."), assign(6, v6, "", "ops.delta.test.")}, []string{"60 ops.delta.test.", "60 stale.example."}},
		{"a tenant's name equal to the static data: one record, the zone's TTL", []registry.Assignment{assign(7, v4, "b", "stale.example."), assign(8, v6, "b", "stale.example.")}, []string{"3600 stale.example."}},
	} {
		var changes []zone.AssignChange
		for _, a := range live {
			changes = append(changes, zone.AssignChange{Before: a})
		}
		for _, a := range c.now {
			changes = append(changes, zone.AssignChange{After: a})
		}
		// A rename is one change of the same assignment.
		if step == 1 {
			changes = []zone.AssignChange{{Before: live[0], After: c.now[0]}, {Before: live[1], After: c.now[1]}}
		}
		live = c.now
		e.in.Assigns = slices.Clone(live)
		e.in.Delta = &zone.Delta{Since: e.in.Seq, Changes: changes}
		e.in.Seq++
		if err := e.read(); err != nil { // the serials the last builds published
			t.Fatal(err)
		}
		if snap, _, err = b.Rebuild(e.ctx, &e.in, now, ""); err != nil {
			t.Fatalf("%s: %v", c.rule, err)
		}
		if err := snap.CheckHashes(); err != nil {
			t.Fatalf("%s: %v", c.rule, err)
		}
		for _, owner := range []string{owner4, owner6} {
			if got := ptrs(owner); !slices.Equal(got, c.want) {
				t.Errorf("%s: %s PTR %q, want %q", c.rule, owner, got, c.want)
			}
		}
		full := e.in
		full.Delta = nil
		ref, _, err := zone.NewBuilder(e.st, e.sealer, opt).Rebuild(e.ctx, &full, now, "")
		if err != nil {
			t.Fatalf("%s: full build: %v", c.rule, err)
		}
		for name, zd := range ref.All() {
			if g, w := texts(snap.Zone(name)), texts(zd); !slices.Equal(g, w) {
				t.Fatalf("%s: zone %s differs from a full build:\n%s", c.rule, name, lineDiff(g, w))
			}
		}
		now = now.Add(time.Minute)
	}
	ldns := testenv.Program(t, "ldns-verify-zone", "ldnsutils")
	for name, zd := range snap.All() {
		var text strings.Builder
		for _, rr := range zd.Records() {
			text.WriteString(rr.String() + "\n")
		}
		file := filepath.Join(t.TempDir(), "zone")
		if err := os.WriteFile(file, []byte(text.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(ldns, "-V", "2", "-t", now.UTC().Format("20060102150405"), file).CombinedOutput(); err != nil {
			t.Errorf("ldns-verify-zone %s: %v\n%s", name, err, out)
		}
	}
}
