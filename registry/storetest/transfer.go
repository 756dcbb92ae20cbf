package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/interchange"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Transfer is the conformance of the whole-register export and import
// (registry.Dump and Load, through the interchange formats): a register
// with tenants, borrowing, quarantine and releases, a named space with a
// private block (overlapping one of the private space), policy and use_all
// pools, reservations with and without an end, tags on every kind and
// child pools (a live one with children and a reservation, a dissolved one),
// exported, loaded into an empty store and exported again gives the same
// bytes in JSON and CSV; the loaded register keeps the invariants, the
// same free space in every pool and the same next allocation; every bad
// file is refused with its line and leaves the register exactly as it was.
func Transfer(t *testing.T, open Open) {
	e := newModelEnv(t, open)
	e.standard(26, false)
	ctx := e.ctx
	names := []string{"example.net"}
	if _, err := e.reg.AddTenant(ctx, registry.TenantSpec{Name: "acme", Names: &names, MaxIPv4: ptr(int64(1000))}); err != nil {
		t.Fatal(err)
	}
	// 340 addresses in east: its own 332 (its pools less what the address
	// policy keeps back) and part of a /26 borrowed from south.
	as, err := e.reg.Allocate(ctx, registry.Request{Region: "east", Family: 4, Count: 340, Tenant: "acme", Resource: "vm"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.reg.Allocate(ctx, registry.Request{Region: "east", Family: 6, Tenant: "acme", Name: "www.example.net"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Allocate(ctx, registry.Request{Region: "south", Family: 6, Bits: 124, Count: 3}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	for i, a := range as[:6] {
		q := time.Duration(0)
		if i%2 == 0 {
			q = 24 * time.Hour
		}
		if _, err := e.reg.Release(ctx, registry.Target{ID: a.ID}, q, nil); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(time.Hour)
	if _, err := e.reg.Allocate(ctx, registry.Request{Region: "east", Family: 4, Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	spaced(t, e)
	childPooled(t, e)
	export := func(reg *registry.Registry, f interchange.Format) []byte {
		t.Helper()
		d, err := reg.Dump(ctx)
		if err != nil {
			t.Fatalf("dump: %v", err)
		}
		var b bytes.Buffer
		if err := interchange.Write(&b, d, f); err != nil {
			t.Fatalf("write %s: %v", f, err)
		}
		return b.Bytes()
	}
	files := map[interchange.Format][]byte{}
	for _, f := range []interchange.Format{interchange.JSON, interchange.CSV} {
		t.Run("export, import into an empty register and export again gives the same bytes: "+string(f), func(t *testing.T) {
			first := export(e.reg, f)
			files[f] = first
			d, err := interchange.Read(first)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			e2 := newModelEnv(t, open)
			e2.clock.now = e.clock.Now()
			// Read and loaded a chunk of two assignments at a time, as
			// import does: the same register as Load of the whole dump.
			rep, err := streamLoad(ctx, e2.reg, first, 2, registry.LoadOptions{Source: "file.json"})
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if rep.Assignments != len(d.Assignments) || rep.Relocations != 1 {
				t.Fatalf("report %+v", rep)
			}
			importBatches(t, e2, len(d.Assignments), 2, "file.json")
			CheckInvariants(t, ctx, e2.store, e2.reg, e2.clock.Now())
			if second := export(e2.reg, f); !bytes.Equal(first, second) {
				t.Fatalf("second export differs:\n%s\n----\n%s", first, second)
			}
			if rep.Spaces != 2 || rep.Reservations != 4 || rep.ChildPools != 1 {
				t.Fatalf("report %+v: want 2 spaces, 4 reservations and 1 child pool", rep)
			}
			// Child pools count against their tenant as they did.
			t1, err1 := e.reg.Tenant(ctx, "acme")
			t2, err2 := e2.reg.Tenant(ctx, "acme")
			if err1 != nil || err2 != nil || t1.UsedIPv4 != t2.UsedIPv4 || t1.UsedIPv6 != t2.UsedIPv6 {
				t.Fatalf("tenant use: original %+v %v, loaded %+v %v", t1, err1, t2, err2)
			}
			// The child pool hands out the same next child, with its tags.
			k1, err1 := e.reg.Allocate(ctx, registry.Request{Pool: "site1", Family: 4, Tenant: "acme"})
			k2, err2 := e2.reg.Allocate(ctx, registry.Request{Pool: "site1", Family: 4, Tenant: "acme"})
			if err1 != nil || err2 != nil || k1[0].Prefix != k2[0].Prefix {
				t.Fatalf("next child: original %v %v, loaded %v %v", k1, err1, k2, err2)
			}
			if _, err := e.reg.Release(ctx, registry.Target{ID: k1[0].ID}, 0, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := e2.reg.Release(ctx, registry.Target{ID: k2[0].ID}, 0, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := e2.reg.ReleasePool(ctx, "site1", nil); !errors.Is(err, registry.ErrState) {
				t.Fatalf("loaded child pool with live children released: %v", err)
			}
			// Reservations and the address policy survive: every pool has
			// the same free space, and what they hold is refused alike.
			if a, b := freeByPool(t, e), freeByPool(t, e2); a != b {
				t.Fatalf("free space differs:\n%s\n----\n%s", a, b)
			}
			for _, p := range []string{"10.0.128.1/32", "10.0.128.20/32", "10.0.128.255/32", "10.0.2.0/32"} {
				// vpc-b holds 10.0.128.0/24 too: vpc-a's is named.
				space := ""
				if mp("10.0.128.0/24").Contains(mp(p).Addr()) {
					space = "vpc-a"
				}
				_, err1 := e.reg.Allocate(ctx, registry.Request{Prefix: mp(p), Space: space})
				_, err2 := e2.reg.Allocate(ctx, registry.Request{Prefix: mp(p), Space: space})
				if !errors.Is(err1, registry.ErrOverlap) || err2 == nil || err1.Error() != err2.Error() {
					t.Fatalf("%s: original %v, loaded %v", p, err1, err2)
				}
			}
			// The loaded register works on: the same next allocation.
			want, err1 := e.reg.Allocate(ctx, registry.Request{Region: "south", Family: 4, Key: "k" + string(f)})
			got, err2 := e2.reg.Allocate(ctx, registry.Request{Region: "south", Family: 4, Key: "k" + string(f)})
			if err1 != nil || err2 != nil || want[0].Prefix != got[0].Prefix {
				t.Fatalf("next allocation: original %v %v, loaded %v %v", want, err1, got, err2)
			}
			if _, err := e.reg.Release(ctx, registry.Target{ID: want[0].ID}, 0, nil); err != nil {
				t.Fatal(err)
			}
		})
	}

	// Bad files, each against the loaded register and an empty one.
	js := string(files[interchange.JSON])
	lines := strings.Split(js, "\n")
	lastAssignment := 0
	for i, l := range lines {
		if strings.Contains(l, `"state":"assigned"`) {
			lastAssignment = i
		}
	}
	dup := append([]string{}, lines[:lastAssignment]...)
	dup = append(dup, strings.TrimSuffix(lines[lastAssignment], ",")+",")
	dupRow := strings.Join(append(dup, lines[lastAssignment:]...), "\n")
	bad := []struct {
		name, file string
		empty      bool // loaded into an empty register
		kind       error
		says       string
	}{
		{"the same file twice: every name a conflict", js, false, registry.ErrExists, "line 5 ($.tenants[0]): tenant acme: already in the register"},
		{"a duplicated assignment row", dupRow, true, registry.ErrOverlap, "overlaps assignment"},
		{"a pool outside every block", strings.Replace(js, `"prefix":"10.0.2.0/23"`, `"prefix":"11.0.2.0/23"`, 1), true, registry.ErrInvalid, "pool 11.0.2.0/23: outside every block"},
		{"an unknown region", strings.Replace(js, `"region":"south"`, `"region":"west"`, 1), true, registry.ErrNotFound, "region west: not in the file nor in the register"},
		{"an unknown tenant", strings.Replace(js, `"tenant":"acme"`, `"tenant":"umbrella"`, 1), true, registry.ErrNotFound, "tenant umbrella: not in the file nor in the register"},
		{"a field of the wrong type", strings.Replace(js, `"borrow_unit":24`, `"borrow_unit":"24"`, 1), true, registry.ErrInvalid, "field borrow_unit: string where int is wanted"},
		{"a later version", strings.Replace(js, `"version": 4`, `"version": 5`, 1), true, registry.ErrInvalid, "version 5"},
		{"a kind this version has not", strings.Replace(js, `"tenants": [`, `"sub_pools": [], "tenants": [`, 1), true, registry.ErrInvalid, `unknown key "sub_pools"`},
		{"child pools in a version 2 file", strings.Replace(js, `"version": 4`, `"version": 2`, 1), true, registry.ErrInvalid, "child pools are in version 3 files"},
		{"a child pool outside its parent", strings.Replace(js, `"parent":"10.0.2.0/23"`, `"parent":"10.0.4.0/28"`, 1), true, registry.ErrInvalid, "is not inside its parent pool 10.0.4.0/28"},
		{"a child pool whose parent is not in the file", strings.Replace(js, `"parent":"10.0.2.0/23","region":"south"`, `"parent":"10.0.2.0/23","region":"east"`, 1), true, registry.ErrNotFound, "parent pool 10.0.2.0/23 of region east is not in the file"},
		{"a child pool of an unknown tenant", strings.Replace(js, `"tenant":"acme","purpose":"site"`, `"tenant":"umbrella","purpose":"site"`, 1), true, registry.ErrNotFound, "child pool site1: tenant umbrella"},
		{"a bad child pool name", strings.Replace(js, `{"name":"site1"`, `{"name":"Site 1"`, 1), true, registry.ErrInvalid, "child pool"},
		{"an assignment in an unknown child pool", strings.Replace(js, `"child_pool":"site1"`, `"child_pool":"site9"`, 1), true, registry.ErrNotFound, "child pool site9 is not in the file"},
		{"an assignment of the parent over a child pool", childOverlap(js), true, registry.ErrOverlap, "overlaps child pool site1"},
		{"a reservation over an assignment of the file", strings.Replace(js, `"prefix":"10.0.128.16/28"`, `"prefix":"10.0.128.64/28"`, 1), true, registry.ErrOverlap, "overlaps"},
		{"a block in an unknown space", strings.Replace(js, `"space":"vpc-a","tags"`, `"space":"vpc-z","tags"`, 1), true, registry.ErrNotFound, "space vpc-z: not in the file nor in the register"},
		{"a bad tag key", strings.Replace(js, `"team":"net ops"`, `"Team":"net ops"`, 1), true, registry.ErrInvalid, `tag key "Team"`},
		{"a built-in space listed", strings.Replace(js, `{"name":"vpc-a"`, `{"name":"private"`, 1), true, registry.ErrInvalid, "space private: built in"},
		{"a reservation that ended", regexp.MustCompile(`"until":"[^"]*"`).ReplaceAllString(js, `"until":"2001-01-01T00:00:00Z"`), true, registry.ErrInvalid, "until 2001-01-01T00:00:00Z is not in the future"},
		{"a NetBox file given as a cadastre export", `{"prefixes": [{"id": 1, "prefix": "10.0.0.0/8"}]}`, true, registry.ErrInvalid, "unknown key \"prefixes\""},
		{"a NetBox prefix of the wrong type", "netbox:" + `{"prefixes": [` + "\n" + `{"id": 1, "prefix": 10}]}`, true, registry.ErrInvalid, "line 2 ($.prefixes[0]): field prefix: number where string is wanted"},
		{"a NetBox prefix outside every block", "netbox:" + `{"prefixes": [{"id": 7, "prefix": "11.0.0.0/16", "status": {"value": "container"}, "site": {"slug": "south"}}]}`, false, registry.ErrInvalid, "id 7: pool 11.0.0.0/16: outside every block"},
		{"a CSV given to --from netbox", "netbox:" + string(files[interchange.CSV]), true, registry.ErrInvalid, "not JSON"},
		{"a phpIPAM subnet of an unknown region", "phpipam:Section,Subnet\nWest,10.0.8.0/24\n", false, registry.ErrNotFound, "line 2: region west"},
		// Tenants as `tenant add` takes them (issue 10): no two share names.
		{"a tenant whose suffix lies under another's of the file", strings.Replace(js, `"tenants": [`, `"tenants": [{"name":"beta","names":["shop.example.net."]},`, 1), true, registry.ErrOverlap,
			"tenant acme: name suffix example.net. contains the suffix shop.example.net. of tenant beta (names under both would belong to two tenants"},
		{"a tenant whose suffix another of the file contains", strings.Replace(js, `"tenants": [`, `"tenants": [{"name":"beta","names":["net."]},`, 1), true, registry.ErrOverlap,
			"tenant acme: name suffix example.net. lies under the suffix net. of tenant beta"},
		{"two tenants of every name, as the upgrade made them", strings.Replace(strings.Replace(js, `"names":["example.net."]`, `"names":["."]`, 1), `"tenants": [`, `"tenants": [{"name":"beta","names":["."]},`, 1), true, registry.ErrOverlap,
			"tenant acme: name suffix . equals the suffix . of tenant beta"},
		{"a tenant whose suffix equals one of a tenant in the register", strings.Replace(js, `{"name":"acme",`, `{"name":"acme2",`, 1), false, registry.ErrOverlap,
			"tenant acme2: name suffix example.net. equals the suffix example.net. of tenant acme"},
	}
	for _, c := range bad {
		t.Run("refused, register unchanged: "+c.name, func(t *testing.T) {
			env := e
			if c.empty {
				env = newModelEnv(t, open)
				env.clock.now = e.clock.Now()
			}
			before := snapshot(t, ctx, env.store, env.clock.Now())
			beforeFile := export(env.reg, interchange.JSON)
			var d registry.Dump
			var err error
			switch {
			case strings.HasPrefix(c.file, "netbox:"):
				d, _, err = interchange.ReadNetBox([]byte(strings.TrimPrefix(c.file, "netbox:")), interchange.ForeignOptions{})
			case strings.HasPrefix(c.file, "phpipam:"):
				d, _, err = interchange.ReadPHPIPAM([]byte(strings.TrimPrefix(c.file, "phpipam:")), interchange.ForeignOptions{})
			default:
				// A chunk of one assignment: overlaps across chunks are
				// the store's to find, and still name their line.
				_, err = streamLoad(ctx, env.reg, []byte(c.file), 1, registry.LoadOptions{})
			}
			if err == nil && d.Format != "" {
				_, err = env.reg.Load(ctx, d, registry.LoadOptions{})
			}
			if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "line ") {
				t.Fatalf("error %v, want %v saying %q and its line", err, c.kind, c.says)
			}
			if after := snapshot(t, ctx, env.store, env.clock.Now()); after != before {
				t.Fatalf("register changed:\n%s\n----\n%s", before, after)
			}
			if !bytes.Equal(beforeFile, export(env.reg, interchange.JSON)) {
				t.Fatal("export changed")
			}
		})
	}

	t.Run("overlapping tenants load flagged with KeepSuffixOverlaps", func(t *testing.T) {
		env := newModelEnv(t, open)
		env.clock.now = e.clock.Now()
		file := strings.Replace(js, `"tenants": [`, `"tenants": [{"name":"beta","names":["shop.example.net."]},`, 1)
		if _, err := streamLoad(ctx, env.reg, []byte(file), 2, registry.LoadOptions{KeepSuffixOverlaps: true}); err != nil {
			t.Fatalf("load with KeepSuffixOverlaps: %v", err)
		}
		pairs, err := env.reg.SuffixOverlaps(ctx, 0)
		if err != nil || fmt.Sprint(pairs) != "[[acme beta]]" {
			t.Fatalf("overlaps after the load: %v, %v; want [[acme beta]] flagged", pairs, err)
		}
	})

	t.Run("a version 2 file (no child pools) still loads", func(t *testing.T) {
		d, err := interchange.Read(files[interchange.JSON])
		if err != nil {
			t.Fatal(err)
		}
		d.Version, d.ChildPools = 2, nil
		var kept []registry.AssignmentRecord
		for _, a := range d.Assignments {
			if a.ChildPool == "" {
				kept = append(kept, a)
			}
		}
		d.Assignments = kept
		for i, v := range d.Assignments {
			if v.Tenant == "acme" {
				d.Assignments[i].Tenant = "" // acme's child pool use is gone with it
			}
		}
		var b bytes.Buffer
		if err := interchange.Write(&b, d, interchange.JSON); err != nil {
			t.Fatal(err)
		}
		d2, err := interchange.Read(b.Bytes())
		if err != nil {
			t.Fatalf("read a version 2 file: %v", err)
		}
		env := newModelEnv(t, open)
		env.clock.now = e.clock.Now()
		if _, err := env.reg.Load(ctx, d2, registry.LoadOptions{}); err != nil {
			t.Fatalf("load a version 2 file: %v", err)
		}
		CheckInvariants(t, ctx, env.store, env.reg, env.clock.Now())
	})

	t.Run("a dry run checks everything and writes nothing", func(t *testing.T) {
		env := newModelEnv(t, open)
		env.clock.now = e.clock.Now()
		d, err := interchange.Read(files[interchange.JSON])
		if err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, ctx, env.store, env.clock.Now())
		rep, err := env.reg.Load(ctx, d, registry.LoadOptions{DryRun: true})
		if err != nil || !rep.DryRun || rep.Assignments != len(d.Assignments) {
			t.Fatalf("dry run: %+v %v", rep, err)
		}
		if after := snapshot(t, ctx, env.store, env.clock.Now()); after != before {
			t.Fatal("a dry run changed the register")
		}
	})
}

// spaced adds to e what issue 12 brought: a named space with a private
// block that overlaps the private space's, a policy pool in it, tags on a
// region, a block, a pool and an assignment, and two reservations, one
// with an end.
func spaced(t *testing.T, e *modelEnv) {
	t.Helper()
	ctx := e.ctx
	if _, err := e.reg.AddSpace(ctx, registry.Space{Name: "vpc-a", Note: "first VPC"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.AddBlock(ctx, registry.Block{Prefix: mp("10.0.0.0/16"), Source: registry.SourcePrivate, Space: "vpc-a", Tags: registry.Tags{"env": "lab"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.AddPool(ctx, registry.PoolSpec{Prefix: mp("10.0.128.0/24"), Region: "south", Space: "vpc-a", Tags: registry.Tags{"team": "net ops"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.PatchRegion(ctx, "south", "", registry.RegionPatch{TagPatch: registry.TagPatch{Set: registry.Tags{"continent": "na"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Reserve(ctx, registry.ReservationSpec{Prefix: mp("10.0.128.0/28"), Reason: "gateways"}); err != nil {
		t.Fatal(err)
	}
	until := e.clock.Now().Add(48 * time.Hour)
	if _, err := e.reg.Reserve(ctx, registry.ReservationSpec{Prefix: mp("10.0.128.16/28"), Reason: "not yet", Until: &until}); err != nil {
		t.Fatal(err)
	}
	as, err := e.reg.Allocate(ctx, registry.Request{Prefix: mp("10.0.128.64/30"), Resource: "router"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.PatchAssignment(ctx, as[0].ID, "", nil, registry.AssignmentPatch{TagPatch: registry.TagPatch{Set: registry.Tags{"role": "edge", "rack": "r1 b"}}}); err != nil {
		t.Fatal(err)
	}
	// vpc-b holds the same block, a pool of the same prefix in the same
	// region, and the same reservation and assignment in it: records told
	// apart by their space alone.
	if _, err := e.reg.AddSpace(ctx, registry.Space{Name: "vpc-b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.AddBlock(ctx, registry.Block{Prefix: mp("10.0.0.0/16"), Source: registry.SourcePrivate, Space: "vpc-b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.AddPool(ctx, registry.PoolSpec{Prefix: mp("10.0.128.0/24"), Region: "south", Space: "vpc-b", UseAll: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Reserve(ctx, registry.ReservationSpec{Prefix: mp("10.0.128.0/28"), Reason: "gateways", Space: "vpc-b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Allocate(ctx, registry.Request{Prefix: mp("10.0.128.64/30"), Resource: "router", Space: "vpc-b"}); err != nil {
		t.Fatal(err)
	}
}

// childPooled adds child pools (issue 12, hierarchy) to e: site1, an
// IPv4 /27 of south for acme, carved with a key and tags, with children
// (tagged at allocation, one quarantined) and a reservation inside it; and
// gone, a child pool that held a child and was dissolved (its released
// child is then its parent's).
func childPooled(t *testing.T, e *modelEnv) {
	t.Helper()
	ctx := e.ctx
	site, err := e.reg.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site1", Region: "south", Family: 4, Bits: 27, Purpose: "site", Tenant: "acme",
		Tags: registry.Tags{"site": "fra 1"}, Key: "carve-site1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Reserve(ctx, registry.ReservationSpec{Prefix: netip.PrefixFrom(addrAt(site.Prefix.Addr(), 16), 28), Reason: "site gateways"}); err != nil {
		t.Fatal(err)
	}
	kids, err := e.reg.Allocate(ctx, registry.Request{Pool: "site1", Family: 4, Bits: 30, Count: 3, Tenant: "acme", Tags: registry.Tags{"env": "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Release(ctx, registry.Target{ID: kids[0].ID}, 24*time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.AllocatePool(ctx, registry.ChildPoolSpec{Name: "gone", Region: "south", Family: 4, Bits: 28}); err != nil {
		t.Fatal(err)
	}
	k, err := e.reg.Allocate(ctx, registry.Request{Pool: "gone", Family: 4, Resource: "short-lived"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Release(ctx, registry.Target{ID: k[0].ID}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.ReleasePool(ctx, "gone", nil); err != nil {
		t.Fatal(err)
	}
}

// childOverlap moves the file's first child of site1 (10.0.2.32/27) into
// site1's parent pool, where the child pool already holds its space.
func childOverlap(js string) string {
	return strings.Replace(js, `"pool":"10.0.2.32/27","region":"south","child_pool":"site1"`, `"pool":"10.0.2.0/23","region":"south"`, 1)
}

// freeByPool prints every pool's free space, by the pool's prefix.
func freeByPool(t *testing.T, e *modelEnv) string {
	t.Helper()
	var out strings.Builder
	err := e.store.View(e.ctx, func(tx registry.Tx) error {
		pools, err := tx.Pools(e.ctx, registry.PoolFilter{})
		if err != nil {
			return err
		}
		for _, p := range pools {
			if p.DissolvedAt != nil {
				continue // no space of its own (and not in a dump)
			}
			free, err := tx.FreeOfPool(e.ctx, p.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(&out, "%s %s use_all=%v: %v\n", p.Region, p.Prefix, p.UseAll, free)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TransferNetBox: a NetBox export with a VRF, reserved space and tags
// loads as a space (with its copy of the private aggregate), reservations
// and tags, and the reserved space is never handed out.
func TransferNetBox(t *testing.T, open Open) {
	e := newModelEnv(t, open)
	e.standard(26, false)
	ctx := e.ctx
	file := `{"aggregates": [
  {"id": 1, "prefix": "40.64.0.0/16", "rir": {"name": "ARIN", "slug": "arin"}, "tags": [{"name": "Core", "slug": "core"}]},
  {"id": 2, "prefix": "172.16.0.0/12", "rir": {"name": "RFC 1918", "slug": "rfc-1918", "is_private": true}}
],
"prefixes": [
  {"id": 10, "prefix": "40.64.0.0/24", "status": {"value": "container"}, "site": {"slug": "south"}},
  {"id": 11, "prefix": "40.64.0.0/28", "status": {"value": "reserved"}, "description": "routers"},
  {"id": 12, "prefix": "172.16.0.0/24", "vrf": {"id": 1, "name": "blue"}, "status": {"value": "container"}, "site": {"slug": "south"}},
  {"id": 13, "prefix": "172.16.0.0/24", "vrf": {"id": 2, "name": "red"}, "status": {"value": "container"}, "site": {"slug": "east"}}
],
"ip-addresses": [
  {"id": 20, "address": "172.16.0.5/24", "vrf": {"id": 1, "name": "blue"}, "status": {"value": "reserved"}},
  {"id": 21, "address": "172.16.0.6/24", "vrf": {"id": 1, "name": "blue"}, "status": {"value": "active"}, "tags": [{"name": "Gold", "slug": "gold"}]}
]}`
	d, un, err := interchange.ReadNetBox([]byte(file), interchange.ForeignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Pools overlap across spaces (VRFs) as blocks do: blue's and red's
	// 172.16.0.0/24 both load.
	rep, err := e.reg.Load(ctx, d, registry.LoadOptions{})
	if err != nil || rep.Spaces != 2 || rep.Pools != 3 || rep.Reservations != 2 || rep.Blocks != 4 {
		t.Fatalf("load: %+v %v (unmapped %v)", rep, err, un)
	}
	bs, err := e.reg.BlocksWhere(ctx, "blue", nil)
	if err != nil || len(bs) != 1 || bs[0].Prefix != mp("172.16.0.0/12") {
		t.Fatalf("blocks of blue: %+v %v", bs, err)
	}
	as, err := e.reg.Assignments(ctx, registry.AssignmentFilter{Tags: registry.Tags{"gold": ""}})
	if err != nil || len(as) != 1 || as[0].Prefix != mp("172.16.0.6/32") {
		t.Fatalf("tagged gold: %+v %v", as, err)
	}
	space := map[string]string{"172.16.0.5/32": "blue"}
	for _, p := range []string{"40.64.0.1/32", "172.16.0.5/32"} {
		if _, err := e.reg.Allocate(ctx, registry.Request{Prefix: mp(p), Space: space[p]}); !errors.Is(err, registry.ErrOverlap) || !strings.Contains(err.Error(), "reserved") {
			t.Fatalf("%s: %v", p, err)
		}
	}
}

// streamLoad loads file as import does: read and loaded chunk assignments
// at a time.
func streamLoad(ctx context.Context, reg *registry.Registry, file []byte, chunk int, opt registry.LoadOptions) (registry.LoadReport, error) {
	rd, err := interchange.NewReader(bytes.NewReader(file), chunk)
	if err != nil {
		return registry.LoadReport{}, err
	}
	defer rd.Close()
	return reg.LoadFrom(ctx, rd.Head(), rd, opt)
}

// importBatches checks the events a load of n assignments read chunk at
// a time wrote for them: one ActionImportBatch event per chunk (none per
// assignment, issue 16), which together name every assignment loaded
// once, each with the load's source.
func importBatches(t *testing.T, e *modelEnv, n, chunk int, source string) {
	t.Helper()
	// Every event, whatever the log's position (on PostgreSQL, another
	// session's open transaction holds it back).
	var es []registry.Event
	err := e.store.View(e.ctx, func(tx registry.Tx) (err error) {
		es, err = tx.Events(e.ctx, registry.EventFilter{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	as, err := e.reg.Assignments(e.ctx, registry.AssignmentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int64]bool{}
	for _, a := range as {
		ids[a.ID] = true
	}
	batches, count := 0, 0
	for _, ev := range es {
		if ev.SubjectKind == "assignment" {
			t.Fatalf("event %d %s %s %s: a load writes no event per assignment", ev.Seq, ev.Action, ev.SubjectKind, ev.Subject)
		}
		if ev.Action != registry.ActionImportBatch {
			continue
		}
		var b registry.ImportBatch
		if err := json.Unmarshal(ev.After, &b); err != nil {
			t.Fatalf("event %d: %v: %s", ev.Seq, err, ev.After)
		}
		if ev.SubjectKind != registry.SubjectImport || ev.SubjectID != b.FirstID || b.Source != source || b.Count < 1 || b.Count > chunk ||
			b.Assigned+b.Quarantined+b.Released != b.Count || b.LastID-b.FirstID+1 != int64(b.Count) {
			t.Fatalf("event %d %s %s %q: %s", ev.Seq, ev.Action, ev.SubjectKind, ev.Subject, ev.After)
		}
		for id := b.FirstID; id <= b.LastID; id++ {
			if !ids[id] {
				t.Fatalf("event %d names assignment %d: not loaded, or named twice", ev.Seq, id)
			}
			delete(ids, id)
		}
		batches++
		count += b.Count
	}
	if want := (n + chunk - 1) / chunk; batches != want || count != n || len(ids) != 0 {
		t.Fatalf("%d import events of %d assignments (%d not named), want %d of %d", batches, count, len(ids), want, n)
	}
}
