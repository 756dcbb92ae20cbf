package server_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestStalePTRAtAnUnnamedAddress{SQLite,PostgreSQL}: a static PTR an
// admin wrote while the address was free is not served once the address
// is a tenant's unnamed assignment: the signed reverse zone answers no
// PTR (in-addr.arpa) or the synthesised name (the ip6.arpa zone
// synthesises), validly signed, and `record list` marks the record,
// naming no tenant. A PTR the tenant writes while it holds the address is
// served, through the quarantine too. When the quarantine ends the
// address is free and both answer as written; the next assignment of the
// address inherits neither; released at once, they answer again.
func TestStalePTRAtAnUnnamedAddressSQLite(t *testing.T) {
	staleAtUnnamedServed(t, newEnv(t, true))
}

func TestStalePTRAtAnUnnamedAddressPostgreSQL(t *testing.T) {
	staleAtUnnamedServed(t, newEnvOn(t, true, openPG(t, pgSchema(t))))
}

func staleAtUnnamedServed(t *testing.T, e *env) {
	e.start(server.Options{})
	// Quarantines end in this registry's time (a day and more ahead):
	// its writes reap them, as any write of a later day would.
	later := registry.New(e.store, registry.WithClock(func() time.Time { return time.Now().Add(48 * time.Hour) }))
	for _, c := range []struct {
		zone  string
		addr  netip.Addr
		synth string // the synthesised name, or "" (the zone synthesises none)
	}{
		{v4Zone, netip.MustParseAddr("10.1.2.78"), ""},
		{v6Zone, netip.MustParseAddr("fd12:3456:789a:1::78"), "ip-fd12-3456-789a-1--78." + dynZone},
	} {
		owner := ptrOf(c.addr)
		z, err := e.mgr.Zone(e.ctx, c.zone)
		if err != nil {
			t.Fatal(err)
		}
		// ptrs is the PTR set served at owner, its signature checked
		// against the zone's DNSKEY; none: the rcode.
		ptrs := func() []string {
			out, rcode := signedPTRs(t, e, c.zone, owner)
			if len(out) == 0 {
				return []string{dns.RcodeToString[rcode]}
			}
			return out
		}
		// none is what the address answers with no static PTR served.
		none := []string{"NXDOMAIN"}
		if c.synth != "" {
			none = []string{c.synth}
		}
		// marks requires `record list` to say of each static PTR at owner
		// (by data) why it is not served ("" : served).
		marks := func(step string, want map[string]string) {
			t.Helper()
			rs, err := e.mgr.Records(e.ctx, c.zone)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				if r.Name != owner {
					continue
				}
				w, ok := want[r.Data]
				if !ok {
					t.Errorf("%s: record list %s: unexpected record %s %s", step, c.zone, r.Type, r.Data)
				}
				if r.NotServed != w {
					t.Errorf("%s: record list %s: %s %s marked %q, want %q", step, c.zone, r.Name, r.Data, r.NotServed, w)
				}
				delete(want, r.Data)
			}
			for d := range want {
				t.Errorf("%s: record list %s: no record %s", step, c.zone, d)
			}
		}
		exact := netip.PrefixFrom(c.addr, c.addr.BitLen())
		if _, err := e.mgr.AddRecord(e.ctx, c.zone, owner, "PTR", "old.example.", 0); err != nil {
			t.Fatal(err)
		}
		e.waitFor(owner+" PTR old.example.", func() bool { return slices.Equal(ptrs(), []string{"old.example."}) })

		as, err := e.reg.Allocate(e.ctx, registry.Request{Region: "us-east", Tenant: "acme", Prefix: exact})
		if err != nil {
			t.Fatal(err)
		}
		e.waitForState(owner+" the older PTR gone", func() (bool, string) {
			now, err := e.reg.Position(e.ctx)
			built, got := e.srv.BuiltThrough(), ptrs()
			rs, _ := e.mgr.Records(e.ctx, c.zone)
			var at []string
			for _, r := range rs {
				if r.Name == owner {
					at = append(at, r.Data+" "+r.CreatedAt.Format(time.RFC3339Nano))
				}
			}
			return slices.Equal(got, none), fmt.Sprintf("built through %d, the log at %d (%v), PTRs %v, records %v, assignment %d created %s", built, now.Seq, err, got, at, as[0].ID, as[0].CreatedAt.Format(time.RFC3339Nano))
		})
		marks("unnamed", map[string]string{"old.example.": manage.NotServedBeforeHolder})

		// The tenant's own PTR, written with its token's check (an
		// admin's is refused at another tenant's address).
		check := func(ctx context.Context, tx registry.Tx, r zone.Record) error {
			return manage.ReverseRecordCheck(ctx, tx, z, "acme", r)
		}
		if _, err := e.mgr.AddRecordChecked(e.ctx, check, c.zone, owner, "PTR", "own.acme.example.", 0); err != nil {
			t.Fatal(err)
		}
		e.waitFor(owner+" the tenant's own PTR", func() bool { return slices.Equal(ptrs(), []string{"own.acme.example."}) })
		marks("the tenant's own", map[string]string{"old.example.": manage.NotServedBeforeHolder, "own.acme.example.": ""})

		if _, err := e.reg.Release(e.ctx, registry.Target{ID: as[0].ID}, 24*time.Hour, nil); err != nil {
			t.Fatal(err)
		}
		// Still the tenant's while quarantined: the same answer, from a
		// version built after the release: the server has caught up with
		// the log as read after it. (Not "the zone's build position >=
		// the release's": on PostgreSQL positions are the last event in
		// (xid, seq) order, and seq is not monotonic in that order, so a
		// server rollover step committing beside the release can make a
		// later position's seq the smaller; seen in CI under load.)
		e.waitForState(owner+" quarantined", func() (bool, string) {
			now, err := e.reg.Position(e.ctx)
			built, got := e.srv.BuiltThrough(), ptrs()
			return err == nil && now.Seq != 0 && built == now.Seq && slices.Equal(got, []string{"own.acme.example."}),
				fmt.Sprintf("built through %d, the log at %d (%v), PTRs %v", built, now.Seq, err, got)
		})
		marks("quarantined", map[string]string{"old.example.": manage.NotServedBeforeHolder, "own.acme.example.": ""})

		if _, err := later.Allocate(e.ctx, registry.Request{Region: "eu-west", Family: 4}); err != nil {
			t.Fatal(err)
		}
		e.waitForState(owner+" free: both", func() (bool, string) {
			now, err := e.reg.Position(e.ctx)
			built, got := e.srv.BuiltThrough(), ptrs()
			return slices.Equal(got, []string{"old.example.", "own.acme.example."}), fmt.Sprintf("built through %d, the log at %d (%v), PTRs %v", built, now.Seq, err, got)
		})
		marks("free", map[string]string{"old.example.": "", "own.acme.example.": ""})

		next, err := e.reg.Allocate(e.ctx, registry.Request{Region: "us-east", Tenant: "acme", Prefix: exact})
		if err != nil {
			t.Fatal(err)
		}
		// The state seen last is printed on a timeout (seen once in CI on
		// PostgreSQL, 2026-12-06, not reproduced in 35 runs here).
		e.waitForState(owner+" the next holder: neither", func() (bool, string) {
			now, err := e.reg.Position(e.ctx)
			built, got := e.srv.BuiltThrough(), ptrs()
			return slices.Equal(got, none), fmt.Sprintf("built through %d, the log at %d (%v), PTRs %v, assignment %d created %s", built, now.Seq, err, got, next[0].ID, next[0].CreatedAt.Format(time.RFC3339Nano))
		})
		marks("the next holder", map[string]string{"old.example.": manage.NotServedBeforeHolder, "own.acme.example.": manage.NotServedBeforeHolder})

		if _, err := e.reg.Release(e.ctx, registry.Target{ID: next[0].ID}, 0, nil); err != nil {
			t.Fatal(err)
		}
		e.waitFor(owner+" released at once: both", func() bool { return slices.Equal(ptrs(), []string{"old.example.", "own.acme.example."}) })
		marks("released", map[string]string{"old.example.": "", "own.acme.example.": ""})
	}
}
