package postgres

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// TestCidrRanges: the ranges of cidr values the pages and the import's
// free lists read assignments_prefix by (issue 16: the first and last
// addresses are no longer stored) hold exactly the prefixes they mean,
// in PostgreSQL's own order: withinRange the prefixes within p,
// fromValue the prefixes starting at an address or after it, supernets
// the prefixes holding p. Every prefix of two small address ranges (IPv4
// and IPv6, each length) is compared with what netip says.
func TestCidrRanges(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.FreshSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var all []netip.Prefix
	for _, base := range []string{"10.0.0.0/27", "fd00:0:0:1::/123"} {
		b := netip.MustParsePrefix(base)
		for bits := b.Bits() - 2; bits <= b.Addr().BitLen(); bits++ {
			for a := netip.PrefixFrom(b.Addr(), bits).Masked().Addr(); ; {
				p := netip.PrefixFrom(a, bits).Masked()
				all = append(all, p)
				next := prefix.Last(p).Next()
				if !next.IsValid() || !netip.PrefixFrom(b.Addr(), b.Bits()-2).Masked().Contains(next) {
					break
				}
				a = next
			}
		}
	}
	texts := make([]string, len(all))
	for i, p := range all {
		texts[i] = p.String()
	}
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE ps AS SELECT unnest($1::cidr[]) AS prefix`, texts); err != nil {
		t.Fatal(err)
	}
	read := func(t *testing.T, q string, args ...any) []netip.Prefix {
		t.Helper()
		rows, err := conn.Query(ctx, `SELECT prefix::text FROM ps WHERE `+q+` ORDER BY 1`, args...)
		got, err := collect(rows, err, func(rows rowscan.Scanner) (netip.Prefix, error) {
			var s string
			if err := rows.Scan(&s); err != nil {
				return netip.Prefix{}, err
			}
			return parsePrefix(s)
		})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return got
	}
	want := func(keep func(netip.Prefix) bool) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range all {
			if keep(p) {
				out = append(out, p)
			}
		}
		slices.SortFunc(out, func(a, b netip.Prefix) int { return compareText(a.String(), b.String()) })
		return out
	}
	for _, p := range all {
		lo, hi := withinRange(p)
		t.Run(fmt.Sprintf("within %s", p), func(t *testing.T) {
			got := read(t, `prefix >= $1::cidr AND prefix <= $2::cidr`, lo, hi)
			if w := want(func(q netip.Prefix) bool { return q.Bits() >= p.Bits() && p.Contains(q.Addr()) }); !slices.Equal(got, w) {
				t.Errorf("got %v, want %v", got, w)
			}
		})
		from := p.Addr()
		t.Run(fmt.Sprintf("from %s to the end of %s", from, p), func(t *testing.T) {
			got := read(t, `prefix >= $1::cidr AND prefix <= $2::cidr`, fromValue(from), hi)
			if w := want(func(q netip.Prefix) bool {
				return q.Addr().Is4() == from.Is4() && q.Addr().Compare(from) >= 0 && q.Addr().Compare(prefix.Last(p)) <= 0
			}); !slices.Equal(got, w) {
				t.Errorf("got %v, want %v", got, w)
			}
		})
		t.Run(fmt.Sprintf("holding %s", p), func(t *testing.T) {
			got := read(t, `prefix = ANY($1::cidr[])`, supernets(p))
			if w := want(func(q netip.Prefix) bool { return q.Bits() <= p.Bits() && q.Contains(p.Addr()) }); !slices.Equal(got, w) {
				t.Errorf("got %v, want %v", got, w)
			}
		})
	}
}

func compareText(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
