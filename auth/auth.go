// Package auth holds API tokens: creating them, checking a presented
// secret, revoking them. A token has a scope (read, allocate, admin) and
// may be bound to one tenant and limited to client networks. The store
// keeps only a verifier of each secret, sealed with a server-side key that
// can be rotated, so a copy of the database grants nothing and write
// access to it mints no token.
// There are no passwords and no recovery: an admin revokes and re-issues.
package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// AllowFrom, when not empty, lists the client networks the token may
	// be used from: a stolen secret is then useless elsewhere.
	AllowFrom []netip.Prefix `json:"allow_from,omitempty"`
	// MAC is the stored verifier of the secret: the SHA-256 digest of the
	// secret sealed with AES-256-GCM under the token key (so it can be
	// re-keyed without the secret), or, for tokens made before sealing,
	// HMAC-SHA256(key, secret).
	MAC []byte `json:"-"`
}

// Actor is how events name the token.
func (t Token) Actor() string { return "token:" + t.ID }

// Store keeps tokens. InsertToken, RevokeToken and RekeyTokens write their
// event in the same transaction.
type Store interface {
	// InsertToken stores t and appends e; a token bound to a tenant
	// (t.Tenant) that does not exist is refused with an error wrapping
	// registry.ErrNotFound, in the same transaction.
	InsertToken(ctx context.Context, t Token, e registry.Event) error
	Token(ctx context.Context, id string) (Token, error)
	Tokens(ctx context.Context) ([]Token, error)
	RevokeToken(ctx context.Context, id string, at time.Time, e registry.Event) error
	TouchToken(ctx context.Context, id string, at time.Time) error
	// RekeyTokens calls rekey for every token in one transaction that no
	// other token write can interleave with, stores the new MAC of each
	// token for which rekey returns one (nil: leave it), and appends
	// event(n), n the number changed. An error from rekey rolls
	// everything back.
	RekeyTokens(ctx context.Context, rekey func(Token) ([]byte, error), event func(n int) registry.Event) (int, error)
}

// Errors of token checks. All of them but ErrAddress become 401 without
// saying which: a stranger learns nothing about which tokens exist.
var (
	ErrMalformed = errors.New("malformed token")
	ErrUnknown   = errors.New("unknown token")
	ErrBadSecret = errors.New("wrong secret")
	ErrExpired   = errors.New("expired token")
	ErrRevoked   = errors.New("revoked token")
	// ErrAddress is a valid secret presented from outside the token's
	// AllowFrom list: the caller proved it holds the secret, so it is told.
	ErrAddress = errors.New("token not allowed from this address")
)

// KeySize is the length of the server-side key.
const KeySize = 32

// maxAllowFrom bounds a token's AllowFrom list.
const maxAllowFrom = 64

// touchEvery bounds how often a token's last-used time is written, so that
// reads do not each cost a durable write.
const touchEvery = time.Minute

// Tokens issues and checks tokens.
type Tokens struct {
	store Store
	// keys are the keys in use, current first; SetKeys replaces the
	// slice whole (a server reloading its key file), never writes it.
	keys atomic.Pointer[[]sealKey]
	now  func() time.Time

	mu      sync.Mutex
	touched map[string]time.Time
	checked map[string]checked // by the secret's digest
	// gen counts revocations on this replica. A check caches what it read
	// only if no revocation happened since it started reading, so a check
	// racing a revoke cannot put the revoked token back into the cache.
	gen uint64
}

// sealKey is a token key and its cipher.
type sealKey struct {
	raw  []byte
	aead cipher.AEAD
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

// New returns Tokens over store with one server-side key.
func New(store Store, key []byte, now func() time.Time) (*Tokens, error) {
	return NewWithKeys(store, Keys{Current: key}, now)
}

// NewWithKeys returns Tokens over store with the keys of a rotation:
// verifiers are opened with the current key, then the previous one.
func NewWithKeys(store Store, ks Keys, now func() time.Time) (*Tokens, error) {
	if now == nil {
		now = time.Now
	}
	k := &Tokens{store: store, now: now, touched: map[string]time.Time{}, checked: map[string]checked{}}
	if err := k.SetKeys(ks); err != nil {
		return nil, err
	}
	return k, nil
}

// SetKeys replaces the keys in use (a server that reloads its key file
// after `token rotate-key --stage` or `--finish`): from now on tokens are
// sealed under ks.Current and verified with it, then ks.Previous. On an
// error the keys in use are left as they were. Safe to call while tokens
// are checked.
func (k *Tokens) SetKeys(ks Keys) error {
	var keys []sealKey
	for i, raw := range [][]byte{ks.Current, ks.Previous} {
		if raw == nil && i == 1 {
			break
		}
		sk, err := newSealKey(raw)
		if err != nil {
			return err
		}
		keys = append(keys, sk)
	}
	k.keys.Store(&keys)
	return nil
}

// keyring returns the keys in use, current first (read-only).
func (k *Tokens) keyring() []sealKey { return *k.keys.Load() }

func newSealKey(raw []byte) (sealKey, error) {
	if len(raw) < KeySize {
		return sealKey{}, fmt.Errorf("token key: %d bytes, need at least %d", len(raw), KeySize)
	}
	// The sealing key is derived, so that the same configured key never
	// serves two algorithms (the legacy HMAC uses it as it is).
	dk, err := hkdf.Key(sha256.New, raw, nil, "cadastre token verifiers v2", 32)
	if err != nil {
		return sealKey{}, err
	}
	b, err := aes.NewCipher(dk)
	if err != nil {
		return sealKey{}, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return sealKey{}, err
	}
	return sealKey{raw: raw, aead: g}, nil
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// A secret reads "cad_<id>_<random>": the ID finds the record, the whole
// string is what is verified. The prefix lets secret scanners recognise it.
const secretPrefix = "cad_"

// sealedV2 marks a sealed verifier; a legacy HMAC is exactly 32 bytes.
const sealedV2 = 2

func aadOf(id string) []byte { return []byte("cadastre token " + id) }

// seal makes the verifier of a secret's digest for token id under sk.
func (sk sealKey) seal(id string, digest []byte) []byte {
	nonce := make([]byte, sk.aead.NonceSize(), 1+sk.aead.NonceSize()+len(digest)+sk.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported systems
	}
	out := append([]byte{sealedV2}, nonce...)
	return sk.aead.Seal(out, nonce, digest, aadOf(id))
}

// open returns the digest a sealed verifier holds, if sk sealed it.
func (sk sealKey) open(id string, mac []byte) ([]byte, bool) {
	n := sk.aead.NonceSize()
	if len(mac) < 1+n || mac[0] != sealedV2 {
		return nil, false
	}
	d, err := sk.aead.Open(nil, mac[1:1+n], mac[1+n:], aadOf(id))
	return d, err == nil
}

func (sk sealKey) legacy(secret string) []byte {
	m := hmac.New(sha256.New, sk.raw)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// verify says whether secret matches t's verifier under one of the keys.
func (k *Tokens) verify(t Token, secret string, digest []byte) bool {
	if len(t.MAC) == sha256.Size {
		ok := false
		for _, sk := range k.keyring() {
			ok = hmac.Equal(sk.legacy(secret), t.MAC) || ok
		}
		return ok
	}
	for _, sk := range k.keyring() {
		if d, ok := sk.open(t.ID, t.MAC); ok {
			return hmac.Equal(d, digest)
		}
	}
	return false
}

// Spec is what an admin asks for.
type Spec struct {
	Name      string
	Scope     Scope
	Tenant    string
	Expires   time.Duration  // 0: never
	AllowFrom []netip.Prefix // empty: any client address
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
	// The name and tenant are printed by `token list`: no control
	// characters, as in every text field of the register.
	if err := registry.CheckText("token name", s.Name); err != nil {
		return Token{}, "", fmt.Errorf("token: %w", err)
	}
	if err := registry.CheckText("tenant", s.Tenant); err != nil {
		return Token{}, "", fmt.Errorf("token: %w", err)
	}
	if s.Tenant != "" && s.Scope == ScopeAdmin {
		return Token{}, "", fmt.Errorf("token: an admin token cannot be bound to a tenant (admins change shared objects): %w", registry.ErrInvalid)
	}
	allow, err := checkAllowFrom(s.AllowFrom)
	if err != nil {
		return Token{}, "", err
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
	t := Token{ID: b32.EncodeToString(idb), Name: s.Name, Scope: s.Scope, Tenant: s.Tenant, CreatedAt: now, CreatedBy: registry.Actor(ctx), AllowFrom: allow}
	if s.Expires > 0 {
		e := now.Add(s.Expires)
		t.ExpiresAt = &e
	}
	secret := secretPrefix + t.ID + "_" + b32.EncodeToString(sec)
	digest := sha256.Sum256([]byte(secret))
	t.MAC = k.keyring()[0].seal(t.ID, digest[:])
	ev := registry.Event{At: now, Actor: registry.Actor(ctx), Action: "token.create", SubjectKind: "token", Subject: t.ID, After: mustJSON(t)}
	if err := k.store.InsertToken(ctx, t, ev); err != nil {
		if errors.Is(err, registry.ErrNotFound) && s.Tenant != "" {
			return Token{}, "", fmt.Errorf("token: tenant %s does not exist (an admin adds it first with `cadastre tenant add %s`): %w", s.Tenant, s.Tenant, registry.ErrNotFound)
		}
		return Token{}, "", fmt.Errorf("token: %w", err)
	}
	return t, secret, nil
}

// checkAllowFrom returns the list canonical (unmapped, deduplicated,
// sorted), or an error naming the entry that is wrong.
func checkAllowFrom(ps []netip.Prefix) ([]netip.Prefix, error) {
	if len(ps) > maxAllowFrom {
		return nil, fmt.Errorf("token: allow-from: %d prefixes, at most %d: %w", len(ps), maxAllowFrom, registry.ErrInvalid)
	}
	var out []netip.Prefix
	for _, p := range ps {
		if !p.IsValid() {
			return nil, fmt.Errorf("token: allow-from: invalid prefix: %w", registry.ErrInvalid)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Masked() != p {
			return nil, fmt.Errorf("token: allow-from %v: host bits set (did you mean %v?): %w", p, p.Masked(), registry.ErrInvalid)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out, nil
}

// allowed says whether t may be used from the client address from (the
// zero Addr: unknown, allowed only for tokens without a list).
func allowed(t Token, from netip.Addr) error {
	if len(t.AllowFrom) == 0 {
		return nil
	}
	from = from.Unmap()
	for _, p := range t.AllowFrom {
		if from.IsValid() && p.Contains(from) {
			return nil
		}
	}
	if !from.IsValid() {
		return fmt.Errorf("token %s: client address unknown, and the token is limited to %s: %w", t.ID, prefixList(t.AllowFrom), ErrAddress)
	}
	return fmt.Errorf("token %s: used from %v, outside its allow-from list %s: %w", t.ID, from, prefixList(t.AllowFrom), ErrAddress)
}

func prefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
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

// Check verifies a presented secret and returns its token, for callers
// that know no client address: a token with an AllowFrom list is refused.
func (k *Tokens) Check(ctx context.Context, secret string) (Token, error) {
	return k.CheckFrom(ctx, secret, netip.Addr{})
}

// CheckFrom verifies a secret presented by a client at address from and
// returns its token. A valid secret used from outside the token's
// AllowFrom list gives an error wrapping ErrAddress.
func (k *Tokens) CheckFrom(ctx context.Context, secret string, from netip.Addr) (Token, error) {
	id, ok := ParseID(secret)
	if !ok || len(secret) > 200 {
		return Token{}, ErrMalformed
	}
	sum := sha256.Sum256([]byte(secret))
	digest := sum[:]
	now := k.now()
	k.mu.Lock()
	c, hit := k.checked[string(digest)]
	gen := k.gen
	k.mu.Unlock()
	if hit && now.Before(c.until) && (c.tok.ExpiresAt == nil || now.Before(*c.tok.ExpiresAt)) {
		return c.tok, allowed(c.tok, from)
	}
	t, err := k.store.Token(ctx, id)
	if errors.Is(err, registry.ErrNotFound) {
		// Spend the same work as a real check, so timing tells nothing.
		fake := make([]byte, 61)
		fake[0] = sealedV2
		k.verify(Token{ID: id, MAC: fake}, secret, digest)
		return Token{}, ErrUnknown
	}
	if err != nil {
		return Token{}, err
	}
	if !k.verify(t, secret, digest) {
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
	if k.gen == gen {
		if len(k.checked) >= maxChecked {
			k.checked = map[string]checked{}
		}
		k.checked[string(digest)] = checked{tok: t, until: now.Add(checkTTL)}
	}
	k.mu.Unlock()
	if due {
		if err := k.store.TouchToken(ctx, id, now.UTC().Truncate(time.Microsecond)); err != nil {
			return Token{}, fmt.Errorf("token %s: record use: %w", id, err)
		}
	}
	return t, allowed(t, from)
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
	// The generation moves in the same critical section as the purge:
	// a check that read the token before the revoke committed either
	// cached it before this purge or sees the new generation and does
	// not cache it.
	k.mu.Lock()
	k.gen++
	for m, c := range k.checked {
		if c.tok.ID == id {
			delete(k.checked, m)
		}
	}
	k.mu.Unlock()
	return nil
}

// KeyState is how the stored verifiers stand against the keys held.
type KeyState struct {
	Current  int      // sealed under the current key
	Previous []string // IDs sealed under the previous key: a rotation to finish
	Legacy   []string // IDs of live tokens made before sealing (HMAC under the key they were made with)
	Unknown  []string // IDs whose verifier opens with neither key
	// Live counts the tokens neither revoked nor expired that are sealed
	// (not Legacy), and LiveOpen those of them whose verifier opens with a
	// key held: Live > 0 with LiveOpen 0 means the keys are not this
	// register's (a key file or $CADASTRE_TOKEN_KEY from elsewhere), and
	// every token would fail.
	Live, LiveOpen int
}

// KeyState reads every token and says under which key its verifier is.
func (k *Tokens) KeyState(ctx context.Context) (KeyState, error) {
	ts, err := k.store.Tokens(ctx)
	if err != nil {
		return KeyState{}, err
	}
	now := k.now()
	var s KeyState
	for _, t := range ts {
		if len(t.MAC) == sha256.Size {
			if t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt)) {
				s.Legacy = append(s.Legacy, t.ID)
			}
			continue
		}
		under := k.sealedUnder(t)
		if t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt)) {
			s.Live++
			if under >= 0 {
				s.LiveOpen++
			}
		}
		switch under {
		case 0:
			s.Current++
		case 1:
			s.Previous = append(s.Previous, t.ID)
		default:
			s.Unknown = append(s.Unknown, t.ID)
		}
	}
	return s, nil
}

// sealedUnder is the index of the key that opens t's verifier, or -1.
func (k *Tokens) sealedUnder(t Token) int {
	for i, sk := range k.keyring() {
		if _, ok := sk.open(t.ID, t.MAC); ok {
			return i
		}
	}
	return -1
}

// Rekey re-seals, in one transaction, every verifier not sealed under the
// key to (opening it with any key held), and writes one event naming the
// new key by its KeyID, never the key. Verifiers of tokens made before
// sealing cannot be re-keyed without their secret and are left as they
// are. A verifier that opens with no key held fails the whole re-key.
func (k *Tokens) Rekey(ctx context.Context, to []byte) (int, error) {
	dst, err := newSealKey(to)
	if err != nil {
		return 0, err
	}
	now := k.now().UTC().Truncate(time.Microsecond)
	n, err := k.store.RekeyTokens(ctx, func(t Token) ([]byte, error) {
		if len(t.MAC) == sha256.Size {
			return nil, nil
		}
		if _, ok := dst.open(t.ID, t.MAC); ok {
			return nil, nil
		}
		for _, sk := range k.keyring() {
			if d, ok := sk.open(t.ID, t.MAC); ok {
				return dst.seal(t.ID, d), nil
			}
		}
		return nil, fmt.Errorf("token %s: its verifier opens with no key held (key file from another register?): %w", t.ID, registry.ErrState)
	}, func(n int) registry.Event {
		return registry.Event{At: now, Actor: registry.Actor(ctx), Action: "token.rekey", SubjectKind: "token-key", Subject: KeyID(to),
			After: mustJSON(map[string]any{"key_id": KeyID(to), "tokens": n})}
	})
	if err != nil {
		return 0, fmt.Errorf("token key %s: re-key: %w", KeyID(to), err)
	}
	return n, nil
}

// Errors of Permits: what a valid token may not do.
var (
	// ErrScope is an operation that needs a stronger scope than the token's.
	ErrScope = errors.New("token scope too weak")
	// ErrTenantBound is an operation a tenant-bound token may not call.
	ErrTenantBound = errors.New("token bound to a tenant")
)

// Permits says whether t may call an operation that needs scope need;
// tenantOK marks operations a tenant-bound token may call (listing regions,
// working with its own assignments). It is the one rule the API and the web
// UI both apply, so a page never offers what the API would refuse.
func (t Token) Permits(need Scope, tenantOK bool) error {
	if t.Scope < need {
		return fmt.Errorf("this operation needs a token of scope %s; this one is %s: %w", need, t.Scope, ErrScope)
	}
	if t.Tenant != "" && !tenantOK {
		return fmt.Errorf("a tenant token may only list regions and work with its own assignments: %w", ErrTenantBound)
	}
	return nil
}
