package web

import (
	"fmt"
	"html/template"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// funcs are the template functions every template may use.
func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		// asset is a static file's URL with its content hash: {{asset "cadastre.css"}}.
		"asset":  func(p string) string { return "/static/" + p + "?v=" + s.assetV[p] },
		"day":    func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"when":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"pct":    func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) + " %" },
		"count":  fmtCount,
		"amount": fmtAmount,
		"famOf":  famOf,
		// assignmentRows: the rows of a table of assignments.
		"assignmentRows": assignmentRows,
		"days": func(d *float64) string {
			if d == nil {
				return "—"
			}
			return strconv.FormatFloat(math.Floor(*d), 'f', 0, 64) + " days"
		},
		"family":    func(f int) string { return "IPv" + strconv.Itoa(f) },
		"addrURL":   func(a netip.Addr) string { return "/ip/" + a.String() },
		"prefixURL": func(p netip.Prefix) string { return "/ip/" + p.Addr().String() },
		// spaceURL is prefixURL in a named space: two spaces may hold
		// the address, and the page then asks which.
		"spaceURL": func(p netip.Prefix, space string) string {
			if space == "" || space == registry.GlobalSpace {
				return "/ip/" + p.Addr().String()
			}
			return "/ip/" + p.Addr().String() + "?space=" + url.QueryEscape(space)
		},
		"add":    func(a, b int) int { return a + b },
		"mul100": func(f float64) float64 { return 100 * f },
		"states": func() []string { return []string{"assigned", "quarantined", "released"} },
		"pageOf": func(as []registry.Assignment) assignmentList { return assignmentList{Items: as} },
	}
}

// fmtCount prints an address count readably: exact below a million,
// then with a unit (2^n for IPv6 sizes).
func fmtCount(c prefix.Count) string {
	s := c.String()
	if len(s) <= 7 {
		return groupDigits(s)
	}
	if f := c.Float64(); f > 0 {
		if f < 1e12 {
			return fmt.Sprintf("%.2f M", f/1e6)
		}
		return fmt.Sprintf("2^%.1f", math.Log2(f))
	}
	return s
}

// famOf is p's address family, 4 or 6.
func famOf(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

// fmtAmount prints a count of family's space readably and exactly:
// IPv4 in addresses; IPv6 in addresses while less than a /64 (a few
// hundred thousand /128s), else in prefixes of unit (the report's Unit,
// 64 where the caller has none): "65,536 /64s", never 2^80.
func fmtAmount(c prefix.Count, family, unit int) string {
	if family == 4 {
		return groupDigits(c.String())
	}
	if unit <= 0 || unit > 64 {
		unit = 64
	}
	if c.Rsh(64).IsZero() {
		if c.String() == "1" {
			return "1 address"
		}
		return groupDigits(c.String()) + " addresses"
	}
	return groupDigits(c.Rsh(128-unit).String()) + " /" + strconv.Itoa(unit) + "s"
}

func groupDigits(s string) string {
	n := len(s)
	if n <= 3 {
		return s
	}
	out := make([]byte, 0, n+n/3)
	for i := 0; i < n; i++ {
		if i > 0 && (n-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func fmtPct(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) + " %" }
