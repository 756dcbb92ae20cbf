package geo

import (
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/cadastre-ipam/cadastre/registry"
)

// ExportMMDB writes the register's placements as an MMDB database in
// MaxMind's GeoIP2 layout (country.iso_code, subdivisions[0].iso_code
// without the country part, city.names.en, and cadastre.region), which
// standard readers such as mmdblookup and maxminddb-golang open. IPv4
// space is also reachable through the usual IPv6 aliases (::ffff:0:0/96,
// 2002::/16, 2001::/32).
func ExportMMDB(w io.Writer, places []registry.Placement, now time.Time) (int, error) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "cadastre-register",
		Description:             map[string]string{"en": "Where the operator's address space is used, from the cadastre register"},
		Languages:               []string{"en"},
		RecordSize:              28,
		IncludeReservedNetworks: true, // our own space may be private or documentation space
		BuildEpoch:              now.Unix(),
	})
	if err != nil {
		return 0, fmt.Errorf("export mmdb: %w", err)
	}
	n := 0
	for _, p := range places {
		l := p.Location
		if l.Country == "" {
			continue
		}
		rec := mmdbtype.Map{
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String(l.Country)},
			"cadastre": mmdbtype.Map{"region": mmdbtype.String(p.Region)},
		}
		if l.Subdivision != "" {
			rec["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(strings.TrimPrefix(l.Subdivision, l.Country+"-"))}}
		}
		if l.City != "" {
			rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(l.City)}}
		}
		pr := p.Prefix.Masked()
		ipn := &net.IPNet{IP: pr.Addr().AsSlice(), Mask: net.CIDRMask(pr.Bits(), pr.Addr().BitLen())}
		if err := tree.Insert(ipn, rec); err != nil {
			return n, fmt.Errorf("export mmdb: %v: %w", pr, err)
		}
		n++
	}
	if _, err := tree.WriteTo(w); err != nil {
		return n, fmt.Errorf("export mmdb: %w", err)
	}
	return n, nil
}
