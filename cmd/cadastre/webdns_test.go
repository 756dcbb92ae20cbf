package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

// The DNS page's adapter over the real zone manager: an unsigned zone has
// no keys and no DS; a signed one with split keys lists its KSK (waiting
// for the parent's DS) and ZSK, the DS for the parent, and says that
// transfers are not recorded.
func TestWebZonesReportsSigningKeysAndDS(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlitetest.Path(t, "c.db"), sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := zone.NewSealer(bytes.Repeat([]byte{7}, zone.SealKeySize))
	if err != nil {
		t.Fatal(err)
	}
	m := manage.NewManager(st, sealer, func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) })
	cfg := zone.Config{NS: []string{"ns1.example.net."}, Notify: []string{"192.0.2.53:53"}}
	for _, name := range []string{"plain.example.", "signed.example."} {
		if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: name, Config: cfg}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := m.Sign(ctx, "signed.example.", manage.SignOptions{SplitKeys: true}); err != nil {
		t.Fatal(err)
	}
	zs, err := webZones{m: m}.ZoneStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(zs) != 2 {
		t.Fatalf("%d zones, want 2", len(zs))
	}
	byName := map[string]int{zs[0].Name: 0, zs[1].Name: 1}
	plain, signed := zs[byName["plain.example."]], zs[byName["signed.example."]]
	if plain.Signed || len(plain.Keys) != 0 || len(plain.DS) != 0 {
		t.Errorf("unsigned zone: %+v", plain)
	}
	if !signed.Signed || signed.Algorithm == "" || signed.Denial == "" || len(signed.DS) != 1 || !strings.Contains(signed.DS[0], "\tDS\t") {
		t.Errorf("signed zone: %+v", signed)
	}
	roles := map[string]string{}
	for _, k := range signed.Keys {
		roles[k.Role] = k.Stage
	}
	if !strings.Contains(roles["ksk"], "waiting for the parent's DS") || roles["zsk"] != "signing" {
		t.Errorf("key stages %q", roles)
	}
	if signed.TransfersRecorded || signed.Notify[0] != "192.0.2.53:53" || !strings.Contains(signed.Rollover, "KSK by hand") {
		t.Errorf("signed zone: transfers recorded %v, notify %q, rollover %q", signed.TransfersRecorded, signed.Notify, signed.Rollover)
	}
}
