package registry

import (
	"context"
	"errors"
)

// CheckRecordName decides whether a caller bound to tenant (below admin)
// may write a static DNS record at name, by the name rules of tenants:
// only under the tenant's suffixes, and never at a name an assignment of
// another tenant holds, a zone's apex, a name server or glue. A static
// record already at the name does not stop it (an ACME client writes a
// second TXT beside the first). An admin caller (ctx not Restricted) may
// write any name: the zone's own rules still apply.
func (r *Registry) CheckRecordName(ctx context.Context, tenant, name string) error {
	if !IsRestricted(ctx) {
		return nil
	}
	if tenant == "" {
		return invalid("name %s: static records may be written only by an admin or by a token bound to a tenant", name)
	}
	return viewOne(ctx, r.store, func(tx Tx) error {
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
		kind, held, err := tx.NameHolder(ctx, fqdn(name), tenant)
		if err != nil {
			return err
		}
		if held && kind != HolderRecord {
			return &NameTakenError{Name: name, Holder: kind}
		}
		return nil
	})
}
