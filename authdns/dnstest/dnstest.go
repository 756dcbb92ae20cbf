// Package dnstest is the conformance suite of zone.Store: every store
// that keeps DNS zones, records and keys runs it, so both behave alike.
package dnstest

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Store is what the suite needs: the DNS store and the register's event log.
type Store interface {
	zone.Store
	registry.Store
}

// Run runs the suite against stores made by open, one per test.
func Run(t *testing.T, open func(t *testing.T) Store) {
	ctx := registry.WithActor(context.Background(), "test")
	key := make([]byte, zone.SealKeySize)
	sealer, err := zone.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	su := suite{ctx: ctx, open: open, sealer: sealer, clock: clock}
	for _, c := range []struct {
		name  string
		check func(*testing.T, suite)
	}{
		{"every zone, record and key change writes one event", eventPerChange},
		{"zones, records and keys read back as written", readBack},
		{"key rollover timestamps read back, and a key moves only from the state it was in", keyTimestamps},
		{"the zones of a reverse prefix are added, read back and removed together, all or none", reversePrefixZones},
		{"duplicates are refused, a zone below another is a child", duplicatesRefused},
		{"the serial moves only by compare and set", serialCompareAndSet},
		{"journal steps are written with the serial, read from a serial on, and pruned", journalSteps},
		{"a lease has one holder until it expires", leaseHolder},
		{"records inserted together are stored all or none, one event each", insertRecordsAllOrNone},
		{"records changed together (an UPDATE) are deleted and inserted all or none, one event each", changeRecordsAllOrNone},
		{"a TSIG key's update grants read back as written", tsigGrantsReadBack},
		{"a cut (zone split, join) moves zones, keys and records all or none", moveCutAllOrNone},
		{"the live names at and below a zone are counted in the store", namesCounted},
	} {
		t.Run(c.name, func(t *testing.T) { c.check(t, su) })
	}
}

// suite is what every check shares: the actor's context, a fresh store per
// test, the sealing key and a fixed clock.
type suite struct {
	ctx    context.Context
	open   func(t *testing.T) Store
	sealer *zone.Sealer
	clock  func() time.Time
}

// start opens a store and a manager over it.
func (su suite) start(t *testing.T) (Store, *manage.Manager) {
	s := su.open(t)
	// The server identity names a name server outside every zone of the
	// suite, as a Manager refuses in-zone ones without an address.
	return s, manage.NewManager(s, su.sealer, su.clock).WithNameServers([]manage.Glue{{Host: suiteNS}})
}

// suiteNS is the name server of the suite's zones.
const suiteNS = "ns1.example.net."

// events lists s's event log.
func (su suite) events(t *testing.T, s Store) []registry.Event {
	ctx := su.ctx
	var out []registry.Event
	if err := s.View(ctx, func(tx registry.Tx) error {
		var err error
		out, err = tx.Events(ctx, registry.EventFilter{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// eventPerChange: every zone, record and key change writes one event.
func eventPerChange(t *testing.T, su suite) {
	ctx, events := su.ctx, su.events
	s, m := su.start(t)
	z, err := m.AddZone(ctx, manage.ZoneSpec{Name: "Example.TEST"})
	if err != nil {
		t.Fatal(err)
	}
	if z.Name != "example.test." || z.ID == 0 || z.Config.NS[0] != suiteNS {
		t.Fatalf("zone = %+v", z)
	}
	if _, err := m.AddRecord(ctx, "example.test", "www", "A", "192.0.2.1", 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Sign(ctx, "example.test", manage.SignOptions{}); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events(t, s) {
		actions = append(actions, e.Action+" "+e.SubjectKind)
		if e.Actor != "test" || e.SubjectID == 0 {
			t.Errorf("event %+v: want actor test and a subject ID", e)
		}
	}
	want := []string{"zone.add dns_zone", "record.add dns_record", "key.add dns_key", "zone.update dns_zone"}
	if len(actions) != len(want) {
		t.Fatalf("events %v, want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("events %v, want %v", actions, want)
		}
	}
}

// readBack: zones, records and keys read back as written.
func readBack(t *testing.T, su suite) {
	ctx := su.ctx
	s, m := su.start(t)
	if _, err := registry.New(s).AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("fd00:db8::/32"), Source: registry.SourcePrivate}); err != nil {
		t.Fatal(err)
	}
	rz, err := m.AddZone(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix("fd00:db8:1::/48"), Synthesize: "ip-{addr}.dyn.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if rz.Name != "1.0.0.0.8.b.d.0.0.0.d.f.ip6.arpa." {
		t.Fatalf("reverse zone name %s", rz.Name)
	}
	if _, _, err := m.Sign(ctx, rz.Name, manage.SignOptions{Algorithm: zone.Ed25519, SplitKeys: true, Denial: zone.Compact}); err != nil {
		t.Fatal(err)
	}
	zs, err := s.Zones(ctx)
	if err != nil || len(zs) != 1 {
		t.Fatalf("zones %v %v", zs, err)
	}
	got := zs[0]
	if got.Prefix != rz.Prefix || got.Synthesize != "ip-{addr}.dyn.example.test." || !got.Config.Signed || got.Config.Denial != zone.Compact || got.Config.Algorithm != zone.Ed25519 || !got.Config.SplitKeys {
		t.Fatalf("zone read back %+v", got)
	}
	keys, err := s.Keys(ctx, rz.ID)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v %v", keys, err)
	}
	if keys[0].Tag == keys[1].Tag || keys[0].Role == keys[1].Role || len(keys[0].Sealed) < 40 || keys[0].State != zone.KeyActive {
		t.Fatalf("keys %+v", keys)
	}
	if _, err := m.AddRecord(ctx, rz.Name, "@", "TXT", `"hello world"`, 60); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Records(ctx, 0)
	if err != nil || len(rs) != 1 || rs[0].TTL != 60 || rs[0].Data != `"hello world"` || rs[0].Name != rz.Name {
		t.Fatalf("records %+v %v", rs, err)
	}
	if err := m.DeleteRecord(ctx, rs[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteRecord(ctx, rs[0].ID); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("second delete: %v, want not found", err)
	}
}

// keyTimestamps: key rollover timestamps read back, and a key moves only from the state it was in.
func keyTimestamps(t *testing.T, su suite) {
	ctx, clock := su.ctx, su.clock
	s, m := su.start(t)
	z, err := m.AddZone(ctx, manage.ZoneSpec{Name: "roll.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Sign(ctx, z.Name, manage.SignOptions{SplitKeys: true}); err != nil {
		t.Fatal(err)
	}
	succ, err := m.Roll(ctx, z.Name, false)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := s.Keys(ctx, z.ID)
	if err != nil || len(keys) != 3 {
		t.Fatalf("keys %+v %v", keys, err)
	}
	k := keys[2]
	if k.ID != succ.ID || k.State != zone.KeyPublished || !k.PublishedAt.Equal(clock()) || !k.ActiveAt.IsZero() || !k.DSAt.IsZero() {
		t.Fatalf("successor read back %+v", k)
	}
	if !keys[0].ActiveAt.Equal(clock()) || !keys[0].PublishedAt.Equal(clock()) {
		t.Fatalf("first key read back %+v", keys[0])
	}
	k.State, k.ActiveAt, k.InactiveAt = zone.KeyActive, clock().Add(time.Hour), clock().Add(2*time.Hour)
	k.RemovedAt, k.DSAt = clock().Add(3*time.Hour), clock().Add(4*time.Hour)
	if err := s.UpdateKey(ctx, k, zone.KeyPublished, registry.Event{At: clock(), Actor: "test", Action: "key.roll", SubjectKind: zone.SubjectKey, Subject: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateKey(ctx, k, zone.KeyPublished, registry.Event{At: clock(), Actor: "test", Action: "key.roll", SubjectKind: zone.SubjectKey, Subject: "x"}); !errors.Is(err, registry.ErrState) {
		t.Fatalf("update from a state the key has left: %v, want ErrState", err)
	}
	keys, _ = s.Keys(ctx, z.ID)
	got := keys[2]
	if got.State != k.State || !got.ActiveAt.Equal(k.ActiveAt) || !got.InactiveAt.Equal(k.InactiveAt) || !got.RemovedAt.Equal(k.RemovedAt) || !got.DSAt.Equal(k.DSAt) {
		t.Fatalf("updated key read back %+v, want %+v", got, k)
	}
}

// reversePrefixZones: the zones of a reverse prefix are added, read back and removed together, all or none.
func reversePrefixZones(t *testing.T, su suite) {
	ctx, clock, events := su.ctx, su.clock, su.events
	s, m := su.start(t)
	set := netip.MustParsePrefix("10.1.16.0/20")
	if _, err := m.AddZones(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: set}); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("a prefix outside every block: %v", err)
	}
	if _, err := registry.New(s).AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Source: registry.SourcePrivate}); err != nil {
		t.Fatal(err)
	}
	// One zone of the set exists already: nothing of the set is added.
	if _, err := m.AddZone(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix("10.1.31.0/24")}); err != nil {
		t.Fatal(err)
	}
	before := len(events(t, s))
	if _, err := m.AddZones(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: set}); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("overlapping set: %v", err)
	}
	if zs, _ := s.Zones(ctx); len(zs) != 1 || len(events(t, s)) != before {
		t.Fatalf("a refused set changed the store: %d zones", len(zs))
	}
	// The store itself refuses a batch with a duplicate, keeping none.
	dup := []*zone.Zone{{Name: "16.1.10.in-addr.arpa.", Kind: zone.Reverse, Prefix: netip.MustParsePrefix("10.1.16.0/24"), Set: set, Config: zone.Config{TTL: 60, NS: []string{"ns."}}},
		{Name: "31.1.10.in-addr.arpa.", Kind: zone.Reverse, Prefix: netip.MustParsePrefix("10.1.31.0/24"), Set: set, Config: zone.Config{TTL: 60, NS: []string{"ns."}}}}
	if err := s.InsertZones(ctx, dup, []registry.Event{{Action: "zone.add", SubjectKind: zone.SubjectZone, At: clock()}, {Action: "zone.add", SubjectKind: zone.SubjectZone, At: clock()}}, nil); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("InsertZones with a duplicate: %v", err)
	}
	if zs, _ := s.Zones(ctx); len(zs) != 1 || len(events(t, s)) != before {
		t.Fatalf("a failed InsertZones kept %d zones", len(zs))
	}
	if _, err := m.RemoveZones(ctx, "10.1.31.0/24"); err != nil {
		t.Fatal(err)
	}
	zs, err := m.AddZones(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: set})
	if err != nil || len(zs) != 16 {
		t.Fatalf("AddZones %v: %d zones, %v", set, len(zs), err)
	}
	got, err := m.ZonesOf(ctx, set.String())
	if err != nil || len(got) != 16 {
		t.Fatalf("ZonesOf %v: %d, %v", set, len(got), err)
	}
	for i, z := range got {
		want := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(16 + i), 0}), 24)
		if z.Set != set || z.Prefix != want || z.ID == 0 {
			t.Fatalf("zone %d read back %+v, want prefix %v in set %v", i, z, want, set)
		}
	}
	if _, _, err := m.SignZones(ctx, set.String(), manage.SignOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddRecord(ctx, "20.1.10.in-addr.arpa", "1", "PTR", "static.example.test.", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.RemoveZones(ctx, "20.1.10.in-addr.arpa"); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("removing one zone of a set: %v", err)
	}
	if err := s.DeleteZones(ctx, []int64{got[0].ID, 1 << 40}, []registry.Event{{Action: "zone.remove", At: clock()}, {Action: "zone.remove", At: clock()}}); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("DeleteZones with a missing zone: %v", err)
	}
	if zs, _ := s.Zones(ctx); len(zs) != 16 {
		t.Fatalf("a failed DeleteZones left %d zones", len(zs))
	}
	before = len(events(t, s))
	if rm, err := m.RemoveZones(ctx, set.String()); err != nil || len(rm) != 16 {
		t.Fatalf("RemoveZones %v: %d, %v", set, len(rm), err)
	}
	if zs, _ := s.Zones(ctx); len(zs) != 0 || len(events(t, s)) != before+16 {
		t.Fatalf("after removal: %d zones, %d events", len(zs), len(events(t, s))-before)
	}
	keys, err := s.Keys(ctx, 0)
	recs, err2 := s.Records(ctx, 0)
	if err != nil || err2 != nil || len(keys) != 0 || len(recs) != 0 {
		t.Fatalf("removed zones left %d keys, %d records (%v %v)", len(keys), len(recs), err, err2)
	}
}

// duplicatesRefused: duplicates are refused, a zone below another is a child.
func duplicatesRefused(t *testing.T, su suite) {
	ctx := su.ctx
	_, m := su.start(t)
	if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: "example.test."}); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("duplicate zone: %v", err)
	}
	if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: "sub.example.test"}); err != nil {
		t.Fatalf("child zone: %v", err)
	}
	if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: "SUB.example.test."}); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("duplicate child zone: %v", err)
	}
	if _, err := m.AddRecord(ctx, "example.test", "www", "A", "192.0.2.1", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddRecord(ctx, "example.test", "www.example.test.", "A", "192.0.2.1", 0); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("duplicate record: %v", err)
	}
}

// insertRecordsAllOrNone: InsertRecords (zone import) stores every record
// with its event, or, when one is refused, none of them.
func insertRecordsAllOrNone(t *testing.T, su suite) {
	ctx := su.ctx
	s, m := su.start(t)
	z, err := m.AddZone(ctx, manage.ZoneSpec{Name: "example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddRecord(ctx, "example.test", "www", "A", "192.0.2.1", 0); err != nil {
		t.Fatal(err)
	}
	rec := func(name, data string) *zone.Record {
		return &zone.Record{ZoneID: z.ID, Name: name, Type: "A", TTL: 300, Data: data, CreatedAt: su.clock()}
	}
	ev := func() registry.Event {
		return registry.Event{Action: "record.add", SubjectKind: zone.SubjectRecord, At: su.clock()}
	}
	n0 := len(su.events(t, s))
	// The second duplicates www's record: neither is stored.
	if err := s.InsertRecords(ctx, []*zone.Record{rec("a.example.test.", "192.0.2.2"), rec("www.example.test.", "192.0.2.1")}, []registry.Event{ev(), ev()}, nil); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("InsertRecords with a duplicate: %v, want ErrExists", err)
	}
	if rs, err := s.Records(ctx, z.ID); err != nil || len(rs) != 1 || len(su.events(t, s)) != n0 {
		t.Fatalf("a refused InsertRecords left %d records (%v), %d new events", len(rs), err, len(su.events(t, s))-n0)
	}
	add := []*zone.Record{rec("a.example.test.", "192.0.2.2"), rec("b.example.test.", "192.0.2.3")}
	if err := s.InsertRecords(ctx, add, []registry.Event{ev(), ev()}, nil); err != nil {
		t.Fatal(err)
	}
	if rs, err := s.Records(ctx, z.ID); err != nil || len(rs) != 3 || add[0].ID == 0 || add[1].ID == 0 || len(su.events(t, s)) != n0+2 {
		t.Fatalf("InsertRecords: %d records (%v), ids %d %d, %d new events", len(rs), err, add[0].ID, add[1].ID, len(su.events(t, s))-n0)
	}
}

// changeRecordsAllOrNone: ChangeRecords (an RFC 2136 UPDATE) deletes and
// inserts with one event per change, or, when one deletion finds its
// record gone or one insertion duplicates a record, changes nothing.
func changeRecordsAllOrNone(t *testing.T, su suite) {
	ctx := su.ctx
	s, m := su.start(t)
	z, err := m.AddZone(ctx, manage.ZoneSpec{Name: "example.test"})
	if err != nil {
		t.Fatal(err)
	}
	www, err := m.AddRecord(ctx, "example.test", "www", "A", "192.0.2.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(name, data string) *zone.Record {
		return &zone.Record{ZoneID: z.ID, Name: name, Type: "A", TTL: 300, Data: data, CreatedAt: su.clock()}
	}
	ev := func(action string) registry.Event {
		return registry.Event{Action: action, SubjectKind: zone.SubjectRecord, At: su.clock()}
	}
	n0 := len(su.events(t, s))
	unchanged := func(what string) {
		t.Helper()
		rs, err := s.Records(ctx, z.ID)
		if err != nil || len(rs) != 1 || rs[0].ID != www.ID || len(su.events(t, s)) != n0 {
			t.Fatalf("%s: left %v (%v), %d new events; want www alone, none", what, rs, err, len(su.events(t, s))-n0)
		}
	}
	if err := s.ChangeRecords(ctx, []int64{www.ID, www.ID + 1000}, []*zone.Record{rec("a.example.test.", "192.0.2.2")},
		[]registry.Event{ev("record.delete"), ev("record.delete"), ev("record.add")}, nil); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("ChangeRecords deleting a missing record: %v, want ErrNotFound", err)
	}
	unchanged("a deletion of a missing record")
	if err := s.ChangeRecords(ctx, nil, []*zone.Record{rec("a.example.test.", "192.0.2.2"), rec("www.example.test.", "192.0.2.1")},
		[]registry.Event{ev("record.add"), ev("record.add")}, nil); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("ChangeRecords inserting a duplicate: %v, want ErrExists", err)
	}
	unchanged("an insertion of a duplicate")
	// Deleting and inserting the same record in one change is allowed: the
	// deletion comes first.
	add := []*zone.Record{rec("www.example.test.", "192.0.2.1"), rec("b.example.test.", "192.0.2.3")}
	if err := s.ChangeRecords(ctx, []int64{www.ID}, add, []registry.Event{ev("record.delete"), ev("record.add"), ev("record.add")}, nil); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Records(ctx, z.ID)
	if err != nil || len(rs) != 2 || add[0].ID == 0 || add[1].ID == 0 || add[0].ID == add[1].ID {
		t.Fatalf("ChangeRecords: %v (%v), ids %d %d", rs, err, add[0].ID, add[1].ID)
	}
	es := su.events(t, s)[n0:]
	if len(es) != 3 || es[0].Action != "record.delete" || es[0].SubjectID != www.ID || es[1].SubjectID != add[0].ID || es[2].SubjectID != add[1].ID {
		t.Fatalf("ChangeRecords events: %+v", es)
	}
}

// tsigGrantsReadBack: a TSIG key's grants are stored with it.
func tsigGrantsReadBack(t *testing.T, su suite) {
	ctx := su.ctx
	s, m := su.start(t)
	if _, _, err := m.AddTSIG(ctx, "acme.example.test", "hmac-sha256", nil, "_acme-challenge.example.test", "Dyn.Example.Test."); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.AddTSIG(ctx, "xfr.example.test", "hmac-sha256", nil); err != nil {
		t.Fatal(err)
	}
	ks, err := s.TSIGKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 || !slices.Equal(ks[0].Grants, []string{"_acme-challenge.example.test.", "dyn.example.test."}) || len(ks[1].Grants) != 0 {
		t.Fatalf("TSIG keys read back: %+v", ks)
	}
}

// serialCompareAndSet: the serial moves only by compare and set.
func serialCompareAndSet(t *testing.T, su suite) {
	ctx, events := su.ctx, su.events
	s, m := su.start(t)
	z, err := m.AddZone(ctx, manage.ZoneSpec{Name: "example.test"})
	if err != nil {
		t.Fatal(err)
	}
	n := len(events(t, s))
	if ok, err := s.SetZoneSerial(ctx, z.ID, 0, 7, "h1", nil); !ok || err != nil {
		t.Fatalf("first set: %v %v", ok, err)
	}
	if ok, err := s.SetZoneSerial(ctx, z.ID, 0, 8, "h2", nil); ok || err != nil {
		t.Fatalf("stale set: %v %v, want refused", ok, err)
	}
	zs, _ := s.Zones(ctx)
	if zs[0].Serial != 7 || zs[0].SerialHash != "h1" {
		t.Fatalf("serial %d %q", zs[0].Serial, zs[0].SerialHash)
	}
	if len(events(t, s)) != n {
		t.Fatal("setting the serial wrote an event")
	}
}

// journalSteps: journal steps are written with the serial, read from a serial on, and pruned.
func journalSteps(t *testing.T, su suite) {
	ctx, clock := su.ctx, su.clock
	s, m := su.start(t)
	z, err := m.AddZone(ctx, manage.ZoneSpec{Name: "example.test"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := m.AddZone(ctx, manage.ZoneSpec{Name: "other.test"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SetZoneSerial(ctx, z.ID, 0, 10, "h10", nil); !ok || err != nil {
		t.Fatalf("first serial: %v %v", ok, err)
	}
	step := func(from, to uint32, at time.Time) *zone.Diff {
		return &zone.Diff{ZoneID: z.ID, From: from, To: to, Removed: []byte{byte(from), 0, 1}, Added: []byte{byte(to), 0, 2}, At: at}
	}
	t0 := clock()
	for i, serial := range []uint32{11, 12, 13, 14} {
		ok, err := s.SetZoneSerial(ctx, z.ID, serial-1, serial, "h", step(serial-1, serial, t0.Add(time.Duration(i)*time.Hour)))
		if !ok || err != nil {
			t.Fatalf("serial %d: %v %v", serial, ok, err)
		}
	}
	// A lost compare-and-set writes no step.
	if ok, err := s.SetZoneSerial(ctx, z.ID, 13, 99, "x", step(13, 99, t0)); ok || err != nil {
		t.Fatalf("stale set: %v %v", ok, err)
	}
	if ok, err := s.SetZoneSerial(ctx, other.ID, 0, 5, "o", nil); !ok || err != nil {
		t.Fatalf("other zone: %v %v", ok, err)
	}
	if ok, err := s.SetZoneSerial(ctx, other.ID, 5, 6, "o", &zone.Diff{ZoneID: other.ID, From: 5, To: 6, Removed: []byte{1}, Added: []byte{2}, At: t0}); !ok || err != nil {
		t.Fatalf("other zone step: %v %v", ok, err)
	}
	serials := func(ds []zone.Diff) []uint32 {
		var out []uint32
		for _, d := range ds {
			out = append(out, d.From, d.To)
		}
		return out
	}
	tests := []struct {
		from uint32
		want []uint32
	}{
		{10, []uint32{10, 11, 11, 12, 12, 13, 13, 14}},
		{12, []uint32{12, 13, 13, 14}},
		{14, nil}, // the current serial: nothing starts there
		{9, nil},  // never a serial
		{5, nil},  // another zone's
	}
	for _, tc := range tests {
		ds, err := s.Journal(ctx, z.ID, tc.from)
		if err != nil {
			t.Fatal(err)
		}
		if got := serials(ds); !slices.Equal(got, tc.want) {
			t.Errorf("journal from %d: %v, want %v", tc.from, got, tc.want)
		}
	}
	ds, _ := s.Journal(ctx, z.ID, 13)
	if len(ds) != 1 || !bytes.Equal(ds[0].Removed, []byte{13, 0, 1}) || !bytes.Equal(ds[0].Added, []byte{14, 0, 2}) || !ds[0].At.Equal(t0.Add(3*time.Hour)) || ds[0].ZoneID != z.ID {
		t.Fatalf("step 13 -> 14 read back %+v", ds)
	}
	// Depth: keep the newest 3; age: nothing before t0+2h.
	if err := s.PruneJournal(ctx, z.ID, 3, t0); err != nil {
		t.Fatal(err)
	}
	if ds, _ := s.Journal(ctx, z.ID, 10); len(ds) != 0 {
		t.Fatalf("after keeping 3, the step from 10 is still there: %v", serials(ds))
	}
	if ds, _ := s.Journal(ctx, z.ID, 11); len(ds) != 3 {
		t.Fatalf("after keeping 3: %v", serials(ds))
	}
	if err := s.PruneJournal(ctx, z.ID, 100, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ds, _ := s.Journal(ctx, z.ID, 12); !slices.Equal(serials(ds), []uint32{12, 13, 13, 14}) {
		t.Fatalf("after dropping steps before t0+2h: %v", serials(ds))
	}
	if ds, _ := s.Journal(ctx, other.ID, 5); len(ds) != 1 {
		t.Fatalf("pruning one zone touched another: %v", serials(ds))
	}

	// A large step is kept in parts that a transfer reads a window at a
	// time (zone.IXFR): each at most 512 KiB, the removed records' parts
	// first, which together are the step's bytes.
	big := &zone.Diff{ZoneID: other.ID, From: 6, To: 7, Removed: make([]byte, 1<<20+3), Added: make([]byte, 700<<10), At: t0}
	for i := range big.Removed {
		big.Removed[i] = byte(i % 251)
	}
	for i := range big.Added {
		big.Added[i] = byte(i % 241)
	}
	if ok, err := s.SetZoneSerial(ctx, other.ID, 6, 7, "o7", big); !ok || err != nil {
		t.Fatalf("large step: %v %v", ok, err)
	}
	steps, err := s.JournalSteps(ctx, other.ID, 6)
	if err != nil || len(steps) != 1 || steps[0].From != 6 || steps[0].To != 7 || steps[0].RemovedParts < 3 || steps[0].AddedParts < 2 {
		t.Fatalf("large step listed as %+v, %v; want one step 6 -> 7 in parts of at most 512 KiB", steps, err)
	}
	st := steps[0]
	var rem, add []byte
	for p := 0; p < st.RemovedParts+st.AddedParts; p += 2 { // a window of two parts
		parts, err := s.JournalParts(ctx, st.ID, p, min(p+2, st.RemovedParts+st.AddedParts))
		if err != nil {
			t.Fatalf("parts from %d: %v", p, err)
		}
		for i, b := range parts {
			if len(b) > 512<<10 {
				t.Errorf("part %d: %d bytes, want at most 512 KiB", p+i, len(b))
			}
			if p+i < st.RemovedParts {
				rem = append(rem, b...)
			} else {
				add = append(add, b...)
			}
		}
	}
	if !bytes.Equal(rem, big.Removed) || !bytes.Equal(add, big.Added) {
		t.Fatalf("large step's parts read back as %d removed and %d added bytes, not the step's %d and %d", len(rem), len(add), len(big.Removed), len(big.Added))
	}
	if ds, err := s.Journal(ctx, other.ID, 6); err != nil || len(ds) != 1 || !bytes.Equal(ds[0].Removed, big.Removed) || !bytes.Equal(ds[0].Added, big.Added) {
		t.Fatalf("large step read whole: %v, %v", serials(ds), err)
	}
	if steps, err := s.JournalSteps(ctx, z.ID, 12); err != nil || !slices.Equal(serials(diffsOf(steps)), []uint32{12, 13, 13, 14}) {
		t.Fatalf("journal steps from 12: %+v, %v", steps, err)
	}
	// Pruned, its parts go with it: a transfer reading them learns so.
	if err := s.PruneJournal(ctx, other.ID, 1, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JournalParts(ctx, st.ID, 0, 1); err != nil {
		t.Fatalf("the newest step pruned: %v", err)
	}
	if err := s.PruneJournal(ctx, other.ID, 0, t0); err != nil {
		t.Fatal(err)
	}
	if parts, err := s.JournalParts(ctx, st.ID, 0, 2); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("parts of a pruned step: %d, %v; want registry.ErrNotFound", len(parts), err)
	}
}

// diffsOf is steps as Diffs without records, for comparing serials.
func diffsOf(steps []zone.Step) []zone.Diff {
	var out []zone.Diff
	for _, st := range steps {
		out = append(out, zone.Diff{From: st.From, To: st.To})
	}
	return out
}

// leaseHolder: a lease has one holder until it expires.
func leaseHolder(t *testing.T, su suite) {
	ctx, open, clock := su.ctx, su.open, su.clock
	s := open(t)
	t0 := clock()
	steps := []struct {
		holder string
		now    time.Duration
		want   bool
	}{
		{"a", 0, true},                 // free
		{"b", time.Second, false},      // a holds it until t0+10s
		{"a", 5 * time.Second, true},   // a renews: until t0+15s
		{"b", 12 * time.Second, false}, // still a's
		{"b", 16 * time.Second, true},  // a's time ran out
		{"a", 17 * time.Second, false}, // now b's
	}
	for i, st := range steps {
		now := t0.Add(st.now)
		ok, err := s.AcquireLease(ctx, "dns-roll", st.holder, now, now.Add(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if ok != st.want {
			t.Fatalf("step %d: %s at t0+%v got %v, want %v", i, st.holder, st.now, ok, st.want)
		}
	}
	if ok, _ := s.AcquireLease(ctx, "other", "a", t0, t0.Add(time.Second)); !ok {
		t.Fatal("leases of different names are independent")
	}
}

// moveCutAllOrNone: MoveCut deletes, removes and adds in one
// transaction with one event per change, setting the new IDs; when one
// part fails (a zone added under a name that exists) nothing is written.
func moveCutAllOrNone(t *testing.T, su suite) {
	ctx := su.ctx
	s, m := su.start(t)
	p, err := m.AddZone(ctx, manage.ZoneSpec{Name: "example.test"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.AddRecord(ctx, "example.test", "www.kid", "A", "192.0.2.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(action string) registry.Event {
		return registry.Event{Action: action, SubjectKind: zone.SubjectRecord, At: su.clock()}
	}
	cut := func(name string) *zone.Cut {
		moved := r
		moved.ID = 0
		return &zone.Cut{
			DeleteRecords: []int64{r.ID}, DeleteEvents: []registry.Event{ev("record.delete")},
			Add: []zone.CutZone{{
				Zone:      &zone.Zone{Name: name, Kind: zone.Forward, Config: zone.Config{TTL: 300, NS: []string{suiteNS}}, CreatedAt: su.clock()},
				Event:     registry.Event{Action: "zone.add", SubjectKind: zone.SubjectZone, At: su.clock()},
				Keys:      []*zone.Key{{Role: zone.CSK, Algorithm: zone.ECDSAP256, Tag: 7, Public: "AA==", Sealed: []byte{1}, State: zone.KeyActive, CreatedAt: su.clock()}},
				KeyEvents: []registry.Event{{Action: "key.add", SubjectKind: zone.SubjectKey, At: su.clock()}},
				Records:   []*zone.Record{&moved}, RecordEvents: []registry.Event{ev("record.add")},
			}},
			AddRecords: []*zone.Record{{ZoneID: p.ID, Name: "kid.example.test.", Type: "NS", TTL: 300, Data: suiteNS, CreatedAt: su.clock()}},
			AddEvents:  []registry.Event{ev("record.add")},
		}
	}
	n0 := len(su.events(t, s))
	if err := s.MoveCut(ctx, cut("example.test."), nil); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("a cut adding a zone that exists: %v, want ErrExists", err)
	}
	if rs, _ := s.Records(ctx, p.ID); len(rs) != 1 || len(su.events(t, s)) != n0 {
		t.Fatalf("a refused cut left %d records of the parent (want 1) and %d new events", len(rs), len(su.events(t, s))-n0)
	}
	c := cut("kid.example.test.")
	if err := s.MoveCut(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	kid := c.Add[0].Zone
	if kid.ID == 0 || c.Add[0].Keys[0].ID == 0 || c.Add[0].Keys[0].ZoneID != kid.ID || c.Add[0].Records[0].ZoneID != kid.ID || c.AddRecords[0].ID == 0 {
		t.Fatalf("IDs not set: zone %d, key %d (zone %d), record's zone %d, NS %d", kid.ID, c.Add[0].Keys[0].ID, c.Add[0].Keys[0].ZoneID, c.Add[0].Records[0].ZoneID, c.AddRecords[0].ID)
	}
	prs, _ := s.Records(ctx, p.ID)
	krs, _ := s.Records(ctx, kid.ID)
	ks, _ := s.Keys(ctx, kid.ID)
	if len(prs) != 1 || prs[0].Type != "NS" || len(krs) != 1 || krs[0].Name != "www.kid.example.test." || len(ks) != 1 || len(su.events(t, s)) != n0+5 {
		t.Fatalf("after the cut: parent %v, child %v, %d keys, %d new events (want 5)", prs, krs, len(ks), len(su.events(t, s))-n0)
	}
	back := &zone.Cut{
		DeleteRecords: []int64{prs[0].ID}, DeleteEvents: []registry.Event{ev("record.delete")},
		RemoveZones: []int64{kid.ID}, RemoveEvents: []registry.Event{{Action: "zone.remove", SubjectKind: zone.SubjectZone, At: su.clock()}},
	}
	if err := s.MoveCut(ctx, back, nil); err != nil {
		t.Fatal(err)
	}
	zs, _ := s.Zones(ctx)
	prs, _ = s.Records(ctx, p.ID)
	if len(zs) != 1 || len(prs) != 0 {
		t.Fatalf("after the join: %d zones, parent records %v", len(zs), prs)
	}
}

// namesCounted: registry.NameCounter counts the assigned names at and
// below a zone, with or without a trailing dot, in the spaces
// asked: not a released one, not one that only ends in the zone's text,
// and a LIKE wildcard in the zone's name is a plain character.
func namesCounted(t *testing.T, su suite) {
	ctx := su.ctx
	s, _ := su.start(t)
	reg := registry.New(s)
	if _, err := reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Source: registry.SourcePrivate}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("10.1.2.0/24"), Region: "us-east"}); err != nil {
		t.Fatal(err)
	}
	var gone netip.Prefix
	for _, n := range []string{"a.us-east.example.test", "b.us-east.example.test.", "us-east.example.test", "c.d.us-east.example.test", "x.us-eastx.example.test", "us-east.example.test.evil", "released.us-east.example.test"} {
		as, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 4, Name: n})
		if err != nil {
			t.Fatalf("allocate %s: %v", n, err)
		}
		if strings.HasPrefix(n, "released") {
			gone = as[0].Prefix
		}
	}
	if _, err := reg.Release(ctx, registry.Target{Prefix: gone}, 0, nil); err != nil {
		t.Fatal(err)
	}
	count := func(zoneName string, spaces ...string) int {
		var n int
		if err := s.View(ctx, func(tx registry.Tx) error {
			nc, ok := tx.(registry.NameCounter)
			if !ok {
				t.Fatal("the store's transaction is no registry.NameCounter")
			}
			var err error
			n, err = nc.NamesAt(ctx, zoneName, spaces)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct {
		zone   string
		spaces []string
		want   int
	}{
		{"us-east.example.test.", []string{"", registry.GlobalSpace, registry.PrivateSpace}, 4},
		{"d.us-east.example.test.", []string{registry.PrivateSpace}, 1},
		{"us_east.example.test.", []string{"", registry.GlobalSpace, registry.PrivateSpace}, 0},
		{"us-east.example.test.", []string{"vpc-a"}, 0},
		{"example.test.", []string{registry.GlobalSpace, registry.PrivateSpace}, 5},
	} {
		if got := count(c.zone, c.spaces...); got != c.want {
			t.Errorf("names at and below %s in %v: %d, want %d", c.zone, c.spaces, got, c.want)
		}
	}
}
