package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// TestNameClaimsFollowTheirRows: dns_name_claims (migration 00073), which
// name_holder() reads instead of the zones and records, is what its rows
// say after every change a zone or record writer makes, from two replicas
// on one database, one after the other and at once: zones added (forward
// with name servers in and out of the zone, with glue; a child zone; a
// reverse zone with a template), records added and deleted (addresses,
// text, NS delegations, one at a zone's apex), a zone's name servers
// replaced, zones removed; and, written by hand, what no writer does
// today (a template changed, a zone renamed, an NS target without its
// final dot). After each step every name of the register, names below
// them and names of a template's shape get from name_holder() the answer
// of 00071's function, the look-ups this table replaced.
func TestNameClaimsFollowTheirRows(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	var ms [2]*manage.Manager
	for i := range ms {
		s, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ms[i] = manage.NewManager(s, nil, nil)
		if i == 0 {
			// The reverse zone's space.
			if _, err := registry.New(s).AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("40.64.0.0/16"), Source: registry.SourceTransfer}); err != nil {
				t.Fatal(err)
			}
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	referenceHolder(t, conn)

	step := 0
	check := func(what string) {
		t.Helper()
		step++
		checkClaims(t, conn, fmt.Sprintf("step %d (%s)", step, what))
	}
	record := func(m *manage.Manager, zoneName, name, typ, data string) zone.Record {
		t.Helper()
		r, err := m.AddRecord(ctx, zoneName, name, typ, data, 0)
		if err != nil {
			t.Fatalf("%s %s %s in %s: %v", name, typ, data, zoneName, err)
		}
		return r
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	check("no zone")
	if _, err := ms[0].AddZone(ctx, manage.ZoneSpec{Name: "cloud.example", Config: zone.Config{NS: []string{"NS1.Cloud.Example.", "ns.provider.example."}},
		Glue: []manage.Glue{{Host: "ns1.cloud.example.", Addr: netip.MustParseAddr("192.0.2.54")}}}); err != nil {
		t.Fatal(err)
	}
	check("a zone with name servers and glue")
	record(ms[1], "cloud.example", "www", "A", "192.0.2.1")
	record(ms[0], "cloud.example", "t.lab", "TXT", "hidden")
	lab := record(ms[1], "cloud.example", "lab", "NS", "NS1.LAB.cloud.example.")
	record(ms[0], "cloud.example", "ns1.lab", "A", "192.0.2.53")
	x := record(ms[1], "cloud.example", "x.lab", "AAAA", "2001:db8::53")
	record(ms[0], "cloud.example", "kid", "NS", "ns.provider.example.")
	record(ms[1], "cloud.example", "@", "NS", "ns9.provider.example.")
	check("records, a delegation with glue, an NS record at the apex")
	if _, err := ms[1].AddZone(ctx, manage.ZoneSpec{Name: "kid.cloud.example", Config: zone.Config{NS: []string{"ns.provider.example."}}}); err != nil {
		t.Fatal(err)
	}
	record(ms[0], "kid.cloud.example", "vm", "A", "192.0.2.9")
	record(ms[1], "kid.cloud.example", "deep", "NS", "ns.deep.kid.cloud.example.")
	check("a child zone of the register with a delegation of its own")
	if _, err := ms[0].AddZone(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix("40.64.0.0/24"), Synthesize: "ip-{addr}.syn.cloud.example",
		Config: zone.Config{NS: []string{"ns.provider.example."}}}); err != nil {
		t.Fatal(err)
	}
	check("a reverse zone with a template")
	if _, err := ms[1].UpdateZone(ctx, "cloud.example", func(c *zone.Config) error {
		c.NS = []string{"ns2.cloud.example.", "ns.other.example."}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check("a zone's name servers replaced")
	if err := ms[0].DeleteRecord(ctx, x.ID); err != nil {
		t.Fatal(err)
	}
	check("glue deleted")
	if err := ms[1].DeleteRecord(ctx, lab.ID); err != nil {
		t.Fatal(err)
	}
	check("a delegation deleted")
	exec(`UPDATE dns_zones SET synthesize = 'h{addr}-v4.syn.cloud.example.' WHERE synthesize <> ''`)
	check("a template changed")
	exec(`UPDATE dns_zones SET synthesize = 'x.{addr}.' WHERE synthesize <> ''`)
	check("a template whose suffix is the root")
	exec(`INSERT INTO dns_records (zone_id, name, type, ttl, data, created_at)
		SELECT id, 'raw.cloud.example.', 'NS', 300, 'ns.raw.example', 0 FROM dns_zones WHERE name = 'cloud.example.'`)
	exec(`INSERT INTO dns_records (zone_id, name, type, ttl, data, created_at)
		SELECT id, 'kid.cloud.example.', 'NS', 300, 'ns.kid.example.', 0 FROM dns_zones WHERE name = 'kid.cloud.example.'`)
	check("an NS target without its final dot; an NS record at a child's apex")
	exec(`UPDATE dns_zones SET name = 'raw.cloud.example.' WHERE name = 'kid.cloud.example.'`)
	check("a zone renamed onto a delegation of its parent")
	exec(`UPDATE dns_records SET name = 'lab.cloud.example.' WHERE name = 'raw.cloud.example.'`)
	check("a record renamed")

	// Both replicas at once: delegations with glue, records, deletions.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 12 {
				label := fmt.Sprintf("r%d-%d", i, j)
				typ, data := "A", "192.0.2.7"
				if j%3 == 0 {
					typ, data = "NS", "ns."+label+".cloud.example."
				}
				r, err := m.AddRecord(ctx, "cloud.example", label, typ, data, 0)
				if err != nil {
					errs <- err
					return
				}
				if _, err := m.AddRecord(ctx, "cloud.example", "ns."+label, "A", "192.0.2.8", 0); err != nil {
					errs <- err
					return
				}
				if j%4 == 1 {
					if err := m.DeleteRecord(ctx, r.ID); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	check("two replicas writing at once")
	if _, err := ms[1].RemoveZones(ctx, "raw.cloud.example"); err != nil {
		t.Fatal(err)
	}
	check("a zone removed")
	if _, err := ms[0].RemoveZones(ctx, "cloud.example"); err != nil {
		t.Fatal(err)
	}
	check("its parent removed")
}

// TestNameClaimsMigration: 00073 fills dns_name_claims from the zones
// and records already written, and its Down drops it and brings back
// 00071's function; the answers are 00071's at every step.
func TestNameClaimsMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := migrationProvider(t, db)
	if _, err := p.UpTo(ctx, 72); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO dns_zones (id, name, kind, synthesize, config, created_at) VALUES
			(1, 'cloud.example.', 'forward', '', '{"ns":["NS1.Cloud.Example.","ns.provider.example."]}', 0),
			(2, 'kid.cloud.example.', 'forward', '', '{"ns":["ns.provider.example."]}', 0),
			(3, '0.64.40.in-addr.arpa.', 'reverse', 'ip-{addr}.syn.cloud.example.', '{"ns":["ns.provider.example."]}', 0)`,
		`INSERT INTO dns_records (zone_id, name, type, ttl, data, created_at) VALUES
			(1, 'ns1.cloud.example.', 'A', 300, '192.0.2.54', 0),
			(1, 'www.cloud.example.', 'A', 300, '192.0.2.1', 0),
			(1, 't.lab.cloud.example.', 'TXT', 300, 'hidden', 0),
			(1, 'lab.cloud.example.', 'NS', 300, 'NS1.LAB.cloud.example.', 0),
			(1, 'ns1.lab.cloud.example.', 'A', 300, '192.0.2.53', 0),
			(1, 'x.lab.cloud.example.', 'AAAA', 300, '2001:db8::53', 0),
			(1, 'kid.cloud.example.', 'NS', 300, 'ns.provider.example.', 0),
			(1, 'cloud.example.', 'NS', 300, 'ns9.provider.example', 0),
			(2, 'deep.kid.cloud.example.', 'NS', 300, 'ns.deep.kid.cloud.example.', 0)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	referenceHolder(t, conn)
	if _, err := p.UpTo(ctx, 73); err != nil {
		t.Fatal(err)
	}
	checkClaims(t, conn, "after 00073")
	if _, err := p.DownTo(ctx, 72); err != nil {
		t.Fatal(err)
	}
	var left bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('dns_name_claims') IS NOT NULL`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left {
		t.Error("dns_name_claims is left after 00073's Down")
	}
	if n := differences(t, conn); len(n) > 0 {
		t.Errorf("after 00073's Down, name_holder answers unlike 00071's function: %s", strings.Join(n, "; "))
	}
}

// referenceHolder creates name_holder_00071, 00071's function as its
// migration wrote it, to compare name_holder() with.
func referenceHolder(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	b, err := fs.ReadFile(migrations, "migrations/00071_name_holder_delegation.sql")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "-- +goose StatementBegin")
	end := strings.Index(s, "-- +goose StatementEnd")
	if start < 0 || end < start {
		t.Fatal("00071: no statement")
	}
	f := strings.Replace(s[start:end], "CREATE OR REPLACE FUNCTION name_holder(", "CREATE FUNCTION name_holder_00071(", 1)
	if _, err := conn.Exec(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

// checkClaims fails the test if dns_name_claims is not the claims of the
// zones and records (dns_zone_claim_rows, dns_record_claim_rows) or if
// name_holder() answers a name unlike 00071's function.
func checkClaims(t *testing.T, conn *pgx.Conn, at string) {
	t.Helper()
	ctx := context.Background()
	rows, err := conn.Query(ctx, `WITH want AS (
		SELECT c.name, c.kind, z.id AS zone_id, 0::bigint AS record_id, c.own, c.above, c.bare
		FROM dns_zones z, dns_zone_claim_rows(z.name, z.config, z.synthesize) c
		UNION ALL
		SELECT c.name, c.kind, r.zone_id, r.id, c.own, c.above, c.bare
		FROM dns_records r, dns_record_claim_rows(r.zone_id, r.name, r.type, r.data) c),
	got AS (SELECT name, kind, zone_id, record_id, own, above, bare FROM dns_name_claims)
	SELECT 'missing', * FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM got) m
	UNION ALL
	SELECT 'stale', * FROM (SELECT * FROM got EXCEPT ALL SELECT * FROM want) s`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var what, name, kind string
		var zoneID, recordID int64
		var own, above, bare int16
		if err := rows.Scan(&what, &name, &kind, &zoneID, &recordID, &own, &above, &bare); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%s: claim %s: %q %s zone %d record %d (%d, %d, %d)", at, what, name, kind, zoneID, recordID, own, above, bare)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM dns_name_claims`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if d := differences(t, conn); len(d) > 0 {
		t.Errorf("%s (%d claims): name_holder answers unlike 00071's function: %s", at, n, strings.Join(d, "; "))
	}
}

// differences are the names for which name_holder() and
// name_holder_00071 differ: every name of the zones and records, NS
// targets and name servers, each with names one and two labels below
// it, without its final dot too, and names of templates' shapes.
func differences(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	ctx := context.Background()
	var names []string
	err := conn.QueryRow(ctx, `SELECT array_agg(DISTINCT n) FROM (
		SELECT name FROM dns_zones UNION ALL SELECT name FROM dns_records
		UNION ALL SELECT data FROM dns_records WHERE type = 'NS'
		UNION ALL SELECT lower(data) FROM dns_records WHERE type = 'NS'
		UNION ALL SELECT unnest(dns_zone_ns(config)) FROM dns_zones
		UNION ALL SELECT replace(synthesize, '{addr}', v) FROM dns_zones, unnest(ARRAY['1-2-3-4', '', 'a.b', 'vm']) v WHERE synthesize <> ''
		UNION ALL SELECT substr(synthesize, strpos(synthesize, '{addr}') + 7) FROM dns_zones WHERE synthesize <> '') x(n)`).Scan(&names)
	if err != nil {
		t.Fatal(err)
	}
	names = append(names, "free.cloud.example.", "xlab.cloud.example.", "nothing.example.", "example.", ".", "")
	var dotted, bare []string
	for _, n := range names {
		for _, m := range []string{n, "vm." + n, "a.b." + n, strings.TrimSuffix(n, ".")} {
			d, b := rowscan.NameArgs(m)
			dotted, bare = append(dotted, d), append(bare, b)
		}
	}
	rows, err := conn.Query(ctx, `SELECT u.d, name_holder(0, 0, 0, u.d, u.b, 't'), name_holder_00071(0, 0, 0, u.d, u.b, 't')
		FROM unnest($1::text[], $2::text[]) u(d, b)`, dotted, bare)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	seen := 0
	for rows.Next() {
		var d, got, want string
		if err := rows.Scan(&d, &got, &want); err != nil {
			t.Fatal(err)
		}
		seen++
		if got != want {
			out = append(out, fmt.Sprintf("%s: %q, want %q", d, got, want))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != len(dotted) {
		t.Fatalf("compared %d names of %d", seen, len(dotted))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
