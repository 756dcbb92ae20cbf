package auth_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func setup(t *testing.T) (*auth.Tokens, *sqlite.Store, *clock) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlitetest.Path(t, "a.db"), sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	k, err := auth.New(st, bytes.Repeat([]byte{7}, auth.KeySize), c.now)
	if err != nil {
		t.Fatal(err)
	}
	return k, st, c
}

func TestCheck(t *testing.T) {
	ctx := registry.WithActor(context.Background(), "tester")
	k, st, c := setup(t)
	if _, err := registry.New(st).AddTenant(ctx, registry.TenantSpec{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	tok, secret, err := k.Create(ctx, auth.Spec{Name: "ops", Scope: auth.ScopeAllocate, Tenant: "acme", Expires: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "cad_"+tok.ID+"_") {
		t.Fatalf("secret %q does not name its token %s", secret, tok.ID)
	}
	got, err := k.Check(ctx, secret)
	if err != nil || got.ID != tok.ID || got.Scope != auth.ScopeAllocate || got.Tenant != "acme" || got.CreatedBy != "tester" {
		t.Fatalf("Check(valid) = %+v, %v", got, err)
	}
	cases := []struct {
		name   string
		secret string
		want   error
	}{
		{"a secret one character off is wrong", secret[:len(secret)-1] + flip(secret[len(secret)-1]), auth.ErrBadSecret},
		{"a secret of an unknown token is unknown", "cad_aaaaaaaaaaaaaaaa_" + strings.Repeat("b", 52), auth.ErrUnknown},
		{"garbage is malformed", "Bearer xyz", auth.ErrMalformed},
		{"an empty secret is malformed", "", auth.ErrMalformed},
		{"a huge secret is malformed", "cad_" + tok.ID + "_" + strings.Repeat("x", 1000), auth.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := k.Check(ctx, tc.secret); !errors.Is(err, tc.want) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("an expired token is refused", func(t *testing.T) {
		c.t = c.t.Add(time.Hour)
		if _, err := k.Check(ctx, secret); !errors.Is(err, auth.ErrExpired) {
			t.Fatalf("Check after expiry = %v", err)
		}
		c.t = c.t.Add(-time.Hour)
	})
	t.Run("a revoked token is refused at once", func(t *testing.T) {
		if err := k.Revoke(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Check(ctx, secret); !errors.Is(err, auth.ErrRevoked) {
			t.Fatalf("Check after revoke = %v", err)
		}
		if err := k.Revoke(ctx, "nosuchtoken00000"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("Revoke(unknown) = %v", err)
		}
	})
}

func flip(b byte) string {
	if b == 'a' {
		return "b"
	}
	return "a"
}

func TestCreateRules(t *testing.T) {
	ctx := context.Background()
	k, _, _ := setup(t)
	for _, s := range []auth.Spec{
		{Scope: 0},
		{Scope: auth.ScopeAdmin + 1},
		{Scope: auth.ScopeAdmin, Tenant: "acme"},
		{Scope: auth.ScopeRead, Expires: -time.Second},
		{Scope: auth.ScopeRead, Name: strings.Repeat("n", 201)},
		{Scope: auth.ScopeRead, Name: "ops\x1b[2J"},         // a terminal escape in the name
		{Scope: auth.ScopeAllocate, Tenant: "acme\r\nroot"}, // a line break in the tenant
	} {
		if _, _, err := k.Create(ctx, s); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("Create(%+v) = %v, want ErrInvalid", s, err)
		}
	}
	if _, err := auth.New(nil, make([]byte, 16), nil); err == nil {
		t.Errorf("a 16-byte key was accepted")
	}
}

func TestLastUsedIsRecordedAtMostOnceAMinute(t *testing.T) {
	ctx := context.Background()
	k, st, c := setup(t)
	tok, secret, err := k.Create(ctx, auth.Spec{Scope: auth.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	first := c.t
	k.Check(ctx, secret)
	c.t = c.t.Add(30 * time.Second)
	k.Check(ctx, secret)
	got, _ := st.Token(ctx, tok.ID)
	if got.LastUsed == nil || !got.LastUsed.Equal(first) {
		t.Fatalf("last used = %v, want %v (the second use within a minute is not written)", got.LastUsed, first)
	}
	c.t = c.t.Add(31 * time.Second)
	k.Check(ctx, secret)
	got, _ = st.Token(ctx, tok.ID)
	if got.LastUsed == nil || !got.LastUsed.Equal(c.t) {
		t.Fatalf("last used = %v, want %v", got.LastUsed, c.t)
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	k1, err := auth.CreateKeyFile(p)
	if err != nil || len(k1.Current) != auth.KeySize {
		t.Fatalf("CreateKeyFile = %d bytes, %v", len(k1.Current), err)
	}
	if _, err := auth.CreateKeyFile(p); err == nil {
		t.Errorf("CreateKeyFile over an existing file succeeded")
	}
	k2, err := auth.ReadKeyFile(p)
	if err != nil || !bytes.Equal(k1.Current, k2.Current) || k2.Previous != nil {
		t.Fatalf("reloaded key differs: %v", err)
	}
	rotated := auth.KeyFile{Keys: auth.Keys{Current: auth.NewKey(), Previous: k1.Current}, DNSSeal: auth.NewKey()}
	if err := auth.WriteKeyFile(p, rotated); err != nil {
		t.Fatal(err)
	}
	k3, err := auth.ReadKeyFile(p)
	if err != nil || !bytes.Equal(k3.Current, rotated.Current) || !bytes.Equal(k3.Previous, k1.Current) || !bytes.Equal(k3.DNSSeal, rotated.DNSSeal) {
		t.Fatalf("a rotated key file does not read back: %v", err)
	}
	if _, err := auth.ReadKeyFile(filepath.Join(dir, "missing")); !auth.IsMissing(err) {
		t.Errorf("a missing key file: %v, want an error that says it is missing", err)
	}
	for _, bad := range []string{"abcd", "current zz", "previous " + strings.Repeat("ab", 32), "other " + strings.Repeat("ab", 32), strings.Repeat("ab", 32) + "\n" + strings.Repeat("cd", 32)} {
		if _, err := auth.ParseKeyFile(bad); err == nil {
			t.Errorf("key file %q was accepted", bad)
		}
	}
	if _, err := auth.ParseKeyEnv(strings.Repeat("ab", 32) + ",xyz"); err == nil {
		t.Errorf("a bad previous key in the environment was accepted")
	}
}
