package registry

import (
	"context"
	"errors"
	"strings"
)

// delegating are the record types that hand a name, and everything under
// it, to other servers (NS, and DS that makes the delegation secure) or
// to another tree (DNAME): the zone's operator no longer answers for the
// names below.
var delegating = map[string]bool{"NS": true, "DS": true, "DNAME": true}

// CheckRecordName decides whether a caller bound to tenant (below admin)
// may write a static DNS record at name, by the name rules of tenants:
// only under the tenant's suffixes, and never at a name an assignment of
// another tenant holds, a zone's apex, a name server or glue. A static
// record already at the name does not stop it (an ACME client writes a
// second TXT beside the first). An admin caller (ctx not Restricted) may
// write any name: the zone's own rules still apply.
func (r *Registry) CheckRecordName(ctx context.Context, tenant, name string) error {
	return r.CheckRecordWrite(ctx, tenant, name, "")
}

// CheckRecordWrite is CheckRecordName for a record of type typ (as
// written: "NS", "txt"; "" for any but the delegating types): a caller
// below admin writes (or deletes) NS, DS and DNAME records only for a
// tenant an admin allowed to delegate (Tenant.MayDelegate). Otherwise a
// tenant could hand names under its suffix to servers the operator does
// not run, hiding them from the operator's zone, its DNSSEC and its
// secondaries.
func (r *Registry) CheckRecordWrite(ctx context.Context, tenant, name, typ string) error {
	if !IsRestricted(ctx) {
		return nil
	}
	if tenant == "" {
		return invalid("name %s: static records may be written only by an admin or by a token bound to a tenant", name)
	}
	return viewOne(ctx, r.store, func(tx Tx) error {
		return checkRecordWrite(ctx, tx, tenant, name, typ, false)
	})
}

// CheckRecordWriteIn is CheckRecordWrite inside tx, the transaction that
// writes the record: in a write transaction the name's holder is looked
// up under the name's lock (NameHolder), as an allocation's is, so that
// the answer holds until the record is written. A check made in a read
// view before the write let an allocation of the same name commit in
// between, and both then held it.
//
// Here, where the record is written, a record a delegation hides is
// refused too (Occluded): one at or below a delegation point but the
// delegation's own NS and DS.
//
// An admin caller (ctx not Restricted) may write any name but one a live
// assignment of a tenant other than tenant holds, or one a delegation
// hides (CheckAdminRecordIn).
func (r *Registry) CheckRecordWriteIn(ctx context.Context, tx Tx, tenant, name, typ string) error {
	if !IsRestricted(ctx) {
		return CheckAdminRecordIn(ctx, tx, tenant, name, typ)
	}
	if tenant == "" {
		return invalid("name %s: static records may be written only by an admin or by a token bound to a tenant", name)
	}
	if err := fenceDelegation(ctx, tx, typ); err != nil {
		return err
	}
	return checkRecordWrite(ctx, tx, tenant, name, typ, true)
}

// fenceDelegation holds every DNS name (NameLocker) in tx, the
// transaction that writes a record of type typ, when typ delegates (NS,
// DNAME). The names a delegation hides are checked by their writers
// (allocations, renames, records) under their own names' locks, not the
// delegation's: without the fence, an allocation naming
// vm.lab.cloud.example and an NS record at lab.cloud.example committing
// at once would each check before the other's commit, and both be
// stored. Every writer of a name holds the fence shared; this waits for
// them, and they for it. A store that serialises its writers is no
// NameLocker, and needs none.
func fenceDelegation(ctx context.Context, tx Tx, typ string) error {
	if typ := strings.ToUpper(typ); typ != "NS" && typ != "DNAME" {
		return nil
	}
	if nl, ok := tx.(NameLocker); ok {
		return nl.LockAllNames(ctx)
	}
	return nil
}

// CheckAdminRecordIn is the name rule of a static record of type typ at
// name written by an admin (or bound to no tenant: the CLI, a zone import,
// an RFC 2136 update), asked in tx, the transaction that writes it, under
// the name's lock: a name a live assignment of a tenant other than tenant
// holds is refused (CheckLiveNameIn), and so is a record a delegation
// hides (Occluded) but an address record below one, which may be glue
// (the address of a name server of this or another delegation, given
// before or after its NS). An admin too: its record would be stored,
// listed and transferred, and never answered.
func CheckAdminRecordIn(ctx context.Context, tx Tx, tenant, name, typ string) error {
	if err := fenceDelegation(ctx, tx, typ); err != nil {
		return err
	}
	kind, held, err := tx.NameHolder(ctx, fqdn(name), tenant)
	if err != nil || !held {
		return err
	}
	if kind == HolderAssignment {
		return &NameTakenError{Name: name, Holder: kind}
	}
	if typ := strings.ToUpper(typ); kind == HolderBelowDelegation && (typ == "A" || typ == "AAAA") {
		return nil
	}
	return Occluded(name, typ, kind)
}

// Occluded refuses (NameTakenError) a static record of type typ at name,
// whose holder NameHolder says is kind, when a delegation hides it: at a
// delegation point anything but its NS and DS records, below one
// anything (the address records of its name servers, glue, are held as
// HolderNameServer or HolderGlue, never as below a delegation). The zone
// answers those names with a referral to the delegation's servers, so
// such a record would never be served. Other kinds are not its business.
func Occluded(name, typ string, kind HolderKind) error {
	switch typ := strings.ToUpper(typ); {
	case kind == HolderBelowDelegation:
	case kind == HolderDelegation && typ != "NS" && typ != "DS":
	default:
		return nil
	}
	return &NameTakenError{Name: name, Holder: kind}
}

// checkRecordWrite applies the rules of CheckRecordWrite in tx for a
// restricted caller bound to tenant; written says the record is being
// written here (not deleted, listed or checked ahead of its write
// transaction), where a record a delegation hides is refused too.
func checkRecordWrite(ctx context.Context, tx Tx, tenant, name, typ string, written bool) error {
	t, err := tx.TenantByName(ctx, tenant)
	if errors.Is(err, ErrNotFound) {
		return noTenant(tenant)
	}
	if err != nil {
		return err
	}
	if err := suffixRule(t, tenant, name); err != nil {
		return err
	}
	if typ := strings.ToUpper(typ); delegating[typ] && !t.MayDelegate {
		return invalid("record %s %s: %s records hand the name and all below it to other servers or another tree; tenant %s may not delegate (an admin writes them, or allows it: cadastre tenant update %s --may-delegate)", name, typ, typ, tenant, tenant)
	}
	kind, held, err := tx.NameHolder(ctx, fqdn(name), tenant)
	if err != nil || !held || kind == HolderRecord {
		return err
	}
	if kind == HolderDelegation || kind == HolderBelowDelegation {
		// A record there may be deleted, and is listed: the tenant's
		// name, which only a delegation (the operator's, or its own)
		// hides.
		if !written {
			return nil
		}
		return Occluded(name, typ, kind)
	}
	return &NameTakenError{Name: name, Holder: kind}
}

// CheckLiveNameIn refuses (NameTakenError, HolderAssignment) a name that
// a live (assigned or quarantined) assignment of a tenant other than
// tenant holds ("" for a caller bound to none: an admin, the CLI, an RFC
// 2136 update), asked in tx, the transaction that writes the name (under
// the name's lock, as an allocation asks). Admins name freely, but a
// static record at a tenant's live name (an A beside its VM's) would make
// the name answer for two holders (issue 10).
func CheckLiveNameIn(ctx context.Context, tx Tx, tenant, name string) error {
	kind, held, err := tx.NameHolder(ctx, fqdn(name), tenant)
	if err != nil {
		return err
	}
	if held && kind == HolderAssignment {
		return &NameTakenError{Name: name, Holder: kind}
	}
	return nil
}
