package server_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// TestOutOfOrderCommitRebuilds: on PostgreSQL, transaction A (another
// replica's store) renames a host and writes its event first, then waits;
// B writes a later event and commits; the server rebuilds while A is
// open; then A commits. The server must rebuild again and serve A's new
// name. With the largest sequence number as its position, the server had
// recorded B's number, above A's, and never saw the log move again.
func TestOutOfOrderCommitRebuilds(t *testing.T) {
	dsn := pgSchema(t)
	e := newEnvOn(t, false, openPG(t, dsn))
	addr := e.alloc(4, "old."+fwdZone)
	e.start(server.Options{Poll: 20 * time.Millisecond})
	resolves := func(name string) bool {
		for _, rr := range e.query("udp", name, dns.TypeA, false).Answer {
			if a, ok := rr.(*dns.A); ok && a.A.String() == addr.String() {
				return true
			}
		}
		return false
	}
	e.waitFor("old name served", func() bool { return resolves("old." + fwdZone) })

	// The test's addresses are private (RFC 1918): their space is the
	// pool's, read here rather than assumed.
	all, err := e.reg.Assignments(e.ctx, registry.AssignmentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	space := ""
	for _, a := range all {
		if a.Prefix == netip.PrefixFrom(addr, 32) {
			space = a.Space
		}
	}
	writerA := openPG(t, dsn)
	commitA := pgtest.HoldOpen(t, e.ctx, writerA, func(tx registry.Tx) error {
		a, ok, err := tx.LiveAssignment(e.ctx, space, netip.PrefixFrom(addr, 32))
		if err != nil || !ok {
			return fmt.Errorf("assignment %v: found %v: %v", addr, ok, err)
		}
		before := a.Name
		a.Name = "new." + fwdZone
		if err := tx.UpdateAssignment(e.ctx, a); err != nil {
			return err
		}
		if err := tx.AppendEvent(e.ctx, &registry.Event{At: time.Now().UTC().Truncate(time.Microsecond), Actor: "test:A", Action: "assignment.rename",
			SubjectKind: "assignment", SubjectID: a.ID, Subject: a.Prefix.String() + " " + before}); err != nil {
			return err
		}
		return nil
	})
	if _, err := e.reg.AddRegion(e.ctx, registry.RegionSpec{Name: "ap-south", Location: location.Location{Country: "IN"}}); err != nil {
		t.Fatal(err)
	}
	// A rebuild while A is open, as the poll loop may make at any time.
	if err := e.srv.Reload(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := commitA(); err != nil {
		t.Fatalf("transaction A: %v", err)
	}
	// The server rebuilds once no transaction older than A's and B's is in
	// flight on the database server (other tests' may be, for a while).
	for deadline := time.Now().Add(30 * time.Second); !resolves("new." + fwdZone); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("A's new name not served 30 s after A committed")
		}
	}
}
