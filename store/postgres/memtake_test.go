package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// memOp is one step of a sequence run by runInOrder: an allocation
// (Bits > 0), a release (Release valid), or a job that takes a free
// prefix through the store and then fails (Fail).
type memOp struct {
	Family, Bits int
	Name, Tenant string
	Release      netip.Prefix
	Fail         bool
}

// memWorld is a register of one region with an IPv4 and an IPv6 pool, in
// a database of its own, with one writer.
type memWorld struct {
	st     *postgres.Store
	r      *registry.Registry
	dsn    string
	region int64
}

func newMemWorld(t *testing.T, memTake bool) memWorld {
	t.Helper()
	return openMemWorld(t, memTake, nil)
}

// openMemWorld is newMemWorld whose statements tracer sees (nil: none).
func openMemWorld(t *testing.T, memTake bool, tracer pgx.QueryTracer) memWorld {
	t.Helper()
	ctx := context.Background()
	dsn := migratedDB(t)
	st, err := postgres.Open(ctx, dsn, postgres.Options{Writers: 1, Tracer: tracer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	postgres.SetMemTake(st, memTake)
	// The ID reserve fetched by one batch must still be there for the
	// next, however slowly the machine runs them: a refill is a statement
	// in the middle of a batch, which forgets the take's candidate and
	// turns the probes off for the rest of it, so the takes counted here
	// (MemTakes, TestMemTakeProbes) would depend on the clock.
	postgres.SetIDFresh(st, time.Hour)
	r := registry.New(st)
	reg, err := r.AddRegion(ctx, registry.RegionSpec{Name: "mem", Location: location.Location{Country: "US"}})
	if err != nil {
		t.Fatal(err)
	}
	three := int64(3)
	if _, err := r.AddTenant(ctx, registry.TenantSpec{Name: "quota3", MaxIPv4: &three}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"10.0.0.0/16", "fd00::/56"} {
		pfx := netip.MustParsePrefix(p)
		if _, err := r.AddBlock(ctx, registry.Block{Prefix: pfx, Source: "private"}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: pfx, Region: "mem", UseAll: true}); err != nil {
			t.Fatal(err)
		}
	}
	return memWorld{st: st, r: r, dsn: dsn, region: reg.ID}
}

// runInOrder runs ops as concurrent callers queued in this order behind
// a holder of the only writer, so that they run in shared batches in
// this order, and returns each one's outcome: the prefix allocated or
// released, or the error.
func (w memWorld) runInOrder(t *testing.T, ops []memOp) []string {
	t.Helper()
	ctx := context.Background()
	release := holdWriter(t, w.st, func(registry.Tx) error { return nil })
	out := make([]string, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = w.run(ctx, op)
		}()
		waitQueued(t, i+1)
	}
	// The holder's batch takes them in (absorb), in this order.
	release()
	wg.Wait()
	return out
}

var errMemFail = errors.New("test: refused after the take")

func (w memWorld) run(ctx context.Context, op memOp) string {
	switch {
	case op.Release.IsValid():
		a, err := w.r.Release(ctx, registry.Target{Prefix: op.Release}, 0, nil)
		if err != nil {
			return "error: " + err.Error()
		}
		return "released " + a.Prefix.String()
	case op.Fail:
		err := w.st.Update(ctx, func(tx registry.Tx) error {
			if _, _, err := tx.(registry.FreeTaker).TakeSmallestFree(ctx, w.region, op.Family, op.Bits); err != nil {
				return err
			}
			return errMemFail
		})
		if !errors.Is(err, errMemFail) {
			return fmt.Sprintf("failing job: %v", err)
		}
		return "failed as asked"
	}
	as, err := w.r.Allocate(ctx, registry.Request{Region: "mem", Family: op.Family, Bits: op.Bits, Name: op.Name, Tenant: op.Tenant})
	if err != nil {
		return "error: " + err.Error()
	}
	return as[0].Prefix.String()
}

// state is the register's free space and live assignments, sorted; it
// checks that they cover the IPv4 pool exactly once.
func (w memWorld) state(t *testing.T) (free, live []string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, w.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	read := func(q string) []string {
		rows, err := c.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	free = read(`SELECT family || ' ' || bits || ' ' || encode(addr, 'hex') || ' ' || pool_id FROM free ORDER BY 1`)
	live = read(`SELECT prefix::text FROM assignments WHERE state <> 'released' ORDER BY 1`)
	// The IPv4 pool's free prefixes and live assignments cover it
	// exactly once: nothing lost, nothing twice.
	var freeN, liveN, overlaps int64
	if err := c.QueryRow(ctx, `SELECT COALESCE(SUM(2 ^ (32 - bits)), 0)::bigint FROM free WHERE family = 4`).Scan(&freeN); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, `SELECT COALESCE(SUM(2 ^ (32 - masklen(prefix))), 0)::bigint FROM assignments WHERE family(prefix) = 4 AND state <> 'released'`).Scan(&liveN); err != nil {
		t.Fatal(err)
	}
	if freeN+liveN != 1<<16 {
		t.Errorf("IPv4: %d addresses free and %d live, want %d in all", freeN, liveN, 1<<16)
	}
	if err := c.QueryRow(ctx, `SELECT count(*) FROM assignments a JOIN assignments b ON a.id < b.id AND a.prefix && b.prefix
		WHERE a.state <> 'released' AND b.state <> 'released'`).Scan(&overlaps); err != nil {
		t.Fatal(err)
	}
	if overlaps != 0 {
		t.Errorf("%d pairs of live assignments overlap", overlaps)
	}
	return free, live
}

// compareMemTake runs the phases, each a shared batch in order, with and
// without the take from the queue, and wants the same outcomes, the same
// free space and the same assignments. It returns the takes the queue
// answered.
func compareMemTake(t *testing.T, phases [][]memOp) int64 {
	t.Helper()
	var outs [2][][]string
	var frees, lives [2][]string
	var taken int64
	for k, on := range []bool{false, true} {
		w := newMemWorld(t, on)
		for _, ops := range phases {
			outs[k] = append(outs[k], w.runInOrder(t, ops))
		}
		frees[k], lives[k] = w.state(t)
		if on {
			taken = postgres.MemTakes(w.st)
		}
	}
	for p := range phases {
		for i := range phases[p] {
			if outs[0][p][i] != outs[1][p][i] {
				t.Errorf("phase %d, op %d %+v: %q with the take from the queue, %q without", p, i, phases[p][i], outs[1][p][i], outs[0][p][i])
			}
		}
	}
	if !slices.Equal(frees[0], frees[1]) {
		t.Errorf("free space differs:\nwithout: %v\nwith:    %v", frees[0], frees[1])
	}
	if !slices.Equal(lives[0], lives[1]) {
		t.Errorf("live assignments differ:\nwithout: %v\nwith:    %v", lives[0], lives[1])
	}
	t.Logf("outcomes: %v; %d takes from the queue", outs[1], taken)
	return taken
}

// TestMemTakeChoosesAsTheStatement: a take answered from the leftovers a
// batch queued (memtake.go) chooses the prefix the take statement would
// have chosen, in a sequence of /32, /30, /128 and /64 allocations with
// releases between them, where a free /32 in the table comes before the
// /30 leftover queued (the prototype of 37fa637 took the leftover).
func TestMemTakeChoosesAsTheStatement(t *testing.T) {
	v4 := func(bits int) memOp { return memOp{Family: 4, Bits: bits} }
	v6 := func(bits int) memOp { return memOp{Family: 6, Bits: bits} }
	rel := func(p string) memOp { return memOp{Release: netip.MustParsePrefix(p)} }
	phases := [][]memOp{
		// 10.0.0.0-3 taken; 10.0.0.2 released below: a free /32 in the
		// table, its buddy live.
		{v4(32), v4(32), v4(32), v4(32)},
		{rel("10.0.0.2/32")},
		{
			v4(30), v4(30), // the second splits the /29 at .8: a /30 leftover queued
			v4(32), // the /32 at .2 in the table comes first
			v4(32), v4(32), v4(32), v4(32),
			v6(128), v6(64), v6(128), v6(128), v6(64), v6(128),
			v4(30), v4(32), rel("10.0.0.0/32"), v4(32), v4(32), v4(31), v4(32),
			rel("10.0.0.13/32"), v4(32), v4(30), v4(32),
		},
		{v4(32), rel("10.0.0.1/32"), v4(32), v4(32), v6(128), rel("fd00::/128"), v6(128), v6(128), v4(28), v4(32), v4(32)},
		{v4(32), v4(32), v4(32), v4(32), v4(32), v4(32), v6(128), v6(128), v6(128), v6(128), v6(64), v6(64), v6(64), v4(30), v4(30), v4(30)},
	}
	if taken := compareMemTake(t, phases); taken == 0 {
		t.Error("no take was answered from the queue: the test tests nothing")
	}
}

// TestMemTakeJobFailsInTheMiddle: a job fails in the middle of a batch
// whose earlier jobs' writes wait in the queue: after taking a leftover
// out of it (the batch runs again with savepoints), or refused by its
// tenant's quota. The others commit with the prefixes
// they would have had, the failing job gets its error, and the leftovers
// are neither lost nor doubled (state, and the free space compared).
func TestMemTakeJobFailsInTheMiddle(t *testing.T) {
	v4 := func(bits int) memOp { return memOp{Family: 4, Bits: bits} }
	fail := func(bits int) memOp { return memOp{Family: 4, Bits: bits, Fail: true} }
	quota := memOp{Family: 4, Bits: 32, Tenant: "quota3"}
	for _, c := range []struct {
		name string
		ops  []memOp
	}{
		{"fails after a take from the queue", []memOp{v4(32), v4(32), fail(32), v4(32), v4(30), v4(32)}},
		{"fails after takes from the queue by others", []memOp{v4(32), v4(32), v4(32), fail(32), v4(32), v4(32)}},
		{"refused by a quota", []memOp{v4(32), quota, quota, quota, quota, v4(32), v4(32), quota}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The first batch reads the pools into the Store's cache (a
			// statement after the take, which forgets the candidate).
			if taken := compareMemTake(t, [][]memOp{{v4(32), v4(30)}, c.ops}); taken == 0 {
				t.Error("no take was answered from the queue: the test tests nothing")
			}
		})
	}
}

// takeCounter counts the take statements a Store sends
// (postgres.Options.Tracer), alone or in a batch: with the probes that
// learn the database's next free row (takeWithNext), and without.
type takeCounter struct{ probes, plain atomic.Int64 }

func (c *takeCounter) count(sql string) {
	switch sql {
	case postgres.TakeWithNext:
		c.probes.Add(1)
	case postgres.TakeSmallestFree:
		c.plain.Add(1)
	}
}

// sqlTracer is a postgres.Options.Tracer that hands the text of every
// statement a Store sends, alone or in a batch, to the function.
type sqlTracer func(sql string)

func (f sqlTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	f(d.SQL)
	return ctx
}
func (f sqlTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (f sqlTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (f sqlTracer) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	f(d.SQL)
}
func (f sqlTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TestMemTakeProbes counts the take statements of one shared batch of
// twelve /32s (a4524fe): a take learns the database's next free row
// (takeWithNext, two probes of free's key) where the next take can use
// it, and a row forgotten unused turns the probes off for the next 32
// takes (probeSkip).
//
//   - Plain allocations: each probe is looked at by the next take, which
//     takes the leftovers queued before it with no statement (a /32's
//     buddy, then the /31 and /30 it split), or probes again when the
//     database's row comes first.
//   - Named allocations: each sends its name check (name_holder) in the
//     round trip of its take. The first take probes; the second too, as
//     the first's row is forgotten unused only when that round trip goes
//     out; from then on the plain statement. Before a4524fe every take
//     probed for nothing (~55 µs of the server's CPU each over HTTP).
//   - Named and plain in turn: the plain one uses the named one's probe
//     (the database's row comes first, so it probes again); the next
//     named one's take probes, and forgets that row unused; then no take
//     probes again.
func TestMemTakeProbes(t *testing.T) {
	v4 := func(bits int) memOp { return memOp{Family: 4, Bits: bits} }
	named := func(i int) memOp { return memOp{Family: 4, Bits: 32, Name: fmt.Sprintf("h%d.probe.example", i)} }
	var plain, names, mixed []memOp
	for i := range 12 {
		plain = append(plain, v4(32))
		names = append(names, named(i))
		if i%2 == 0 {
			mixed = append(mixed, named(100+i))
		} else {
			mixed = append(mixed, v4(32))
		}
	}
	for _, c := range []struct {
		name string
		ops  []memOp
		// The batch's takes: with the probes, with the plain statement,
		// and answered from the queue with none.
		probes, plain, queued int64
	}{
		{"plain allocations: each probe is used, the leftovers are taken from the queue", plain, 4, 0, 8},
		{"named allocations: the first two takes probe, the others send the plain statement", names, 2, 10, 0},
		{"named and plain in turn: a probe forgotten unused, then no take probes again", mixed, 3, 9, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			takes := &takeCounter{}
			w := openMemWorld(t, true, sqlTracer(takes.count))
			// The first batch reads the pools into the Store's cache (a
			// statement after the take, which forgets the candidate).
			for _, out := range w.runInOrder(t, []memOp{v4(32), v4(30)}) {
				if strings.HasPrefix(out, "error") {
					t.Fatal(out)
				}
			}
			probes, plain, queued := takes.probes.Load(), takes.plain.Load(), postgres.MemTakes(w.st)
			for i, out := range w.runInOrder(t, c.ops) {
				if strings.HasPrefix(out, "error") {
					t.Fatalf("op %d %+v: %s", i, c.ops[i], out)
				}
			}
			probes, plain, queued = takes.probes.Load()-probes, takes.plain.Load()-plain, postgres.MemTakes(w.st)-queued
			if probes+plain+queued != int64(len(c.ops)) {
				t.Errorf("%d takes with the probes, %d plain, %d from the queue: want %d in all", probes, plain, queued, len(c.ops))
			}
			if probes != c.probes || plain != c.plain || queued != c.queued {
				t.Errorf("takes: %d with the probes, %d plain, %d from the queue; want %d, %d, %d", probes, plain, queued, c.probes, c.plain, c.queued)
			}
		})
	}
}
