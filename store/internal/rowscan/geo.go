package rowscan

import (
	"fmt"
	"net/netip"

	"github.com/cadastre-ipam/cadastre/geo"
)

// GeoEntry scans a row of source_entries' first, bits, country,
// subdivision, city into an Entry of the named source.
func GeoEntry(rows Scanner, source string) (geo.Entry, error) {
	var first []byte
	var bits int
	var en geo.Entry
	if err := rows.Scan(&first, &bits, &en.Location.Country, &en.Location.Subdivision, &en.Location.City); err != nil {
		return en, err
	}
	a, ok := netip.AddrFromSlice(first)
	if !ok {
		return en, fmt.Errorf("source %s: stored address of %d bytes", source, len(first))
	}
	en.Prefix = netip.PrefixFrom(a, bits)
	return en, nil
}

// Rows is a result set: *sql.Rows and pgx.Rows both are.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// GeoEntriesAt collects the rows of a query for the entries whose first
// address is one of firsts (geo.ContainingFirsts of an address): those
// whose length makes them contain the address, in the order read.
func GeoEntriesAt(rows Rows, source string, firsts []netip.Addr) ([]geo.Entry, error) {
	var out []geo.Entry
	for rows.Next() {
		en, err := GeoEntry(rows, source)
		if err != nil {
			return nil, err
		}
		if b := en.Prefix.Bits(); b >= 0 && b < len(firsts) && firsts[b] == en.Prefix.Addr() {
			out = append(out, en)
		}
	}
	return out, rows.Err()
}
