package manage

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Key rollover, after RFC 7583.
//
// A ZSK rolls by pre-publication (§3.2.1): the successor enters the DNSKEY
// RRset Ipub = Dprp + TTL(DNSKEY) before the current key's lifetime ends,
// so that every cache that may hold the DNSKEY RRset has it when it starts
// signing; then the whole zone is re-signed with it in one build (Dsgn is
// one build), and the old key stays in the RRset for Iret = Dprp +
// the largest TTL of the zone, until no cache can hold a signature it made.
//
// A KSK (or a CSK) rolls by double-KSK (§3.3.2): the successor is
// published, signs after Ipub (the DNSKEY RRset, and for a CSK everything,
// signed by both), and from then the CDS/CDNSKEY show only it (RFC 7344).
// The old key goes only when the operator has confirmed that the parent
// publishes the new DS (Manager.ConfirmDS) and the old DS has had time to
// leave caches: Dprp + the parent's DS TTL. cadastre does not poll the
// parent: the operator, who changes it, says when it is done.

// RollStep is one change the rollover makes to a key: a successor to
// generate (Key.ID 0, only Role set) or a key's new state.
type RollStep struct {
	Key  zone.Key
	Prev zone.KeyState
	Why  string
}

// PlanRoll lists what is due at now for zone z with keys (the zone's,
// retired ones included) and the largest TTL it serves.
func PlanRoll(z zone.Zone, keys []zone.Key, maxTTL uint32, now time.Time) []RollStep {
	c := z.Config
	if !c.Signed {
		return nil
	}
	t := zone.Timing(c, maxTTL)
	var steps []RollStep
	set := func(k zone.Key, why string, fn func(*zone.Key)) {
		prev := k.State
		fn(&k)
		steps = append(steps, RollStep{Key: k, Prev: prev, Why: why})
	}
	roll := func(role zone.Role, lifetime time.Duration) {
		var active, waiting []zone.Key
		for _, k := range keys {
			if k.Role != role {
				continue
			}
			switch {
			case k.State == zone.KeyActive:
				active = append(active, k)
			case zone.Incoming(k):
				waiting = append(waiting, k)
			}
		}
		// A successor whose DNSKEY has reached every cache takes over.
		for _, k := range waiting {
			if now.Sub(zone.PublishedSince(k)) >= t.Ipub {
				set(k, "successor published for Ipub", func(k *zone.Key) { k.State, k.ActiveAt = zone.KeyActive, now })
				if role == zone.ZSK {
					// Pre-publication: the old ZSK stops signing as the new one starts.
					for _, o := range active {
						set(o, "replaced by its successor", func(k *zone.Key) { k.State, k.InactiveAt = zone.KeyPublished, now })
					}
				}
			}
		}
		// Time to publish a successor, Ipub before the lifetime ends.
		if lifetime > 0 && len(waiting) == 0 && len(active) == 1 && now.Sub(zone.ActiveSince(active[0])) >= lifetime-t.Ipub {
			steps = append(steps, RollStep{Key: zone.Key{ZoneID: z.ID, Role: role, Algorithm: active[0].Algorithm}, Why: "lifetime ends in Ipub"})
		}
	}
	sep := zone.CSK
	if slices.ContainsFunc(keys, func(k zone.Key) bool { return k.Role == zone.KSK && k.State != zone.KeyRetired }) {
		sep = zone.KSK
		roll(zone.ZSK, c.ZSKLifetime)
	}
	roll(sep, c.KSKLifetime)

	for _, k := range keys {
		// An old ZSK leaves when no cache can hold its signatures.
		if k.Role == zone.ZSK && zone.Outgoing(k) && now.Sub(k.InactiveAt) >= t.IretZSK {
			set(k, "no signature of it left in caches", func(k *zone.Key) { k.State, k.RemovedAt = zone.KeyRetired, now })
		}
	}
	// An old KSK/CSK leaves once the parent's DS for its successor is
	// confirmed and the old DS has expired from caches.
	if n, ok := zone.NewestSEP(keys, sep); ok && !n.DSAt.IsZero() {
		for _, k := range keys {
			if k.Role != sep || k.State != zone.KeyActive || k.ID == n.ID {
				continue
			}
			if now.Sub(n.DSAt) >= t.IretKSK && (sep != zone.CSK || now.Sub(zone.ActiveSince(n)) >= t.IretSig) {
				set(k, "parent's DS for the successor confirmed and old DS expired", func(k *zone.Key) {
					k.State, k.InactiveAt, k.RemovedAt = zone.KeyRetired, now, now
				})
			}
		}
	}
	return steps
}

// ApplyRoll carries out steps for zone z.
func (m *Manager) ApplyRoll(ctx context.Context, z zone.Zone, steps []RollStep) error {
	for _, s := range steps {
		if s.Key.ID == 0 {
			if _, err := m.addKey(ctx, z, s.Key.Role, s.Key.Algorithm, zone.KeyPublished, s.Why); err != nil {
				return err
			}
			continue
		}
		e := m.event(ctx, "key.roll", zone.SubjectKey, fmt.Sprintf("%s %s %d %s -> %s", z.Name, s.Key.Role, s.Key.Tag, s.Prev, s.Key.State), nil, s.Key)
		e.SubjectID = s.Key.ID
		if err := m.store.UpdateKey(ctx, s.Key, s.Prev, e); err != nil {
			return fmt.Errorf("zone %s: key %d: %w", z.Name, s.Key.Tag, err)
		}
	}
	if len(steps) == 0 {
		return nil
	}
	// A split child's DS in its parent follows the keys (split.go).
	return m.syncParentDS(ctx, z)
}

// addKey generates a key with a tag no other key of the zone (retired
// ones included) has, and stores it in state.
func (m *Manager) addKey(ctx context.Context, z zone.Zone, role zone.Role, alg zone.Algorithm, state zone.KeyState, why string) (zone.Key, error) {
	if m.sealer == nil {
		return zone.Key{}, fmt.Errorf("zone %s: no sealing key configured for private keys: %w", z.Name, registry.ErrInvalid)
	}
	keys, err := m.store.Keys(ctx, z.ID)
	if err != nil {
		return zone.Key{}, err
	}
	used := map[uint16]bool{}
	for _, k := range keys {
		used[k.Tag] = true
	}
	k, err := m.generate(z.Name, role, alg, used)
	if err != nil {
		return zone.Key{}, err
	}
	now := m.now().UTC().Truncate(time.Microsecond)
	k.ZoneID, k.CreatedAt, k.State, k.PublishedAt = z.ID, now, state, now
	if state == zone.KeyActive {
		k.ActiveAt = now
	}
	e := m.event(ctx, "key.add", zone.SubjectKey, fmt.Sprintf("%s %s %d %s", z.Name, role, k.Tag, why), nil, k)
	if err := m.store.InsertKey(ctx, &k, e); err != nil {
		return zone.Key{}, fmt.Errorf("zone %s: key %d: %w", z.Name, k.Tag, err)
	}
	return k, nil
}

// Roll starts a rollover of a zone's ZSK (role ZSK) or of its KSK or CSK
// (any other role) now, whatever the lifetimes say: the successor is
// published, and the server carries on with the RFC 7583 timing.
func (m *Manager) Roll(ctx context.Context, zoneName string, ksk bool) (zone.Key, error) {
	z, err := m.Zone(ctx, zoneName)
	if err != nil {
		return zone.Key{}, err
	}
	if !z.Config.Signed {
		return zone.Key{}, fmt.Errorf("zone %s: not signed: %w", z.Name, registry.ErrState)
	}
	keys, err := m.store.Keys(ctx, z.ID)
	if err != nil {
		return zone.Key{}, err
	}
	role := zone.ZSK
	if ksk {
		role = zone.CSK
		if slices.ContainsFunc(keys, func(k zone.Key) bool { return k.Role == zone.KSK && k.State != zone.KeyRetired }) {
			role = zone.KSK
		}
	}
	var cur *zone.Key
	for i, k := range keys {
		if k.Role == role && zone.Incoming(k) {
			return zone.Key{}, fmt.Errorf("zone %s: a %s rollover is under way (key %d): %w", z.Name, role, k.Tag, registry.ErrState)
		}
		if k.Role == role && k.State == zone.KeyActive {
			cur = &keys[i]
		}
	}
	if cur == nil {
		return zone.Key{}, fmt.Errorf("zone %s: no active %s to roll (ZSKs exist only with --split): %w", z.Name, role, registry.ErrState)
	}
	k, err := m.addKey(ctx, z, role, cur.Algorithm, zone.KeyPublished, "rollover requested")
	if err != nil {
		return zone.Key{}, err
	}
	// A split child's parent publishes the successor's DS at once
	// (split.go).
	if err := m.syncParentDS(ctx, z); err != nil {
		return k, err
	}
	return k, nil
}

// ConfirmDS records that the parent zone now publishes the DS of the
// zone's newest KSK (or CSK), the one `zone ds` prints, so that a KSK
// rollover may retire the old key once the old DS has left caches.
func (m *Manager) ConfirmDS(ctx context.Context, zoneName string) (zone.Key, error) {
	z, err := m.Zone(ctx, zoneName)
	if err != nil {
		return zone.Key{}, err
	}
	keys, err := m.store.Keys(ctx, z.ID)
	if err != nil {
		return zone.Key{}, err
	}
	role := zone.CSK
	if slices.ContainsFunc(keys, func(k zone.Key) bool { return k.Role == zone.KSK && k.State != zone.KeyRetired }) {
		role = zone.KSK
	}
	n, ok := zone.NewestSEP(keys, role)
	if !ok {
		return zone.Key{}, fmt.Errorf("zone %s: no active key with a DS: %w", z.Name, registry.ErrState)
	}
	if !n.DSAt.IsZero() {
		return n, nil
	}
	n.DSAt = m.now().UTC().Truncate(time.Microsecond)
	e := m.event(ctx, "key.ds", zone.SubjectKey, fmt.Sprintf("%s %s %d DS confirmed", z.Name, n.Role, n.Tag), nil, n)
	e.SubjectID = n.ID
	if err := m.store.UpdateKey(ctx, n, n.State, e); err != nil {
		return zone.Key{}, fmt.Errorf("zone %s: key %d: %w", z.Name, n.Tag, err)
	}
	return n, nil
}
