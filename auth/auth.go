// Package auth holds API tokens: creating them, checking a presented
// secret, revoking them. A token has a scope (read, allocate, admin) and
// may be bound to one tenant. The store keeps only an HMAC of each secret,
// keyed with a server-side key, so a copy of the database grants nothing.
// There are no passwords and no recovery: an admin revokes and re-issues.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// Scope is what a token may do; each scope includes the ones below it.
type Scope int

// Scopes, weakest first.
const (
	ScopeRead     Scope = iota + 1 // read the register
	ScopeAllocate                  // also allocate, release and rename assignments
	ScopeAdmin                     // also change regions, blocks, pools and tokens
)

// ParseScope reads "read", "allocate" or "admin".
func ParseScope(s string) (Scope, error) {
	switch s {
	case "read":
		return ScopeRead, nil
	case "allocate":
		return ScopeAllocate, nil
	case "admin":
		return ScopeAdmin, nil
	}
	return 0, fmt.Errorf("scope %q: must be read, allocate or admin: %w", s, registry.ErrInvalid)
}

func (s Scope) String() string {
	switch s {
	case ScopeRead:
		return "read"
	case ScopeAllocate:
		return "allocate"
	case ScopeAdmin:
		return "admin"
	}
	return fmt.Sprintf("scope(%d)", int(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s Scope) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Scope) UnmarshalText(b []byte) error {
	v, err := ParseScope(string(b))
	*s = v
	return err
}

// Token is a token's public record: never its secret.
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Scope     Scope      `json:"scope"`
	Tenant    string     `json:"tenant,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	LastUsed  *time.Time `json:"last_used_at,omitempty"`
	MAC       []byte     `json:"-"`
}

// Actor is how events name the token.
func (t Token) Actor() string { return "token:" + t.ID }

// Store keeps tokens. InsertToken and RevokeToken write their event in the
// same transaction.
type Store interface {
	InsertToken(ctx context.Context, t Token, e registry.Event) error
	Token(ctx context.Context, id string) (Token, error)
	Tokens(ctx context.Context) ([]Token, error)
	RevokeToken(ctx context.Context, id string, at time.Time, e registry.Event) error
	TouchToken(ctx context.Context, id string, at time.Time) error
}

// Errors of token checks. All of them become 401 without saying which:
// a stranger learns nothing about which tokens exist.
var (
	ErrMalformed = errors.New("malformed token")
	ErrUnknown   = errors.New("unknown token")
	ErrBadSecret = errors.New("wrong secret")
	ErrExpired   = errors.New("expired token")
	ErrRevoked   = errors.New("revoked token")
)

// KeySize is the length of the server-side HMAC key.
const KeySize = 32

// touchEvery bounds how often a token's last-used time is written, so that
// reads do not each cost a durable write.
const touchEvery = time.Minute

// Tokens issues and checks tokens.
type Tokens struct {
	store Store
	key   []byte
	now   func() time.Time

	mu      sync.Mutex
	touched map[string]time.Time
	checked map[string]checked // by the secret's MAC
}

// checked is a secret verified against the store moments ago.
type checked struct {
	tok   Token
	until time.Time
}

// checkTTL is how long a verified secret is trusted without reading the
// store again: it spares every request a database read, and bounds how
// long another replica may honour a token after it was revoked.
const checkTTL = 2 * time.Second

// maxChecked bounds the cache of verified secrets.
const maxChecked = 10_000

// New returns Tokens over store with the server-side key.
func New(store Store, key []byte, now func() time.Time) (*Tokens, error) {
	if len(key) < KeySize {
		return nil, fmt.Errorf("token key: %d bytes, need at least %d", len(key), KeySize)
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{store: store, key: key, now: now, touched: map[string]time.Time{}, checked: map[string]checked{}}, nil
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// A secret reads "cad_<id>_<random>": the ID finds the record, the whole
// string is what is MACed. The prefix lets secret scanners recognise it.
const secretPrefix = "cad_"

func (k *Tokens) mac(secret string) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Spec is what an admin asks for.
type Spec struct {
	Name    string
	Scope   Scope
	Tenant  string
	Expires time.Duration // 0: never
}

// Create issues a token and returns its record and its secret, which is
// shown once and never stored.
func (k *Tokens) Create(ctx context.Context, s Spec) (Token, string, error) {
	if s.Scope < ScopeRead || s.Scope > ScopeAdmin {
		return Token{}, "", fmt.Errorf("token: scope must be read, allocate or admin: %w", registry.ErrInvalid)
	}
	if s.Expires < 0 {
		return Token{}, "", fmt.Errorf("token: expiry %s is negative: %w", s.Expires, registry.ErrInvalid)
	}
	if len(s.Name) > 200 || len(s.Tenant) > 128 {
		return Token{}, "", fmt.Errorf("token: name (200) or tenant (128 bytes) too long: %w", registry.ErrInvalid)
	}
	if s.Tenant != "" && s.Scope == ScopeAdmin {
		return Token{}, "", fmt.Errorf("token: an admin token cannot be bound to a tenant (admins change shared objects): %w", registry.ErrInvalid)
	}
	idb := make([]byte, 10)
	sec := make([]byte, 32)
	if _, err := rand.Read(idb); err != nil {
		return Token{}, "", err
	}
	if _, err := rand.Read(sec); err != nil {
		return Token{}, "", err
	}
	now := k.now().UTC().Truncate(time.Microsecond)
	t := Token{ID: b32.EncodeToString(idb), Name: s.Name, Scope: s.Scope, Tenant: s.Tenant, CreatedAt: now, CreatedBy: registry.Actor(ctx)}
	if s.Expires > 0 {
		e := now.Add(s.Expires)
		t.ExpiresAt = &e
	}
	secret := secretPrefix + t.ID + "_" + b32.EncodeToString(sec)
	t.MAC = k.mac(secret)
	ev := registry.Event{At: now, Actor: registry.Actor(ctx), Action: "token.create", SubjectKind: "token", Subject: t.ID, After: mustJSON(t)}
	if err := k.store.InsertToken(ctx, t, ev); err != nil {
		return Token{}, "", fmt.Errorf("token: %w", err)
	}
	return t, secret, nil
}

// ParseID returns the token ID a secret names, without checking it; for
// logs, which must never carry the secret itself.
func ParseID(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 {
		return "", false
	}
	return id, true
}

// Check verifies a presented secret and returns its token.
func (k *Tokens) Check(ctx context.Context, secret string) (Token, error) {
	id, ok := ParseID(secret)
	if !ok || len(secret) > 200 {
		return Token{}, ErrMalformed
	}
	mac := k.mac(secret)
	now := k.now()
	k.mu.Lock()
	c, hit := k.checked[string(mac)]
	k.mu.Unlock()
	if hit && now.Before(c.until) && (c.tok.ExpiresAt == nil || now.Before(*c.tok.ExpiresAt)) {
		return c.tok, nil
	}
	t, err := k.store.Token(ctx, id)
	if errors.Is(err, registry.ErrNotFound) {
		// Spend the same work as a real check, so timing tells nothing.
		hmac.Equal(k.mac(secret), make([]byte, sha256.Size))
		return Token{}, ErrUnknown
	}
	if err != nil {
		return Token{}, err
	}
	if !hmac.Equal(mac, t.MAC) {
		return Token{}, ErrBadSecret
	}
	if t.RevokedAt != nil {
		return Token{}, ErrRevoked
	}
	if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
		return Token{}, ErrExpired
	}
	k.mu.Lock()
	last, seen := k.touched[id]
	due := !seen || now.Sub(last) >= touchEvery
	if due {
		k.touched[id] = now
	}
	if len(k.checked) >= maxChecked {
		k.checked = map[string]checked{}
	}
	k.checked[string(mac)] = checked{tok: t, until: now.Add(checkTTL)}
	k.mu.Unlock()
	if due {
		if err := k.store.TouchToken(ctx, id, now.UTC().Truncate(time.Microsecond)); err != nil {
			return Token{}, fmt.Errorf("token %s: record use: %w", id, err)
		}
	}
	return t, nil
}

// List returns every token's record.
func (k *Tokens) List(ctx context.Context) ([]Token, error) { return k.store.Tokens(ctx) }

// Revoke ends a token at once.
func (k *Tokens) Revoke(ctx context.Context, id string) error {
	now := k.now().UTC().Truncate(time.Microsecond)
	ev := registry.Event{At: now, Actor: registry.Actor(ctx), Action: "token.revoke", SubjectKind: "token", Subject: id}
	if err := k.store.RevokeToken(ctx, id, now, ev); err != nil {
		return fmt.Errorf("token %s: %w", id, err)
	}
	// This replica stops honouring it at once; others within checkTTL.
	k.mu.Lock()
	for m, c := range k.checked {
		if c.tok.ID == id {
			delete(k.checked, m)
		}
	}
	k.mu.Unlock()
	return nil
}
