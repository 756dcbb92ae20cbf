// Package dnstest is the conformance suite of authdns.Store: every store
// that keeps DNS zones, records and keys runs it, so both behave alike.
package dnstest

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	authdns "github.com/cadastre-ipam/cadastre/dns"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Store is what the suite needs: the DNS store and the register's event log.
type Store interface {
	authdns.Store
	registry.Store
}

// Run runs the suite against stores made by open, one per test.
func Run(t *testing.T, open func(t *testing.T) Store) {
	ctx := registry.WithActor(context.Background(), "test")
	key := make([]byte, authdns.SealKeySize)
	sealer, err := authdns.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	events := func(t *testing.T, s Store) []registry.Event {
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

	t.Run("every zone, record and key change writes one event", func(t *testing.T) {
		s := open(t)
		m := authdns.NewManager(s, sealer, clock)
		z, err := m.AddZone(ctx, authdns.ZoneSpec{Name: "Example.TEST"})
		if err != nil {
			t.Fatal(err)
		}
		if z.Name != "example.test." || z.ID == 0 || z.Config.NS[0] != "ns1.example.test." {
			t.Fatalf("zone = %+v", z)
		}
		if _, err := m.AddRecord(ctx, "example.test", "www", "A", "192.0.2.1", 0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Sign(ctx, "example.test", authdns.SignOptions{}); err != nil {
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
	})

	t.Run("zones, records and keys read back as written", func(t *testing.T) {
		s := open(t)
		m := authdns.NewManager(s, sealer, clock)
		rz, err := m.AddZone(ctx, authdns.ZoneSpec{Kind: authdns.Reverse, Prefix: netip.MustParsePrefix("2001:db8:1::/48"), Synthesize: "ip-{addr}.dyn.example.test"})
		if err != nil {
			t.Fatal(err)
		}
		if rz.Name != "1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa." {
			t.Fatalf("reverse zone name %s", rz.Name)
		}
		if _, _, err := m.Sign(ctx, rz.Name, authdns.SignOptions{Algorithm: authdns.Ed25519, SplitKeys: true, Denial: authdns.Compact}); err != nil {
			t.Fatal(err)
		}
		zs, err := s.Zones(ctx)
		if err != nil || len(zs) != 1 {
			t.Fatalf("zones %v %v", zs, err)
		}
		got := zs[0]
		if got.Prefix != rz.Prefix || got.Synthesize != "ip-{addr}.dyn.example.test." || !got.Config.Signed || got.Config.Denial != authdns.Compact || got.Config.Algorithm != authdns.Ed25519 || !got.Config.SplitKeys {
			t.Fatalf("zone read back %+v", got)
		}
		keys, err := s.Keys(ctx, rz.ID)
		if err != nil || len(keys) != 2 {
			t.Fatalf("keys %v %v", keys, err)
		}
		if keys[0].Tag == keys[1].Tag || keys[0].Role == keys[1].Role || len(keys[0].Sealed) < 40 || keys[0].State != authdns.KeyActive {
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
	})

	t.Run("key rollover timestamps read back, and a key moves only from the state it was in", func(t *testing.T) {
		s := open(t)
		m := authdns.NewManager(s, sealer, clock)
		z, err := m.AddZone(ctx, authdns.ZoneSpec{Name: "roll.test"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Sign(ctx, z.Name, authdns.SignOptions{SplitKeys: true}); err != nil {
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
		if k.ID != succ.ID || k.State != authdns.KeyPublished || !k.PublishedAt.Equal(clock()) || !k.ActiveAt.IsZero() || !k.DSAt.IsZero() {
			t.Fatalf("successor read back %+v", k)
		}
		if !keys[0].ActiveAt.Equal(clock()) || !keys[0].PublishedAt.Equal(clock()) {
			t.Fatalf("first key read back %+v", keys[0])
		}
		k.State, k.ActiveAt, k.InactiveAt = authdns.KeyActive, clock().Add(time.Hour), clock().Add(2*time.Hour)
		k.RemovedAt, k.DSAt = clock().Add(3*time.Hour), clock().Add(4*time.Hour)
		if err := s.UpdateKey(ctx, k, authdns.KeyPublished, registry.Event{At: clock(), Actor: "test", Action: "key.roll", SubjectKind: authdns.SubjectKey, Subject: "x"}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateKey(ctx, k, authdns.KeyPublished, registry.Event{At: clock(), Actor: "test", Action: "key.roll", SubjectKind: authdns.SubjectKey, Subject: "x"}); !errors.Is(err, registry.ErrState) {
			t.Fatalf("update from a state the key has left: %v, want ErrState", err)
		}
		keys, _ = s.Keys(ctx, z.ID)
		got := keys[2]
		if got.State != k.State || !got.ActiveAt.Equal(k.ActiveAt) || !got.InactiveAt.Equal(k.InactiveAt) || !got.RemovedAt.Equal(k.RemovedAt) || !got.DSAt.Equal(k.DSAt) {
			t.Fatalf("updated key read back %+v, want %+v", got, k)
		}
	})

	t.Run("duplicates are refused, a zone below another is a child", func(t *testing.T) {
		s := open(t)
		m := authdns.NewManager(s, sealer, clock)
		if _, err := m.AddZone(ctx, authdns.ZoneSpec{Name: "example.test"}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.AddZone(ctx, authdns.ZoneSpec{Name: "example.test."}); !errors.Is(err, registry.ErrExists) {
			t.Fatalf("duplicate zone: %v", err)
		}
		if _, err := m.AddZone(ctx, authdns.ZoneSpec{Name: "sub.example.test"}); err != nil {
			t.Fatalf("child zone: %v", err)
		}
		if _, err := m.AddZone(ctx, authdns.ZoneSpec{Name: "SUB.example.test."}); !errors.Is(err, registry.ErrExists) {
			t.Fatalf("duplicate child zone: %v", err)
		}
		if _, err := m.AddRecord(ctx, "example.test", "www", "A", "192.0.2.1", 0); err != nil {
			t.Fatal(err)
		}
		if _, err := m.AddRecord(ctx, "example.test", "www.example.test.", "A", "192.0.2.1", 0); !errors.Is(err, registry.ErrExists) {
			t.Fatalf("duplicate record: %v", err)
		}
	})

	t.Run("the serial moves only by compare and set", func(t *testing.T) {
		s := open(t)
		m := authdns.NewManager(s, sealer, clock)
		z, err := m.AddZone(ctx, authdns.ZoneSpec{Name: "example.test"})
		if err != nil {
			t.Fatal(err)
		}
		n := len(events(t, s))
		if ok, err := s.SetZoneSerial(ctx, z.ID, 0, 7, "h1"); !ok || err != nil {
			t.Fatalf("first set: %v %v", ok, err)
		}
		if ok, err := s.SetZoneSerial(ctx, z.ID, 0, 8, "h2"); ok || err != nil {
			t.Fatalf("stale set: %v %v, want refused", ok, err)
		}
		zs, _ := s.Zones(ctx)
		if zs[0].Serial != 7 || zs[0].SerialHash != "h1" {
			t.Fatalf("serial %d %q", zs[0].Serial, zs[0].SerialHash)
		}
		if len(events(t, s)) != n {
			t.Fatal("setting the serial wrote an event")
		}
	})
}
