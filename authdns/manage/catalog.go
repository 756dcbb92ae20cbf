package manage

import (
	"context"
	"fmt"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// checkCatalog checks a catalog zone (RFC 9432) to add: a forward zone,
// one only (a second would list the same zones), with "invalid." as its
// name server unless others are given. Its records are made from the
// other zones (zone.CatalogMembers), so it takes no glue.
func checkCatalog(spec *ZoneSpec, have []zone.Zone) error {
	if !spec.Config.Catalog {
		return nil
	}
	if spec.Kind == zone.Reverse || spec.Synthesize != "" || spec.Prefix.IsValid() {
		return fmt.Errorf("catalog zone %s: a catalog is a forward zone; --prefix and --synthesize do not apply: %w", spec.Name, registry.ErrInvalid)
	}
	if len(spec.Glue) > 0 {
		return fmt.Errorf("catalog zone %s: --ns-addr: a catalog's name server is %s, not resolved (RFC 9432 §4.1): %w", spec.Name, zone.CatalogNS, registry.ErrInvalid)
	}
	for _, o := range have {
		if o.Config.Catalog {
			return fmt.Errorf("catalog zone %s: %s is the catalog already; it lists every zone (remove it first to rename it): %w", spec.Name, o.Name, registry.ErrExists)
		}
	}
	if len(spec.Config.NS) == 0 {
		spec.Config.NS = []string{zone.CatalogNS}
	}
	return nil
}

// Catalog is the catalog zone, if there is one.
func (m *Manager) Catalog(ctx context.Context) (zone.Zone, bool, error) {
	zs, err := m.store.Zones(ctx)
	if err != nil {
		return zone.Zone{}, false, err
	}
	for _, z := range zs {
		if z.Config.Catalog {
			return z, true, nil
		}
	}
	return zone.Zone{}, false, nil
}

// refuseCatalogRecord refuses a static record in a catalog zone, whose
// records cadastre makes from the zones it serves.
func refuseCatalogRecord(z zone.Zone) error {
	if z.Config.Catalog {
		return fmt.Errorf("zone %s: a catalog zone's records are made from the zones served (RFC 9432); add or remove zones instead: %w", z.Name, registry.ErrInvalid)
	}
	return nil
}
