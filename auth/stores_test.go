package auth_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest/migrated"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

// store is what these tests need of a store: tokens and the event log.
type store interface {
	auth.Store
	registry.Store
}

// eachStore runs fn against a fresh SQLite file and a fresh PostgreSQL
// schema: the token rules hold on both.
func eachStore(t *testing.T, fn func(t *testing.T, st store)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlite.Open(context.Background(), sqlitetest.Path(t, "a.db"), sqlite.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		st, err := postgres.Open(context.Background(), migrated.Database(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, st)
	})
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, auth.KeySize) }

// racingStore is a real store whose Token read, once armed, lets a
// revocation commit after the read and before the check finishes: the
// race of a request checked while an admin revokes its token.
type racingStore struct {
	store
	onRead func(id string)
}

func (r *racingStore) Token(ctx context.Context, id string) (auth.Token, error) {
	t, err := r.store.Token(ctx, id)
	if f := r.onRead; f != nil {
		r.onRead = nil
		f(id)
	}
	return t, err
}

// TestRevokeRacingCheckIsHonouredAtOnce: a check that read the token
// before a revocation committed may still pass (it started first), but it
// must not put the token back into the cache: the next check on the
// revoking replica is refused at once, not checkTTL later. Before the
// revocation generation counter the second check passed.
func TestRevokeRacingCheckIsHonouredAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		rs := &racingStore{store: st}
		c := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
		k, err := auth.New(rs, key(7), c.now)
		if err != nil {
			t.Fatal(err)
		}
		tok, secret, err := k.Create(ctx, auth.Spec{Scope: auth.ScopeRead})
		if err != nil {
			t.Fatal(err)
		}
		rs.onRead = func(id string) {
			if err := k.Revoke(ctx, id); err != nil {
				t.Errorf("revoke: %v", err)
			}
		}
		if _, err := k.Check(ctx, secret); err != nil {
			t.Fatalf("the check that started before the revocation: %v", err)
		}
		if rs.onRead != nil {
			t.Fatal("the revocation did not run during the check: the test proves nothing")
		}
		// Same instant: nothing but the cache could let it through.
		if got, err := k.Check(ctx, secret); !errors.Is(err, auth.ErrRevoked) {
			t.Fatalf("check after the revocation = %v, %v; want ErrRevoked (token %s re-cached by the racing check)", got.ID, err, tok.ID)
		}
	})
}

// TestKeyRotation: re-keying keeps every secret valid under the new key,
// in one transaction with one event that names no key material; during a
// staged rotation both keys verify.
func TestKeyRotation(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := registry.WithActor(context.Background(), "tester")
		old, next := key(1), key(2)
		k1, err := auth.New(st, old, nil)
		if err != nil {
			t.Fatal(err)
		}
		var secrets []string
		for _, sc := range []auth.Scope{auth.ScopeRead, auth.ScopeAllocate, auth.ScopeAdmin} {
			_, s, err := k1.Create(ctx, auth.Spec{Scope: sc})
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, s)
		}
		staged, err := auth.NewWithKeys(st, auth.Keys{Current: next, Previous: old}, nil)
		if err != nil {
			t.Fatal(err)
		}
		onlyNew, _ := auth.New(st, next, nil)
		checkAll := func(name string, k *auth.Tokens, want error) {
			t.Helper()
			for _, s := range secrets {
				if _, err := k.Check(ctx, s); !errors.Is(err, want) {
					t.Errorf("%s: Check = %v, want %v", name, err, want)
				}
			}
		}
		checkAll("staged key file before the re-key (previous key opens)", staged, nil)
		checkAll("new key alone before the re-key", onlyNew, auth.ErrBadSecret)
		ks, err := staged.KeyState(ctx)
		if err != nil || ks.Current != 0 || len(ks.Previous) != 3 {
			t.Fatalf("key state before re-key = %+v, %v; want 3 under the previous key", ks, err)
		}

		t.Run("a key set that opens no verifier re-keys nothing", func(t *testing.T) {
			stranger, _ := auth.New(st, key(9), nil)
			if _, err := stranger.Rekey(ctx, key(8)); !errors.Is(err, registry.ErrState) {
				t.Fatalf("Rekey with a foreign key = %v, want ErrState", err)
			}
			fresh, _ := auth.New(st, next, nil)
			checkAll("after a refused re-key, the old key still", k1, nil)
			checkAll("after a refused re-key, the new key alone", fresh, auth.ErrBadSecret)
		})

		n, err := staged.Rekey(ctx, next)
		if err != nil || n != 3 {
			t.Fatalf("Rekey = %d, %v; want 3", n, err)
		}
		fresh, _ := auth.New(st, next, nil) // no cache from before
		checkAll("new key alone after the re-key", fresh, nil)
		stale, _ := auth.New(st, old, nil)
		checkAll("old key alone after the re-key", stale, auth.ErrBadSecret)
		if n, err := staged.Rekey(ctx, next); err != nil || n != 0 {
			t.Errorf("a second re-key under the same key = %d, %v; want 0 changed", n, err)
		}

		evs, err := registry.New(st).Events(ctx, registry.EventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var rekeys []registry.Event
		for _, e := range evs {
			if e.Action == "token.rekey" {
				rekeys = append(rekeys, e)
			}
		}
		if len(rekeys) != 2 || rekeys[0].Subject != auth.KeyID(next) || !strings.Contains(string(rekeys[0].After), `"tokens":3`) {
			t.Fatalf("re-key events = %+v; want two naming key %s, the first with 3 tokens", rekeys, auth.KeyID(next))
		}
		for _, e := range rekeys {
			for _, kk := range [][]byte{old, next} {
				if strings.Contains(string(e.After)+e.Subject, hex.EncodeToString(kk)) {
					t.Errorf("event %s holds a key", e.Action)
				}
			}
		}
	})
}

// TestAllowFrom: a token limited to networks verifies only from them; its
// list is stored canonical on both stores.
func TestAllowFrom(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		k, _ := auth.New(st, key(3), nil)
		tok, secret, err := k.Create(ctx, auth.Spec{Scope: auth.ScopeRead, AllowFrom: []netip.Prefix{
			netip.MustParsePrefix("2001:db8::/48"), netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("192.0.2.0/24")}})
		if err != nil {
			t.Fatal(err)
		}
		want := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/48")}
		ts, err := k.List(ctx)
		if err != nil || len(ts) != 1 || len(ts[0].AllowFrom) != 2 || ts[0].AllowFrom[0] != want[0] || ts[0].AllowFrom[1] != want[1] {
			t.Fatalf("stored allow-from = %+v, %v; want %v", ts, err, want)
		}
		for _, tc := range []struct {
			name string
			from string
			want error
		}{
			{"an address inside an IPv4 entry is allowed", "192.0.2.77", nil},
			{"an IPv4-mapped address inside is allowed", "::ffff:192.0.2.1", nil},
			{"an address inside an IPv6 entry is allowed", "2001:db8:0:1::5", nil},
			{"an address outside every entry is refused", "198.51.100.7", auth.ErrAddress},
			{"an unknown address is refused", "", auth.ErrAddress},
			{"the cached check is refused from outside too", "203.0.113.9", auth.ErrAddress},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var from netip.Addr
				if tc.from != "" {
					from = netip.MustParseAddr(tc.from)
				}
				got, err := k.CheckFrom(ctx, secret, from)
				if !errors.Is(err, tc.want) {
					t.Fatalf("CheckFrom(%s) = %v, want %v", tc.from, err, tc.want)
				}
				if err != nil && (got.ID != tok.ID || !strings.Contains(err.Error(), tc.from)) {
					t.Errorf("refusal %q does not name the token and the address", err)
				}
			})
		}
		for _, bad := range [][]netip.Prefix{
			{netip.MustParsePrefix("192.0.2.1/24")},
			{{}},
		} {
			if _, _, err := k.Create(ctx, auth.Spec{Scope: auth.ScopeRead, AllowFrom: bad}); !errors.Is(err, registry.ErrInvalid) {
				t.Errorf("Create(allow-from %v) = %v, want ErrInvalid", bad, err)
			}
		}
	})
}

// TestLegacyVerifier: a token stored before verifiers were sealed (an HMAC
// of the secret under the key) still verifies, is not re-keyed, and is
// reported as such.
func TestLegacyVerifier(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := context.Background()
		secret := "cad_aaaaaaaaaaaaaaaa_" + strings.Repeat("b", 52)
		m := hmac.New(sha256.New, key(4))
		m.Write([]byte(secret))
		legacy := auth.Token{ID: "aaaaaaaaaaaaaaaa", Scope: auth.ScopeRead, CreatedAt: time.Now().UTC().Truncate(time.Microsecond), CreatedBy: "old", MAC: m.Sum(nil)}
		if err := st.InsertToken(ctx, legacy, registry.Event{At: legacy.CreatedAt, Actor: "old", Action: "token.create", SubjectKind: "token", Subject: legacy.ID}); err != nil {
			t.Fatal(err)
		}
		k, _ := auth.NewWithKeys(st, auth.Keys{Current: key(5), Previous: key(4)}, nil)
		if _, err := k.Check(ctx, secret); err != nil {
			t.Fatalf("legacy token under the previous key: %v", err)
		}
		if n, err := k.Rekey(ctx, key(5)); err != nil || n != 0 {
			t.Fatalf("Rekey over a legacy token = %d, %v; want it left as it is", n, err)
		}
		ks, err := k.KeyState(ctx)
		if err != nil || len(ks.Legacy) != 1 {
			t.Fatalf("key state = %+v, %v; want the legacy token reported", ks, err)
		}
	})
}

// TestTokenForUnknownTenant: a token is bound only to a tenant that
// exists; one for an unknown tenant is refused with ErrNotFound and
// nothing is stored.
func TestTokenForUnknownTenant(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		ctx := registry.WithActor(context.Background(), "tester")
		k, err := auth.New(st, key(1), time.Now)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = k.Create(ctx, auth.Spec{Name: "ops", Scope: auth.ScopeAllocate, Tenant: "nobody"})
		if !errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), "tenant nobody does not exist") {
			t.Fatalf("token for an unknown tenant: %v, want ErrNotFound naming the tenant", err)
		}
		if ts, err := st.Tokens(ctx); err != nil || len(ts) != 0 {
			t.Fatalf("tokens after the refusal: %v, %v; want none", ts, err)
		}
		if _, err := registry.New(st).AddTenant(ctx, registry.TenantSpec{Name: "nobody"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := k.Create(ctx, auth.Spec{Name: "ops", Scope: auth.ScopeAllocate, Tenant: "nobody"}); err != nil {
			t.Fatalf("token for the tenant once added: %v", err)
		}
	})
}
