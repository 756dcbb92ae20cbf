package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns; the header is upper case like kubectl's.
func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// count prints an address count exactly while it is readable, and as a
// power of two beyond that (an IPv6 /32 holds 2^96 addresses).
func count(c prefix.Count) string {
	if v, ok := c.Uint64(); ok && v < 1<<40 {
		return strconv.FormatUint(v, 10)
	}
	return fmt.Sprintf("2^%.1f", math.Log2(c.Float64()))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

func assignmentRows(as []registry.Assignment) [][]string {
	rows := make([][]string, 0, len(as))
	for _, a := range as {
		borrowed := "-"
		if a.Relocation != nil {
			borrowed = "from " + a.Relocation.FromRegion + " (" + a.Relocation.Prefix.String() + ")"
		}
		state := string(a.State)
		if a.QuarantineUntil != nil && a.State == registry.StateQuarantined {
			state += " until " + day(*a.QuarantineUntil)
		}
		rows = append(rows, []string{strconv.FormatInt(a.ID, 10), a.Prefix.String(), a.Region, a.Pool.String(),
			dash(a.Tenant), dash(a.Resource), dash(a.Name), state, borrowed})
	}
	return rows
}

const assignmentHeader = "ID\tPREFIX\tREGION\tPOOL\tTENANT\tRESOURCE\tNAME\tSTATE\tBORROWED"
