package manage_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest/migrated"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// TestAWriteHidingItsOwnRecordsIsRefused{SQLite,PostgreSQL}: a zone file
// or an RFC 2136 update that holds a delegation (NS below the apex) and a
// record it hides (a TXT below it, or at it) is refused as a record add
// of that record after the delegation is (registry.NameTakenError,
// naming the kind; the file's line; REFUSED), nothing written. So is a
// TXT that follows an NS at a delegation already stored. Before, the
// store checked each name once (its first record, the NS: allowed) and
// only against the delegations written before: both were written, and
// the TXT never served (audit12). Glue (an address record below the
// delegation) and the delegation's DS are written.
func TestAWriteHidingItsOwnRecordsIsRefusedSQLite(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "r.db"), sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	hidingWrites(t, s)
}

func TestAWriteHidingItsOwnRecordsIsRefusedPostgreSQL(t *testing.T) {
	s, err := postgres.Open(context.Background(), migrated.Database(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	hidingWrites(t, s)
}

func hidingWrites(t *testing.T, s zone.Store) {
	ctx := context.Background()
	m := manage.NewManager(s, nil, nil)
	if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: "ex.test", Config: zone.Config{NS: []string{"ns1.provider.example."}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddRecord(ctx, "ex.test", "old", "NS", "ns1.elsewhere.example.", 0); err != nil {
		t.Fatal(err)
	}
	taken := func(what string, err error, kind registry.HolderKind) {
		t.Helper()
		var nt *registry.NameTakenError
		if !errors.As(err, &nt) || nt.Holder != kind {
			t.Errorf("%s: %v; want a NameTakenError, %s", what, err, kind)
		}
	}
	for _, c := range []struct {
		name, file, line string
		kind             registry.HolderKind
	}{
		{"a TXT below the file's delegation", "sub IN NS ns1.elsewhere.example.\nwww.sub IN TXT \"hidden\"\n", "line 2", registry.HolderBelowDelegation},
		{"a TXT below it, before it in the file", "www.sub IN TXT \"hidden\"\nsub IN NS ns1.elsewhere.example.\n", "line 1", registry.HolderBelowDelegation},
		{"a TXT at the file's delegation", "sub IN TXT \"x\"\nsub IN NS ns1.elsewhere.example.\n", "line 1", registry.HolderDelegation},
		{"a TXT after an NS at a stored delegation", "old IN NS ns2.elsewhere.example.\nold IN TXT \"x\"\n", "line 2", registry.HolderDelegation},
	} {
		_, err := m.Import(ctx, "ex.test", "in.zone", strings.NewReader(c.file))
		taken("zone import: "+c.name, err, c.kind)
		if err != nil && !strings.Contains(err.Error(), "in.zone: "+c.line) {
			t.Errorf("zone import: %s: %v; want %s", c.name, err, c.line)
		}
		var rrs []dns.RR
		for _, l := range strings.Split(strings.TrimSpace(c.file), "\n") {
			rr, err := dns.NewRR(strings.Replace(l, " IN ", ".ex.test. 300 IN ", 1))
			if err != nil {
				t.Fatal(err)
			}
			rrs = append(rrs, rr)
		}
		_, err = m.Update(ctx, "ex.test", rrs)
		taken("RFC 2136 update: "+c.name, err, c.kind)
		var ue *manage.UpdateError
		if !errors.As(err, &ue) || ue.Rcode != dns.RcodeRefused {
			t.Errorf("RFC 2136 update: %s: %v; want REFUSED", c.name, err)
		}
	}
	if rs, err := m.Records(ctx, "ex.test"); err != nil || len(rs) != 1 {
		t.Fatalf("records after the refusals: %v, %v; want the one delegation", rs, err)
	}
	// Glue below the delegation and its DS are written.
	if _, err := m.Import(ctx, "ex.test", "ok.zone", strings.NewReader("sub IN NS ns1.sub.ex.test.\nns1.sub IN A 192.0.2.1\n"+
		"sub IN DS 12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n")); err != nil {
		t.Fatal(err)
	}
}
