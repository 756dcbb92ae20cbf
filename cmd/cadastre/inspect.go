package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/iso3166"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

func newShowCmd(a *app) *cobra.Command {
	var asJSON, all bool
	var limit int
	var space, after string
	c := &cobra.Command{
		Use:   "show PREFIX|IP",
		Short: "Tell which block, pool, region and assignment hold an address, and their history",
		Long: `Tell which block, pool, region and assignment hold an address or prefix, and
the history of each. Given exactly a pool, show prints its summary (size, used,
free by prefix length, the units lent out of it) and a page of its assignments:
live ones first in address order, then released ones by ID. Only that page is
read, from the file or by the server; the last line names the cursor of the next
page (--after: live.PREFIX or past.ID; a live.ID cursor, from before live ones
came in address order, is refused).
Private space is looked up in the space whose pool holds it; --space names one
when several spaces hold the address and no pool does.`,
		Example: `  cadastre show 191.232.0.5
  cadastre show 2603:1030::/64 --json
  cadastre show 191.232.0.0/16 --limit 100 --after live.191.232.4.17/32
  cadastre show 10.1.2.3 --space vpc-a`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, _, err := prefix.ParsePrefixOrAddr(args[0])
			if err != nil {
				return usageError{err}
			}
			switch {
			case all:
				limit = -1
			case limit <= 0:
				return usagef("--limit %d: give a positive number, or --all", limit)
			}
			reg, err := a.lifeBackend(cmd.Context())
			if err != nil {
				return err
			}
			// Only the page asked for is read, locally or by the server.
			h, err := reg.ShowWith(cmd.Context(), p, registry.ShowOptions{Space: space, Limit: limit, After: after})
			if err != nil {
				return err
			}
			if asJSON {
				h.Events = nonNil(h.Events)
				return writeJSON(a.cfg.stdout, h)
			}
			return printHolding(a.cfg.stdout, h)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().IntVar(&limit, "limit", registry.DefaultShowLimit, "show POOL: how many of its assignments to list")
	c.Flags().BoolVar(&all, "all", false, "show POOL: list every assignment")
	c.Flags().StringVar(&after, "after", "", "show POOL: the page after this cursor (as the previous page printed it)")
	c.Flags().StringVar(&space, "space", "", "look in this space (default: the global space; a private address: the one space holding it)")
	return c
}

// printTags prints an object's tags under it, nothing when it has none.
func printTags(w io.Writer, t registry.Tags) {
	if len(t) > 0 {
		fmt.Fprintf(w, "              tags %s\n", safe(t.String()))
	}
}

// printHolding prints what holds the query; for a pool, its summary and
// the page of its assignments h holds.
func printHolding(out io.Writer, h registry.Holding) error {
	// Every stored text is escaped on its way out (see safe).
	w := &lineEscaper{w: out}
	b := h.Block
	fmt.Fprintf(w, "%s\n  block       %s  %s", h.Query, b.Prefix, b.Source)
	if b.Registry != "" {
		fmt.Fprintf(w, ", %s", registry.RegistryName(b.Registry))
	}
	if b.RegisteredCountry != "" {
		fmt.Fprintf(w, ", registered in %s", b.RegisteredCountry)
	}
	if b.From != "" {
		fmt.Fprintf(w, ", from %s", safe(b.From))
	}
	if b.Price != nil {
		fmt.Fprintf(w, ", %s", b.Price)
	}
	if b.Date != "" {
		fmt.Fprintf(w, ", %s", b.Date)
	}
	if b.Space != "" && b.Space != registry.GlobalSpace {
		fmt.Fprintf(w, ", space %s", b.Space)
	}
	fmt.Fprintln(w)
	printTags(w, b.Tags)
	if h.Pool == nil {
		fmt.Fprintln(w, "  pool        - (in no pool)")
	} else {
		fmt.Fprintf(w, "  pool        %s  region %s", h.Pool.Prefix, h.Pool.Region)
		if h.Pool.Purpose != "" {
			fmt.Fprintf(w, ", %s", safe(h.Pool.Purpose))
		}
		fmt.Fprintln(w)
		printTags(w, h.Pool.Tags)
	}
	if r := h.Relocation; r != nil {
		fmt.Fprintf(w, "  relocation  %s moved from %s to %s on %s: %s\n", r.Prefix, r.FromRegion, r.ToRegion, day(r.CreatedAt), safe(r.Reason))
	}
	if sum := h.Summary; sum != nil {
		fam := prefix.Family(h.Query)
		u := func(c prefix.Count) string { return inUnit(c, fam, 64) }
		fmt.Fprintf(w, "  size        %s  assigned %s  quarantined %s  free %s  used %.1f%%\n", u(sum.Size), handedOut(sum.Assigned, fam, sum.AssignedByLength), u(sum.Quarantined), u(sum.Free), 100*sum.Utilization)
		var free []string
		for _, f := range sum.FreeByLength {
			free = append(free, fmt.Sprintf("%d x /%d", f.Count, f.Bits))
		}
		fmt.Fprintf(w, "  free by length  %s\n", dash(strings.Join(free, ", ")))
		for _, c := range sum.Children {
			fmt.Fprintf(w, "  └ lent       %s  to region %s\n", c.Prefix, c.Region)
		}
		shown := h.Assignments
		fmt.Fprintf(w, "assignments (%s live", count(prefix.CountOf(uint64(sum.Live))))
		if h.Next != "" {
			fmt.Fprintf(w, "; this page %d, next with --after %s, or --limit N, --all", len(shown), h.Next)
		}
		fmt.Fprintln(w, "):")
		rows := make([][]string, 0, len(shown))
		for _, as := range shown {
			rows = append(rows, []string{strconv.FormatInt(as.ID, 10), as.Prefix.String(), string(as.State), safe(dash(as.Tenant)), safe(dash(as.Resource)), safe(dash(as.Name))})
		}
		if err := table(w, "ID\tPREFIX\tSTATE\tTENANT\tRESOURCE\tNAME", rows); err != nil {
			return err
		}
	} else if as := h.Assignment; as != nil {
		fmt.Fprintf(w, "  assignment  %d  %s  %s  tenant %s  resource %s  name %s\n", as.ID, as.Prefix, as.State, safe(dash(as.Tenant)), safe(dash(as.Resource)), safe(dash(as.Name)))
		printTags(w, as.Tags)
	} else {
		fmt.Fprintln(w, "  assignment  - (free)")
	}
	for _, p := range h.Past {
		fmt.Fprintf(w, "  earlier     %d  %s  %s  tenant %s  %s\n", p.ID, p.Prefix, p.State, safe(dash(p.Tenant)), day(p.CreatedAt))
	}
	fmt.Fprintln(w, "events:")
	err := printEvents(w, h.Events)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

func printEvents(w io.Writer, evs []registry.Event) error {
	rows := make([][]string, 0, len(evs))
	for _, e := range evs {
		rows = append(rows, []string{strconv.FormatInt(e.Seq, 10), e.At.Format(time.RFC3339), e.Actor, e.Action, e.SubjectKind + " " + e.Subject})
	}
	return table(w, "SEQ\tTIME\tACTOR\tACTION\tSUBJECT", rows)
}

func newReportCmd(a *app) *cobra.Command {
	var region string
	var asJSON bool
	c := &cobra.Command{
		Use:   "report",
		Short: "Per region and family: size, use, allocation rate, IPv4 runway, IPv6 share",
		Long: `Per region and address family: size, assigned, quarantined and free addresses,
utilization, the allocation rate over the last 30 days (addresses a day), the
runway of IPv4 in days at that rate (free / rate), and the share of the region's
live assignments that are IPv6. IPv6 is counted in the unit it is handed out in:
free space in the commonest assignment length, at most /64 ("65536 /64" free),
assigned and quarantined space in the lengths handed out ("1234 /64 + 56 /128"),
and its rate in prefixes a day. --json gives exact numbers: ratios as fractions from 0 to 1,
counts above 2^53 as decimal strings, each row's unit and free_units, and
assigned_by_length and quarantined_by_length ([{"len": 64, "count": 1234}]).`,
		Example: `  cadastre report
  cadastre report --region us-east --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			rows, err := reg.Report(cmd.Context(), region)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, nonNil(rows))
			}
			return printReport(a.cfg.stdout, rows)
		},
	}
	c.Flags().StringVar(&region, "region", "", "only this region")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func printReport(w io.Writer, rows []registry.ReportRow) error {
	out := make([][]string, 0, len(rows))
	for _, r := range rows {
		runway := "-"
		if r.RunwayDays != nil {
			runway = fmt.Sprintf("%.1f", *r.RunwayDays)
		}
		u := func(c prefix.Count) string { return inUnit(c, r.Family, r.Unit) }
		rate := fmt.Sprintf("%.2f", r.RatePerDay)
		if r.Family == 6 {
			rate += " prefixes"
		}
		out = append(out, []string{r.Region, "IPv" + strconv.Itoa(r.Family), strconv.Itoa(r.Pools), u(r.Size),
			handedOut(r.Assigned, r.Family, r.AssignedByLength), handedOut(r.Quarantined, r.Family, r.QuarantinedByLength), u(r.Free),
			fmt.Sprintf("%.1f%%", 100*r.Utilization), rate, runway, fmt.Sprintf("%.0f%%", 100*r.IPv6Share)})
	}
	return table(w, "REGION\tFAMILY\tPOOLS\tSIZE\tASSIGNED\tQUARANTINED\tFREE\tUSED\tRATE/DAY\tRUNWAY DAYS\tIPV6 SHARE", out)
}

// parseSince reads an absolute time (RFC 3339 or a date) or a duration ago ("24h", "7d").
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := parseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: give a time (2026-11-26T10:00:00Z), a date (2026-11-26) or a duration ago (24h, 7d)", s)
}

func newLogCmd(a *app) *cobra.Command {
	var since string
	var after int64
	var limit int
	var asJSON bool
	c := &cobra.Command{
		Use:   "log",
		Short: "Show the append-only change log",
		Long: `Every change to the register writes one event in the same transaction: who,
when, what, and the object before and after. --json prints them whole.`,
		Example: `  cadastre log --since 24h
  cadastre log --since 2026-11-01 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := registry.EventFilter{AfterSeq: after, Limit: limit}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return usageError{err}
				}
				f.Since = t
			}
			if limit < 0 || after < 0 {
				return usagef("--limit and --after must not be negative")
			}
			reg, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			evs, err := reg.Events(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, nonNil(evs))
			}
			return printEvents(a.cfg.stdout, evs)
		},
	}
	c.Flags().StringVar(&since, "since", "", "only events at or after this time, date or duration ago")
	c.Flags().Int64Var(&after, "after", 0, "only events after the one with this seq (the last one read), in commit order")
	c.Flags().IntVar(&limit, "limit", 0, "at most this many events")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version and the ISO 3166 data it carries",
		Example: "  cadastre version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(a.cfg.stdout, "cadastre %s\nISO 3166 data: %s\n", version, iso3166.Version())
			return nil
		},
	}
}
