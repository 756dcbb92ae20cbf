package server_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/miekg/dns"
)

// A load (`cadastre import`, `demo`) writes one event per batch of
// assignments (registry.ActionImportBatch), not one per assignment: a
// running server that polls the log must still serve every name it
// brought, forward and reverse, signed, within a poll, and keep serving
// what it served (issue 16, storage).
func TestImportedNamesAreServed(t *testing.T) {
	e := newEnv(t, true)
	e.start(server.Options{})
	before := e.srv.Serial(fwdZone)
	use := true
	// A new pool of the env's block (assignments come with their
	// pools), two named assignments and one not.
	d := registry.Dump{Format: registry.DumpFormat, Version: registry.DumpVersion,
		Pools: []registry.PoolRecord{{Prefix: netip.MustParsePrefix("10.1.9.0/26"), Region: "us-east", UseAll: &use}}}
	names := map[string]string{"imp1." + fwdZone: "10.1.9.7", "imp2." + fwdZone: "10.1.9.8", "": "10.1.9.9"}
	for name, addr := range names {
		d.Assignments = append(d.Assignments, registry.AssignmentRecord{Prefix: netip.PrefixFrom(netip.MustParseAddr(addr), 32),
			Pool: d.Pools[0].Prefix, Region: "us-east", State: registry.StateAssigned, Tenant: "acme", Name: name, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)})
	}
	if _, err := e.reg.Load(e.ctx, d, registry.LoadOptions{Source: "test"}); err != nil {
		t.Fatal(err)
	}
	es, err := e.reg.Events(e.ctx, registry.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	batches := 0
	for _, ev := range es {
		if ev.Action == registry.ActionImportBatch {
			batches++
		}
		if ev.Action == "assignment.import" {
			t.Fatalf("event %d: %s %s: one per assignment", ev.Seq, ev.Action, ev.Subject)
		}
	}
	if batches != 1 {
		t.Fatalf("%d import batch events, want 1", batches)
	}
	for name, addr := range names {
		if name == "" {
			continue
		}
		e.waitFor(name+" served", func() bool {
			r := e.query("udp", name, dns.TypeA, true)
			for _, rr := range r.Answer {
				if a, ok := rr.(*dns.A); ok && a.A.String() == addr {
					return true
				}
			}
			return false
		})
	}
	if r := e.query("udp", "vm1."+fwdZone, dns.TypeA, false); r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		t.Fatalf("vm1, served before the import, no longer is: %v", r)
	}
	if after := e.srv.Serial(fwdZone); after == before {
		t.Fatalf("serial of %s still %d after the import", fwdZone, after)
	}
	if err := e.srv.CheckHashes(); err != nil {
		t.Fatal(err)
	}
}
