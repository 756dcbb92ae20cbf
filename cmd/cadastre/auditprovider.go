package main

import (
	"context"

	"github.com/cadastre-ipam/cadastre/geo"
)

// auditSelect picks what `audit` checks: the register's space, or with
// --provider a cloud provider's published ranges (a source added with
// --ranges), each prefix with the provider's region as its region.
func auditSelect(ctx context.Context, g geoBackend, opts geo.AuditOptions) (geo.AuditReport, error) {
	if opts.Provider != "" {
		return g.AuditProvider(ctx, opts)
	}
	return g.Audit(ctx, opts)
}
