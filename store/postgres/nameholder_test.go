package postgres_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// TestNameHolderReadsNoWholeTable: name_holder() (migration 00029), run on
// every named allocation under its region's lock, reads a few index
// entries of the DNS tables whatever their size. Before, it read every
// NS record (no index on their targets) and parsed every zone's JSON
// configuration for its name servers: with 200 zones and 10,000 records,
// 2.2 ms of the backend's CPU per look-up against 0.15 ms now
// (bench/README.md, "pgalloc"). The rows and index entries the
// transaction read are PostgreSQL's own count
// (pg_stat_get_xact_tuples_returned); the answers are checked too.
func TestNameHolderReadsNoWholeTable(t *testing.T) {
	ctx := context.Background()
	dsn := migratedDB(t)
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// 100 zones z<i>.example, each naming in its configuration a name
	// server of its own, in upper case (every 25th a provider's too), with
	// 20 records: an NS delegation r<j> to ns.r<j>.z<i>.example every tenth,
	// A records otherwise.
	for _, q := range []string{
		`INSERT INTO dns_zones (name, kind, config, created_at)
		 SELECT 'z' || i || '.example.', 'forward',
		        '{"ns":["NS1.Z' || i || '.Example."' || CASE WHEN i % 25 = 0 THEN ',"ns.provider.example."' ELSE '' END || ']}', 0
		 FROM generate_series(1, 100) i`,
		`INSERT INTO dns_records (zone_id, name, type, ttl, data, created_at)
		 SELECT z.id, 'r' || j || '.' || z.name, CASE WHEN j % 10 = 0 THEN 'NS' ELSE 'A' END, 300,
		        CASE WHEN j % 10 = 0 THEN 'ns.r' || j || '.' || z.name ELSE '192.0.2.1' END, 0
		 FROM dns_zones z, generate_series(1, 20) j`,
		`UPDATE dns_zones SET synthesize = 'ip-{addr}.syn.z3.example.' WHERE name = 'z3.example.'`,
		`ANALYZE dns_zones`,
		`ANALYZE dns_records`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct{ name, want string }{
		{"free.z5.example", ""},
		{"ns.r10.z5.example", "ns"},                 // an NS record's target
		{"ns1.z7.example", "ns"},                    // a zone's configured name server, whatever its case
		{"ns.provider.example", "ns"},               // one outside every zone
		{"z9.example", "apex"},                      // a zone's apex
		{"r3.z9.example", "record"},                 // a static record
		{"nothing.elsewhere.example", ""},           // under no zone
		{"ip-10-0-0-1.syn.z3.example", "synthesis"}, // a name a template answers
		{"vm.syn.z3.example", ""},                   // not of its shape
		{"r10.z5.example", "cut"},                   // a delegation point
		{"vm.a.r10.z5.example", "delegated"},        // a name below it
	}
	for _, c := range cases {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		before, err := readSoFar(ctx, tx)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := tx.QueryRow(ctx, `SELECT name_holder(0, 0, $1, $2, 'a')`, c.name+".", c.name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		after, err := readSoFar(ctx, tx)
		if err != nil {
			t.Fatal(err)
		}
		read := after - before
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("name_holder(%s) = %q, want %q", c.name, got, c.want)
		}
		// A look-up by index reads a handful of entries; the register
		// holds 100 zones and 2,000 records.
		if read > 20 {
			t.Errorf("name_holder(%s) read %d rows and index entries of the DNS tables, want at most 20 (no whole table)", c.name, read)
		}
	}
}

// readSoFar is the count of rows and index entries of the DNS tables
// (00073's claims among them) that this backend read and has not
// reported yet (PostgreSQL reports a backend's counts at most once a
// second: the difference of two readings in one transaction is what ran
// between them).
func readSoFar(ctx context.Context, tx pgx.Tx) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, `SELECT COALESCE(sum(pg_stat_get_xact_tuples_returned(c.oid)), 0)::bigint
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND (c.relname IN ('dns_zones', 'dns_records', 'dns_name_claims')
		   OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN ('dns_zones'::regclass, 'dns_records'::regclass, 'dns_name_claims'::regclass)))`).Scan(&n)
	return n, err
}

// TestNameHolderPlanKeepsTheIndex: name_holder()'s look-up of the
// assignment (migration 00042) runs without settings, so what keeps it on
// assignments_name is its plan alone. A plan is made once per connection
// and kept (a generic plan, forced here) until the table is analysed
// again; one made while the table held a row or two must still read the index,
// not every row, once the table holds thousands (an import, before
// autovacuum analyses it). Sequential reads are PostgreSQL's own count.
func TestNameHolderPlanKeepsTheIndex(t *testing.T) {
	ctx := context.Background()
	dsn := migratedDB(t)
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := registry.New(s)
	if _, err := r.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("fd00::/48"), Source: registry.SourcePrivate}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "r", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("fd00:0:0:1::/64"), Region: "r", UseAll: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddTenant(ctx, registry.TenantSpec{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	// Stored without the trailing dot and with it: assignments_name holds
	// both in one form (migration 00061), each found by either.
	for _, n := range []string{"vm.plan.example", "vm2.plan.example."} {
		if _, err := r.Allocate(ctx, registry.Request{Region: "r", Tenant: "a", Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	holder := func(name string) string {
		t.Helper()
		var got string
		if err := conn.QueryRow(ctx, `SELECT name_holder(0, 0, $1, $2, 'b')`, name+".", name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, q := range []string{`ANALYZE assignments`, `SET plan_cache_mode = force_generic_plan`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// The plans (of both signatures: the old one calls the new) are made
	// now, on a table of two rows.
	if got := holder("vm.plan.example"); got != "assignment" {
		t.Fatalf("name_holder(vm.plan.example) = %q, want assignment", got)
	}
	// 20,000 rows more (released ones: no address or name to collide).
	if _, err := conn.Exec(ctx, `INSERT INTO assignments (pool_id, prefix, state, tenant, name, created_at, released_at)
		SELECT pool_id, prefix, 'released', tenant, 'old' || i || '.plan.example', created_at, created_at
		FROM assignments, generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	seqRead := func() int64 {
		t.Helper()
		var n int64
		if err := tx.QueryRow(ctx, `SELECT pg_stat_get_xact_tuples_returned('assignments'::regclass)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := seqRead()
	// The store's call (the fence key given, migration 00061) and the one
	// of a binary before it.
	for _, call := range []string{`SELECT name_holder(0, 0, 0, $1, $2, 'b')`, `SELECT name_holder(0, 0, $1, $2, 'b')`} {
		for _, c := range []struct{ name, want string }{
			{"vm.plan.example", "assignment"}, // another tenant's
			{"vm2.plan.example", "assignment"},
			{"new.plan.example", ""},
		} {
			var got string
			if err := tx.QueryRow(ctx, call, c.name+".", c.name).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("%s with %s = %q, want %q", call, c.name, got, c.want)
			}
		}
	}
	if read := seqRead() - before; read > 0 {
		t.Errorf("name_holder read %d assignments sequentially with a plan made on one row, want 0 (assignments_name)", read)
	}
}

// TestNameHolderLocksBeforeItLooks: name_holder()'s wait mode (a
// transaction's first lock) takes the names' fence shared and the name's
// lock in a condition (migration 00054), no longer in two queries of their
// own; it must still wait for a writer that holds either, and its look-up
// must see what that writer committed (its snapshot is taken after the
// locks). The try mode answers NULL while either is held elsewhere.
func TestNameHolderLocksBeforeItLooks(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	connect := func() *pgx.Conn {
		t.Helper()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	writer, checker := connect(), connect()
	const key = 4242
	for _, c := range []struct {
		name, lock, zone, want string
	}{
		// The name's own lock, as another allocation or record write holds it.
		{"name", `SELECT pg_advisory_xact_lock_shared(728, hashtext(current_schema())), pg_advisory_xact_lock(727, 4242)`, "held.example.", "apex"},
		// The fence exclusive, as a bulk load holds it.
		{"fence", `SELECT pg_advisory_xact_lock(728, hashtext(current_schema()))`, "fenced.example.", "apex"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tx, err := writer.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, c.lock); err != nil {
				t.Fatal(err)
			}
			// The writer creates a zone at the name after taking its lock:
			// a look-up that waited for the lock must find it.
			if _, err := tx.Exec(ctx, `INSERT INTO dns_zones (name, kind, config, created_at) VALUES ($1, 'forward', '{}', 0)`, c.zone); err != nil {
				t.Fatal(err)
			}
			bare := c.zone[:len(c.zone)-1]
			var try *string
			if err := checker.QueryRow(ctx, `SELECT name_holder($1, 2, $2, $3, 'b')`, key, c.zone, bare).Scan(&try); err != nil {
				t.Fatal(err)
			}
			if try != nil {
				t.Errorf("try mode while the lock is held elsewhere = %q, want NULL", *try)
			}
			got := make(chan string, 1)
			go func() {
				var s *string
				err := checker.QueryRow(ctx, `SELECT name_holder($1, 1, $2, $3, 'b')`, key, c.zone, bare).Scan(&s)
				switch {
				case err != nil:
					got <- "error: " + err.Error()
				case s == nil:
					got <- "NULL"
				default:
					got <- *s
				}
			}()
			select {
			case g := <-got:
				t.Fatalf("wait mode answered %q while the lock was held elsewhere, want it to wait", g)
			case <-time.After(300 * time.Millisecond):
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case g := <-got:
				if g != c.want {
					t.Errorf("wait mode after the writer committed = %q, want %q (its look-up must see the commit)", g, c.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("wait mode still waiting 10 s after the writer committed")
			}
		})
	}
}
