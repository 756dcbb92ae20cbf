package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// tables dumps every table the life verbs touch, read through Tx: the
// register with released assignments, spaces, every object's tags and the
// whole event log. Two equal dumps prove a refused change left nothing.
func tables(t testing.TB, st registry.Store) string {
	t.Helper()
	ctx := context.Background()
	var out struct {
		Spaces      []registry.Space
		Regions     []registry.Region
		Blocks      []registry.Block
		Pools       []registry.Pool
		Free        map[int64][]netip.Prefix
		Assignments []registry.Assignment
		Tags        map[string]map[int64]registry.Tags
		Events      int
	}
	err := st.View(ctx, func(tx registry.Tx) error {
		var err error
		if out.Spaces, err = tx.Spaces(ctx); err != nil {
			return err
		}
		if out.Regions, err = tx.Regions(ctx); err != nil {
			return err
		}
		if out.Blocks, err = tx.Blocks(ctx); err != nil {
			return err
		}
		if out.Pools, err = tx.Pools(ctx, registry.PoolFilter{}); err != nil {
			return err
		}
		out.Free = map[int64][]netip.Prefix{}
		for _, p := range out.Pools {
			if out.Free[p.ID], err = tx.FreeOfPool(ctx, p.ID); err != nil {
				return err
			}
		}
		if out.Assignments, err = tx.Assignments(ctx, registry.AssignmentFilter{}); err != nil {
			return err
		}
		out.Tags = map[string]map[int64]registry.Tags{}
		ids := map[string][]int64{}
		for _, r := range out.Regions {
			ids[registry.KindRegion] = append(ids[registry.KindRegion], r.ID)
		}
		for _, b := range out.Blocks {
			ids[registry.KindBlock] = append(ids[registry.KindBlock], b.ID)
		}
		for _, p := range out.Pools {
			ids[registry.KindPool] = append(ids[registry.KindPool], p.ID)
		}
		for _, a := range out.Assignments {
			ids[registry.KindAssignment] = append(ids[registry.KindAssignment], a.ID)
		}
		for kind, list := range ids {
			if out.Tags[kind], err = tx.TagsOf(ctx, kind, list); err != nil {
				return err
			}
		}
		evs, err := tx.Events(ctx, registry.EventFilter{})
		out.Events = len(evs)
		return err
	})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// refused checks that err is want, names each of names, and that the
// tables are as before.
func refused(t *testing.T, st registry.Store, before string, err, want error, names ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
	for _, n := range names {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not name %q", err, n)
		}
	}
	if after := tables(t, st); after != before {
		t.Fatalf("a refused change changed the tables:\nbefore %s\nafter  %s", before, after)
	}
}

// lastEvent is the action of the log's last event.
func lastEvent(t *testing.T, st registry.Store) registry.Event {
	t.Helper()
	var evs []registry.Event
	err := st.View(context.Background(), func(tx registry.Tx) (err error) {
		evs, err = tx.Events(context.Background(), registry.EventFilter{})
		return err
	})
	if err != nil || len(evs) == 0 {
		t.Fatalf("events: %v (%d)", err, len(evs))
	}
	return evs[len(evs)-1]
}

// runLife is the conformance of spaces, tags and the lifecycle of regions,
// blocks, pools and assignments (registry.LifeTx), through the registry.
func runLife(t *testing.T, open Open) {
	ctx := context.Background()
	now := t0.Add(time.Hour)
	newReg := func(t *testing.T) (registry.Store, *registry.Registry) {
		s := open(t)
		t.Cleanup(func() { s.Close() })
		return s, registry.New(s, registry.WithClock(func() time.Time { return now }))
	}

	t.Run("spaces: private blocks overlap across spaces only, and a space with blocks stays", func(t *testing.T) {
		s, reg := newReg(t)
		sp, err := reg.Spaces(ctx)
		if err != nil || len(sp) != 2 || sp[0].Name != registry.GlobalSpace || sp[1].Name != registry.PrivateSpace {
			t.Fatalf("built-in spaces = %+v, %v", sp, err)
		}
		if _, err := reg.AddSpace(ctx, registry.Space{Name: "vpc-a", Note: "first VPC"}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.AddSpace(ctx, registry.Space{Name: "vpc-b"}); err != nil {
			t.Fatal(err)
		}
		a, err := reg.AddBlock(ctx, registry.Block{Prefix: mp("10.0.0.0/8"), Source: registry.SourcePrivate, Space: "vpc-a"})
		if err != nil || a.Space != "vpc-a" {
			t.Fatalf("block in vpc-a: %+v, %v", a, err)
		}
		if _, err := reg.AddBlock(ctx, registry.Block{Prefix: mp("10.0.0.0/8"), Source: registry.SourcePrivate, Space: "vpc-b"}); err != nil {
			t.Fatalf("the same private block in another space: %v", err)
		}
		d, err := reg.AddBlock(ctx, registry.Block{Prefix: mp("10.0.0.0/16"), Source: registry.SourcePrivate})
		if err != nil || d.Space != registry.PrivateSpace {
			t.Fatalf("a private block without a space goes to %q: %+v, %v", registry.PrivateSpace, d, err)
		}
		g, err := reg.AddBlock(ctx, registry.Block{Prefix: mp("40.64.0.0/10"), Source: registry.SourceRIR, Registry: "arin"})
		if err != nil || g.Space != registry.GlobalSpace {
			t.Fatalf("a public block goes to the global space: %+v, %v", g, err)
		}
		before := tables(t, s)
		for _, c := range []struct {
			name  string
			b     registry.Block
			want  error
			names []string
		}{
			{"overlap within a space", registry.Block{Prefix: mp("10.1.0.0/16"), Source: registry.SourcePrivate, Space: "vpc-a"}, registry.ErrOverlap, []string{"10.0.0.0/8", "vpc-a"}},
			{"overlap within the global space", registry.Block{Prefix: mp("40.64.0.0/16"), Source: registry.SourceRIR, Registry: "arin"}, registry.ErrOverlap, []string{"40.64.0.0/10"}},
			{"public space in a named space", registry.Block{Prefix: mp("52.0.0.0/8"), Source: registry.SourceRIR, Registry: "arin", Space: "vpc-a"}, registry.ErrInvalid, []string{"global"}},
			{"private space in the global space", registry.Block{Prefix: mp("172.16.0.0/12"), Source: registry.SourcePrivate, Space: registry.GlobalSpace}, registry.ErrInvalid, []string{"global"}},
			{"an unknown space", registry.Block{Prefix: mp("172.16.0.0/12"), Source: registry.SourcePrivate, Space: "vpc-z"}, registry.ErrNotFound, []string{"vpc-z", "space add"}},
			{"a bad space name", registry.Block{Prefix: mp("172.16.0.0/12"), Source: registry.SourcePrivate, Space: "VPC\x1b"}, registry.ErrInvalid, nil},
		} {
			_, err := reg.AddBlock(ctx, c.b)
			t.Run(c.name, func(t *testing.T) { refused(t, s, before, err, c.want, c.names...) })
		}
		// The database itself refuses an overlap within a space.
		err = s.Update(ctx, func(tx registry.Tx) error {
			return tx.InsertBlock(ctx, &registry.Block{Prefix: mp("10.2.0.0/16"), Source: registry.SourcePrivate, Space: "vpc-b", CreatedAt: now})
		})
		refused(t, s, before, err, registry.ErrOverlap)
		err = s.Update(ctx, func(tx registry.Tx) error {
			sp, err := tx.SpaceByName(ctx, "vpc-a")
			if err != nil {
				return err
			}
			return tx.DeleteSpace(ctx, sp.ID)
		})
		refused(t, s, before, err, registry.ErrState)

		_, err = reg.AddSpace(ctx, registry.Space{Name: "vpc-a"})
		refused(t, s, before, err, registry.ErrExists, "vpc-a")
		_, err = reg.AddSpace(ctx, registry.Space{Name: "Bad Name"})
		refused(t, s, before, err, registry.ErrInvalid, "space name")
		refused(t, s, before, reg.RemoveSpace(ctx, "vpc-a"), registry.ErrState, "vpc-a", "10.0.0.0/8", "block remove")
		refused(t, s, before, reg.RemoveSpace(ctx, registry.GlobalSpace), registry.ErrState, "built in")
		refused(t, s, before, reg.RemoveSpace(ctx, "vpc-q"), registry.ErrNotFound, "vpc-q")

		sp, err = reg.Spaces(ctx)
		if err != nil || len(sp) != 4 || sp[2].Name != "vpc-a" || sp[2].Blocks != 1 || sp[2].Note != "first VPC" || sp[0].Blocks != 1 {
			t.Fatalf("spaces = %+v, %v", sp, err)
		}
		if bs, err := reg.BlocksWhere(ctx, "vpc-b", nil); err != nil || len(bs) != 1 || bs[0].Space != "vpc-b" {
			t.Fatalf("blocks of vpc-b = %+v, %v", bs, err)
		}
		// A look-up names the space when several hold the address.
		if _, err := reg.Show(ctx, mp("10.9.0.1/32")); !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "--space") {
			t.Fatalf("show in two spaces: %v", err)
		}
		h, err := reg.ShowIn(ctx, mp("10.9.0.1/32"), "vpc-b")
		if err != nil || h.Block.Space != "vpc-b" {
			t.Fatalf("show --space vpc-b: %+v, %v", h.Block, err)
		}
		if _, err := reg.FindBlock(ctx, mp("10.0.0.0/8"), ""); !errors.Is(err, registry.ErrInvalid) {
			t.Fatalf("find a block two spaces hold, without a space: %v", err)
		}
		b, err := reg.FindBlock(ctx, mp("10.0.0.0/8"), "vpc-b")
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.RemoveBlock(ctx, b.ID, ""); err != nil {
			t.Fatal(err)
		}
		if err := reg.RemoveSpace(ctx, "vpc-b"); err != nil {
			t.Fatalf("remove an empty space: %v", err)
		}
		if e := lastEvent(t, s); e.Action != "space.remove" || e.Subject != "vpc-b" {
			t.Fatalf("last event = %+v", e)
		}
	})

	t.Run("tags are stored per object, filter listings and validate", func(t *testing.T) {
		s, reg := newReg(t)
		east, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US"}, Tags: registry.Tags{"env": "prod", "team": "net"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "eu-west", Location: location.Location{Country: "IE"}, Tags: registry.Tags{"env": "test"}}); err != nil {
			t.Fatal(err)
		}
		rs, err := reg.RegionsTagged(ctx, registry.Tags{"env": "prod"})
		if err != nil || len(rs) != 1 || rs[0].ID != east.ID || rs[0].Tags["team"] != "net" {
			t.Fatalf("regions tagged env=prod: %+v, %v", rs, err)
		}
		if rs, err := reg.RegionsTagged(ctx, registry.Tags{"env": "prod", "team": "ops"}); err != nil || len(rs) != 0 {
			t.Fatalf("two tags are AND: %+v, %v", rs, err)
		}
		if _, err := reg.AddBlock(ctx, registry.Block{Prefix: mp("40.64.0.0/10"), Source: registry.SourceRIR, Registry: "arin", Tags: registry.Tags{"owner": "finance"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: mp("40.64.0.0/24"), Region: "us-east", Tags: registry.Tags{"tier": "gold"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: mp("40.64.1.0/24"), Region: "us-east"}); err != nil {
			t.Fatal(err)
		}
		ps, err := reg.PoolsTagged(ctx, "", registry.Tags{"tier": "gold"})
		if err != nil || len(ps) != 1 || ps[0].Prefix != mp("40.64.0.0/24") || ps[0].Tags["tier"] != "gold" {
			t.Fatalf("pools tagged tier=gold: %+v, %v", ps, err)
		}
		bs, err := reg.BlocksWhere(ctx, "", registry.Tags{"owner": "finance"})
		if err != nil || len(bs) != 1 || bs[0].Tags["owner"] != "finance" {
			t.Fatalf("blocks tagged: %+v, %v", bs, err)
		}
		as, err := reg.AllocateAll(ctx, registry.Batch{Requests: []registry.Request{{Region: "us-east", Family: 4, Bits: 32, Count: 3}}})
		if err != nil {
			t.Fatal(err)
		}
		web := "web"
		a, err := reg.PatchAssignment(ctx, as[1].ID, "", nil, registry.AssignmentPatch{Resource: &web, TagPatch: registry.TagPatch{Set: registry.Tags{"app": "shop", "env": "prod"}}})
		if err != nil || a.Tags["app"] != "shop" || a.Resource != "web" {
			t.Fatalf("patch: %+v, %v", a, err)
		}
		got, err := reg.Assignments(ctx, registry.AssignmentFilter{Tags: registry.Tags{"app": "shop"}})
		if err != nil || len(got) != 1 || got[0].ID != as[1].ID || got[0].Tags["env"] != "prod" {
			t.Fatalf("assignments tagged app=shop: %+v, %v", got, err)
		}
		if got, err := reg.Assignments(ctx, registry.AssignmentFilter{Tags: registry.Tags{"app": "shop", "env": "test"}}); err != nil || len(got) != 0 {
			t.Fatalf("AND of two tags: %+v, %v", got, err)
		}
		got1, err := reg.Assignment(ctx, as[1].ID, nil)
		if err != nil || got1.Tags["app"] != "shop" {
			t.Fatalf("get: %+v, %v", got1, err)
		}
		// ETags cover tags: one read before a tag change no longer matches.
		tag := registry.ETag(got1)
		a, err = reg.PatchAssignment(ctx, as[1].ID, tag, nil, registry.AssignmentPatch{TagPatch: registry.TagPatch{Unset: []string{"env"}}})
		if err != nil || len(a.Tags) != 1 {
			t.Fatalf("untag: %+v, %v", a, err)
		}
		before := tables(t, s)
		_, err = reg.PatchAssignment(ctx, as[1].ID, tag, nil, registry.AssignmentPatch{TagPatch: registry.TagPatch{Set: registry.Tags{"x": "y"}}})
		refused(t, s, before, err, registry.ErrPrecondition)
		for _, c := range []struct {
			name string
			p    registry.TagPatch
		}{
			{"an upper-case key", registry.TagPatch{Set: registry.Tags{"Env": "x"}}},
			{"a key with a space", registry.TagPatch{Set: registry.Tags{"e v": "x"}}},
			{"a key starting with a dot", registry.TagPatch{Set: registry.Tags{".env": "x"}}},
			{"an empty key", registry.TagPatch{Set: registry.Tags{"": "x"}}},
			{"a control character in a value", registry.TagPatch{Set: registry.Tags{"env": "a\x1b[2Jb"}}},
			{"a bidi override in a value", registry.TagPatch{Set: registry.Tags{"env": "a\u202eb"}}},
			{"a value over 256 bytes", registry.TagPatch{Set: registry.Tags{"env": strings.Repeat("v", 257)}}},
			{"a key set and removed", registry.TagPatch{Set: registry.Tags{"env": "x"}, Unset: []string{"env"}}},
			{"a bad key removed", registry.TagPatch{Unset: []string{"BAD KEY"}}},
		} {
			_, err := reg.PatchAssignment(ctx, as[1].ID, "", nil, registry.AssignmentPatch{TagPatch: c.p})
			t.Run(c.name, func(t *testing.T) { refused(t, s, before, err, registry.ErrInvalid) })
		}
		many := registry.Tags{}
		for i := range registry.MaxTags + 1 {
			many[string(rune('a'+i%26))+strings.Repeat("k", i/26+1)] = "v"
		}
		_, err = reg.PatchAssignment(ctx, as[1].ID, "", nil, registry.AssignmentPatch{TagPatch: registry.TagPatch{Set: many}})
		refused(t, s, before, err, registry.ErrInvalid, "at most")
		other := "globex"
		_, err = reg.PatchAssignment(ctx, as[1].ID, "", &other, registry.AssignmentPatch{TagPatch: registry.TagPatch{Set: registry.Tags{"x": "y"}}})
		refused(t, s, before, err, registry.ErrNotFound)

		// The port itself: SetTags replaces, TagsOf reads many, Tagged intersects.
		err = s.Update(ctx, func(tx registry.Tx) error {
			if err := tx.SetTags(ctx, registry.KindPool, 1001, registry.Tags{"a": "1", "b": "2"}); err != nil {
				return err
			}
			if err := tx.SetTags(ctx, registry.KindPool, 1002, registry.Tags{"a": "1"}); err != nil {
				return err
			}
			if err := tx.SetTags(ctx, registry.KindRegion, 1001, registry.Tags{"a": "1", "b": "2"}); err != nil {
				return err
			}
			if err := tx.SetTags(ctx, registry.KindPool, 1001, registry.Tags{"a": "1", "b": "3"}); err != nil {
				return err
			}
			m, err := tx.TagsOf(ctx, registry.KindPool, []int64{1001, 1002, 1003})
			if err != nil {
				return err
			}
			if len(m) != 2 || m[1001]["b"] != "3" || len(m[1002]) != 1 {
				t.Errorf("TagsOf = %v", m)
			}
			ids, err := tx.Tagged(ctx, registry.KindPool, registry.Tags{"a": "1"})
			if err != nil {
				return err
			}
			if !slices.Equal(ids, []int64{1001, 1002}) {
				t.Errorf("Tagged a=1 = %v", ids)
			}
			if ids, err = tx.Tagged(ctx, registry.KindPool, registry.Tags{"a": "1", "b": "3"}); err != nil || !slices.Equal(ids, []int64{1001}) {
				t.Errorf("Tagged a=1,b=3 = %v, %v", ids, err)
			}
			if err := tx.SetTags(ctx, registry.KindPool, 1001, nil); err != nil {
				return err
			}
			m, err = tx.TagsOf(ctx, registry.KindPool, []int64{1001})
			if err != nil || len(m) != 0 {
				t.Errorf("after SetTags nil: %v, %v", m, err)
			}
			return errors.New("roll back")
		})
		if err == nil || err.Error() != "roll back" {
			t.Fatalf("port: %v", err)
		}
	})

	t.Run("regions, blocks and pools change and go only when nothing depends on them", func(t *testing.T) {
		s, reg := newReg(t)
		if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "us-west", Location: location.Location{Country: "US"}, Borrow: registry.BorrowPolicy{From: []string{"us-east"}}}); err != nil {
			t.Fatal(err)
		}
		blk, err := reg.AddBlock(ctx, registry.Block{Prefix: mp("40.64.0.0/10"), Source: registry.SourceRIR, Registry: "arin"})
		if err != nil {
			t.Fatal(err)
		}
		pl, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: mp("40.64.0.0/24"), Region: "us-east"})
		if err != nil {
			t.Fatal(err)
		}
		a, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 4, Bits: 32, Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		before := tables(t, s)
		refused(t, s, before, reg.RemoveRegion(ctx, "us-east", ""), registry.ErrState, "40.64.0.0/24", "pool remove")
		refused(t, s, before, reg.RemoveBlock(ctx, blk.ID, ""), registry.ErrState, "40.64.0.0/24", "pool remove")
		refused(t, s, before, reg.RemovePool(ctx, pl.ID, ""), registry.ErrState, a[0].Prefix.String(), "release")
		refused(t, s, before, reg.RemovePool(ctx, pl.ID, `"stale"`), registry.ErrPrecondition)
		refused(t, s, before, reg.RemoveBlock(ctx, 9999, ""), registry.ErrNotFound)
		refused(t, s, before, reg.RemoveRegion(ctx, "nowhere", ""), registry.ErrNotFound)
		bad := "XX"
		_, err = reg.UpdateBlock(ctx, blk.ID, "", registry.BlockPatch{RegisteredCountry: &bad})
		refused(t, s, before, err, registry.ErrInvalid, "XX")
		future := "2999-01-01"
		_, err = reg.UpdateBlock(ctx, blk.ID, "", registry.BlockPatch{Date: &future})
		refused(t, s, before, err, registry.ErrInvalid, "future")
		none := ""
		_, err = reg.UpdateBlock(ctx, blk.ID, "", registry.BlockPatch{Registry: &none})
		refused(t, s, before, err, registry.ErrInvalid, "registry")
		ctl := "bad\x07note"
		_, err = reg.UpdateBlock(ctx, blk.ID, "", registry.BlockPatch{Note: &ctl})
		refused(t, s, before, err, registry.ErrInvalid, "note")
		_, err = reg.UpdatePool(ctx, pl.ID, "", registry.PoolPatch{Purpose: &ctl})
		refused(t, s, before, err, registry.ErrInvalid, "purpose")
		cc := "ZZ"
		_, err = reg.PatchRegion(ctx, "us-east", "", registry.RegionPatch{Country: &cc})
		refused(t, s, before, err, registry.ErrInvalid)

		note, date := "bought in 2011", "2011-03-23"
		b2, err := reg.UpdateBlock(ctx, blk.ID, registry.ETag(blk), registry.BlockPatch{Note: &note, Date: &date, Price: &registry.Money{Cents: 100, Currency: "USD"}, TagPatch: registry.TagPatch{Set: registry.Tags{"owner": "fin"}}})
		if err != nil || b2.Note != note || b2.Date != date || b2.Price == nil || b2.Tags["owner"] != "fin" {
			t.Fatalf("block update: %+v, %v", b2, err)
		}
		if got, err := reg.Block(ctx, blk.ID); err != nil || got.Note != note || got.Price.Cents != 100 || got.Tags["owner"] != "fin" || registry.ETag(got) != registry.ETag(b2) {
			t.Fatalf("block read back: %+v, %v", got, err)
		}
		if e := lastEvent(t, s); e.Action != "block.update" || !strings.Contains(string(e.Before), `"note"`) == strings.Contains(string(e.Before), note) {
			t.Fatalf("block.update event = %+v", e)
		}
		vms := "vms"
		p2, err := reg.UpdatePool(ctx, pl.ID, "", registry.PoolPatch{Purpose: &vms, TagPatch: registry.TagPatch{Set: registry.Tags{"tier": "gold"}}})
		if err != nil || p2.Purpose != "vms" || p2.Tags["tier"] != "gold" {
			t.Fatalf("pool update: %+v, %v", p2, err)
		}
		if got, err := reg.FindPool(ctx, pl.Prefix); err != nil || got.Purpose != "vms" || got.Tags["tier"] != "gold" {
			t.Fatalf("pool read back: %+v, %v", got, err)
		}
		city := "Ashburn"
		g, err := reg.PatchRegion(ctx, "us-east", "", registry.RegionPatch{City: &city, TagPatch: registry.TagPatch{Set: registry.Tags{"env": "prod"}}})
		if err != nil || g.Location.City != city || g.Tags["env"] != "prod" {
			t.Fatalf("region patch: %+v, %v", g, err)
		}
		if e := lastEvent(t, s); e.Action != "region.update" {
			t.Fatalf("event = %+v", e)
		}

		// Release the assignment: the pool, then the block, go; the
		// region waits until no region borrows from it.
		if _, err := reg.Release(ctx, registry.Target{ID: a[0].ID}, 0, nil); err != nil {
			t.Fatal(err)
		}
		if err := reg.RemovePool(ctx, pl.ID, registry.ETag(p2)); err != nil {
			t.Fatalf("remove an empty pool: %v", err)
		}
		// Nothing is left of it: its released row went with it.
		err = s.View(ctx, func(tx registry.Tx) error {
			as, err := tx.Assignments(ctx, registry.AssignmentFilter{})
			for _, x := range as {
				if x.PoolID == pl.ID {
					t.Errorf("assignment %d (%s, %s) left of the removed pool %d", x.ID, x.Prefix, x.State, pl.ID)
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if e := lastEvent(t, s); e.Action != "pool.remove" || e.Subject != "40.64.0.0/24" || len(e.Before) == 0 {
			t.Fatalf("event = %+v", e)
		}
		if err := reg.RemoveBlock(ctx, blk.ID, ""); err != nil {
			t.Fatalf("remove a block without pools: %v", err)
		}
		before = tables(t, s)
		refused(t, s, before, reg.RemoveRegion(ctx, "us-east", ""), registry.ErrState, "us-west", "borrow")
		if err := reg.RemoveRegion(ctx, "us-west", ""); err != nil {
			t.Fatal(err)
		}
		if err := reg.RemoveRegion(ctx, "us-east", ""); err != nil {
			t.Fatal(err)
		}
		if e := lastEvent(t, s); e.Action != "region.remove" || e.Subject != "us-east" {
			t.Fatalf("event = %+v", e)
		}
		err = s.View(ctx, func(tx registry.Tx) error {
			for _, kind := range []string{registry.KindRegion, registry.KindBlock, registry.KindPool} {
				if m, err := tx.TagsOf(ctx, kind, []int64{1, 2, 3}); err != nil || len(m) != 0 {
					t.Errorf("%s tags left behind: %v, %v", kind, m, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the database refuses removing what is still referenced", func(t *testing.T) {
		f := setup(t, open)
		before := tables(t, f.s)
		for name, fn := range map[string]func(registry.Tx) error{
			"a block with pools":  func(tx registry.Tx) error { return tx.DeleteBlock(ctx, f.block4.ID) },
			"a region with pools": func(tx registry.Tx) error { return tx.DeleteRegion(ctx, f.region.ID) },
		} {
			t.Run(name, func(t *testing.T) { refused(t, f.s, before, f.s.Update(ctx, fn), registry.ErrState) })
		}
	})

	t.Run("the database keeps each assignment in a pool that holds it: a pool with rows stays", func(t *testing.T) {
		// The rule of the foreign key assignments -> pools, kept by
		// triggers since deleting a pool checks a range of the address
		// index, not a walk of the table (PostgreSQL 00086, SQLite
		// 00068-00069): DeletePool refuses a pool that still holds a live
		// or quarantined row (the registry checks first: this is the
		// database's own guard), and a row's pool must hold its prefix,
		// which makes that range complete.
		f := setup(t, open)
		until := t0.Add(7 * 24 * time.Hour)
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			for _, a := range []registry.Assignment{
				{Prefix: mp("40.64.0.8/30"), PoolID: f.pool4.ID, Pool: f.pool4.Prefix, RegionID: f.region.ID, Region: f.region.Name, State: registry.StateAssigned, CreatedAt: t0},
				{Prefix: mp("2603:1030:0:7::/64"), PoolID: f.pool6.ID, Pool: f.pool6.Prefix, RegionID: f.region.ID, Region: f.region.Name,
					State: registry.StateQuarantined, CreatedAt: t0, ReleasedAt: &t0, QuarantineUntil: &until},
			} {
				if err := tx.InsertAssignment(ctx, &a); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		before := tables(t, f.s)
		insert := func(p netip.Prefix, pool registry.Pool) func(registry.Tx) error {
			return func(tx registry.Tx) error {
				return tx.InsertAssignment(ctx, &registry.Assignment{Prefix: p, PoolID: pool.ID, Pool: pool.Prefix, RegionID: f.region.ID, Region: f.region.Name,
					State: registry.StateAssigned, CreatedAt: t0})
			}
		}
		for _, c := range []struct {
			name string
			fn   func(registry.Tx) error
		}{
			{"a pool with a live assignment", func(tx registry.Tx) error { return tx.DeletePool(ctx, f.pool4.ID) }},
			{"a pool with a quarantined assignment", func(tx registry.Tx) error { return tx.DeletePool(ctx, f.pool6.ID) }},
			{"an assignment outside its pool's prefix", insert(mp("40.64.1.0/32"), f.pool4)},
			{"an assignment of the other family's pool", insert(mp("40.64.0.64/32"), f.pool6)},
		} {
			t.Run(c.name, func(t *testing.T) { refused(t, f.s, before, f.s.Update(ctx, c.fn), registry.ErrState) })
		}
	})

	t.Run("the global space of the placements is what the geofeed publishes", func(t *testing.T) {
		_, reg := newReg(t)
		if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US"}}); err != nil {
			t.Fatal(err)
		}
		for _, b := range []registry.Block{{Prefix: mp("40.64.0.0/10"), Source: registry.SourceRIR, Registry: "arin"}, {Prefix: mp("10.0.0.0/8"), Source: registry.SourcePrivate}} {
			if _, err := reg.AddBlock(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{"40.64.0.0/24", "10.1.0.0/16"} {
			if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: mp(p), Region: "us-east"}); err != nil {
				t.Fatal(err)
			}
		}
		pl, _, err := reg.Placements(ctx)
		if err != nil || len(pl) != 1 {
			t.Fatalf("placements = %+v, %v; want the global space's pool alone", pl, err)
		}
		var global []netip.Prefix
		for _, p := range pl {
			if registry.InGlobalSpace(p.Prefix) {
				global = append(global, p.Prefix)
			}
		}
		if len(global) != 1 || global[0] != mp("40.64.0.0/24") {
			t.Fatalf("global space of the placements = %v", global)
		}
	})
}
