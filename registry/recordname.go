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
		return checkRecordWrite(ctx, tx, tenant, name, typ)
	})
}

// CheckRecordWriteIn is CheckRecordWrite inside tx, the transaction that
// writes the record: in a write transaction the name's holder is looked
// up under the name's lock (NameHolder), as an allocation's is, so that
// the answer holds until the record is written. A check made in a read
// view before the write let an allocation of the same name commit in
// between, and both then held it.
//
// An admin caller (ctx not Restricted) may write any name but one a live
// assignment of a tenant other than tenant holds (CheckLiveNameIn).
func (r *Registry) CheckRecordWriteIn(ctx context.Context, tx Tx, tenant, name, typ string) error {
	if !IsRestricted(ctx) {
		return CheckLiveNameIn(ctx, tx, tenant, name)
	}
	if tenant == "" {
		return invalid("name %s: static records may be written only by an admin or by a token bound to a tenant", name)
	}
	return checkRecordWrite(ctx, tx, tenant, name, typ)
}

// checkRecordWrite applies the rules of CheckRecordWrite in tx for a
// restricted caller bound to tenant.
func checkRecordWrite(ctx context.Context, tx Tx, tenant, name, typ string) error {
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
	if err != nil {
		return err
	}
	if held && kind != HolderRecord {
		return &NameTakenError{Name: name, Holder: kind}
	}
	return nil
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
