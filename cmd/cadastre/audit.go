package main

import (
	"encoding/csv"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/geo"
)

// findingsFound is the exit status 1 of `audit`: some source disagrees.
type findingsFound struct{ n int }

func (e findingsFound) Error() string {
	return fmt.Sprintf("audit: %d findings: sources disagree with the register", e.n)
}

// sourcesUnusable is the exit status 8 of `audit`: a source could not be
// used (its file missing or corrupt), so the audit is incomplete. It
// wins over findings: a clean audit of fewer sources than meant is not
// clean.
type sourcesUnusable struct{ list []geo.SourceStatus }

func (e sourcesUnusable) Error() string {
	parts := make([]string, len(e.list))
	for i, s := range e.list {
		parts[i] = s.Name + " (" + s.Err + ")"
	}
	return fmt.Sprintf("audit: %d sources unusable, left out of the audit: %s", len(e.list), strings.Join(parts, "; "))
}

func newAuditCmd(a *app) *cobra.Command {
	var sources []string
	var provider string
	var asJSON, asCSV bool
	var format, minShare string
	var minAddrs uint64
	var unit6 int
	c := &cobra.Command{
		Use:   "audit",
		Short: "Check where the world's geolocation sources place our space",
		Long: `For every pool and relocated unit, compare where the register says it is used
with what each source says across the whole prefix (every network of the
source inside it is walked; none is sampled). A finding names the prefix, the
intended location, the source, what the source says with the share of each,
the share that disagrees (placed elsewhere), the share the source does not
cover, the addresses affected (IPv4 addresses; IPv6 counted in /64s, or in
/48s with --ipv6-unit 48), and for
relocated space how long ago it moved. Findings come largest first (addresses
affected, then prefix). Space a source has no record for is "not covered",
not a disagreement: a source that covers none of our space is one summary
line, not a finding per pool. The summary gives, per source and family, the
space audited, the share the source covers, and of that the share in the
right country and, where both name one, the right subdivision ("-" where a
figure does not apply; null in JSON, empty in CSV).
--min-share and --min-addresses leave out smaller findings (counted in the
summary); the exit status follows the findings kept.
Exit status: 0 all agree, 1 findings (so it can run from cron), 2 bad usage,
3 no such source, 8 a source is unusable (its file missing or corrupt: the
audit left it out, and says why; this wins over findings).`,
		Example: `  cadastre audit
  cadastre audit --min-share 1% --min-addresses 256
  cadastre audit --source whois --format json | jq '.findings[] | select(.from_region != null)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case asJSON && asCSV:
				return usagef("--json and --csv exclude each other")
			case (asJSON || asCSV) && cmd.Flags().Changed("format"):
				return usagef("--format and --json/--csv exclude each other")
			case asJSON:
				format = "json"
			case asCSV:
				format = "csv"
			}
			if format != "text" && format != "json" && format != "csv" {
				return usagef("--format %q: want text, json or csv", format)
			}
			if unit6 < 0 || unit6 > 128 {
				return usagef("--ipv6-unit %d: want a prefix length, 1 to 128 (64 or 48, as you hand IPv6 out)", unit6)
			}
			share, err := parseShare(minShare)
			if err != nil {
				return usagef("--min-share %q: %v", minShare, err)
			}
			g, err := a.geo(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := auditSelect(cmd.Context(), g, geo.AuditOptions{Sources: sources, MinShare: share, MinAddresses: minAddrs, IPv6Unit: unit6, Provider: provider})
			if err != nil {
				return err
			}
			switch format {
			case "json":
				if rep.Findings == nil {
					rep.Findings = []geo.Finding{}
				}
				if err := writeJSON(a.cfg.stdout, rep); err != nil {
					return err
				}
			case "csv":
				if err := auditCSV(a, rep); err != nil {
					return err
				}
			default:
				if err := auditText(a, rep); err != nil {
					return err
				}
			}
			if len(rep.Unusable) > 0 {
				return sourcesUnusable{rep.Unusable}
			}
			if len(rep.Findings) > 0 {
				return findingsFound{len(rep.Findings)}
			}
			return nil
		},
	}
	c.Flags().StringArrayVar(&sources, "source", nil, "audit only this source (repeat for several; default every source but the register)")
	c.Flags().StringVar(&provider, "provider", "", "audit this cloud provider's published space (a source added with --ranges) instead of ours, per provider region")
	c.Flags().StringVar(&format, "format", "text", "output: text, json or csv (csv: the findings)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON (same as --format json)")
	c.Flags().BoolVar(&asCSV, "csv", false, "print the findings as CSV (same as --format csv)")
	c.Flags().StringVar(&minShare, "min-share", "", "list only findings where at least this share disagrees (0.01 or 1%)")
	c.Flags().Uint64Var(&minAddrs, "min-addresses", 0, "list only findings affecting at least this many addresses (IPv6: units, see --ipv6-unit)")
	c.Flags().IntVar(&unit6, "ipv6-unit", 64, "count IPv6 space in prefixes of this length (64, or 48 where sites get /48s)")
	return c
}

// parseShare reads a share as a fraction (0.01) or a percentage (1%).
func parseShare(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	t, pct := strings.CutSuffix(strings.TrimSpace(s), "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || math.IsNaN(f) {
		return 0, fmt.Errorf("not a number (want a fraction like 0.01 or a percentage like 1%%)")
	}
	if pct {
		f /= 100
	}
	if f < 0 || f > 1 {
		return 0, fmt.Errorf("out of range: a share is from 0 to 1 (0%% to 100%%)")
	}
	return f, nil
}

func auditCSV(a *app, rep geo.AuditReport) error {
	w := csv.NewWriter(a.cfg.stdout)
	w.Write([]string{"prefix", "region", "intended", "source", "says", "disagree_share", "not_covered_share", "unit", "addresses", "addresses_affected", "from_region", "moved_at", "moved_days_ago"})
	for _, f := range rep.Findings {
		moved, ago := "", ""
		if f.MovedAt != nil {
			moved, ago = f.MovedAt.UTC().Format(time.RFC3339), strconv.FormatFloat(f.MovedAgo.Hours()/24, 'f', 1, 64)
		}
		w.Write([]string{f.Prefix.String(), f.Region, f.Intended.String(), f.Source, says(f.Says, f.NotCovered),
			csvShare(f.Disagree), csvShare(f.NotCovered), f.Unit, f.Addresses.String(), f.Affected.String(), f.FromRegion, moved, ago})
	}
	w.Flush()
	return w.Error()
}

// csvShare is a share for a machine: every digit it has, never a
// rounded 0.0000 for a small one.
func csvShare(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func auditText(a *app, rep geo.AuditReport) error {
	rows := make([][]string, 0, len(rep.Findings))
	for _, f := range rep.Findings {
		moved := "-"
		if f.MovedAt != nil {
			moved = fmt.Sprintf("from %s %s ago", f.FromRegion, ago(f.MovedAgo))
		}
		affected := f.Affected.String()
		if f.Unit != "address" {
			affected += " " + f.Unit
		}
		rows = append(rows, []string{f.Prefix.String(), f.Region, f.Intended.String(), f.Source, affected, percent(f.Disagree), says(f.Says, f.NotCovered), moved})
	}
	if len(rows) > 0 {
		if err := table(a.cfg.stdout, "PREFIX\tREGION\tINTENDED\tSOURCE\tAFFECTED\tDISAGREE\tSOURCE SAYS\tRELOCATED", rows); err != nil {
			return err
		}
		fmt.Fprintln(a.cfg.stdout)
	}
	if len(rep.Regions) > 0 {
		rrows := make([][]string, 0, len(rep.Regions))
		for _, r := range rep.Regions {
			rrows = append(rrows, []string{r.Region, r.Location.String(), r.Source, regionScore(r.IPv4), regionScore(r.IPv6)})
		}
		if err := table(a.cfg.stdout, "PROVIDER REGION\tWHERE\tSOURCE\tIPV4 AFFECTED (SHARE) / PREFIXES DISAGREEING\tIPV6 AFFECTED (SHARE) / PREFIXES DISAGREEING", rrows); err != nil {
			return err
		}
		fmt.Fprintln(a.cfg.stdout)
	}
	srows := make([][]string, 0, len(rep.Summary))
	below := 0
	for _, s := range rep.Summary {
		found := strconv.Itoa(s.Findings)
		if s.Below > 0 {
			found += fmt.Sprintf(" (+%d below threshold)", s.Below)
		}
		below += s.Below
		if s.NotCovered {
			found = "not covered: the source says nothing about our space"
		}
		srows = append(srows, []string{s.Source, string(s.Kind), score(s.IPv4), score(s.IPv6), found})
	}
	if err := table(a.cfg.stdout, "SOURCE\tKIND\tIPV4 COVERED / COUNTRY / SUBDIVISION\tIPV6 COVERED / COUNTRY / SUBDIVISION\tFINDINGS", srows); err != nil {
		return err
	}
	tail := ""
	if below > 0 {
		tail = fmt.Sprintf(" (%d more below the thresholds)", below)
	}
	fmt.Fprintf(a.cfg.stdout, "%d prefixes checked against %d sources: %d findings%s\n", rep.Checked, len(rep.Summary), len(rep.Findings), tail)
	return nil
}

// says is a source's view of a prefix: the three largest shares, how
// many smaller ones there are (--format json has them all), and the
// share it does not cover.
func says(ss []geo.Share, notCovered float64) string {
	parts := make([]string, 0, 5)
	for i, s := range ss {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more", len(ss)-3))
			break
		}
		l := s.Location.String()
		if s.Location.IsZero() {
			l = "no country"
		}
		parts = append(parts, l+" "+percent(s.Share))
	}
	if notCovered > 0 {
		parts = append(parts, "not covered "+percent(notCovered))
	}
	return strings.Join(parts, ", ")
}

// score is a family's line of the summary: addresses audited, and the
// shares covered, in the right country and in the right subdivision,
// "-" where one does not apply.
func score(s geo.Score) string {
	if s.Prefixes == 0 {
		return "-"
	}
	n := s.Addresses.String()
	if s.Unit != "" && s.Unit != "address" {
		n += " " + s.Unit
	}
	return fmt.Sprintf("%s: %s / %s / %s", n, optPercent(s.Covered), optPercent(s.Country), optPercent(s.Subdivision))
}

// regionScore is a provider region's line for one family: addresses the
// source places elsewhere, their share, and the prefixes it disagrees on.
func regionScore(s geo.RegionScore) string {
	if s.Prefixes == 0 {
		return "-"
	}
	n := s.Affected.String()
	if s.Unit != "" && s.Unit != "address" {
		n += " " + s.Unit
	}
	return fmt.Sprintf("%s (%s) / %d of %d", n, optPercent(s.Share), s.Disagreeing, s.Prefixes)
}

func optPercent(f *float64) string {
	if f == nil {
		return "-"
	}
	return percent(*f)
}

func ago(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return d.Round(time.Minute).String()
}

// percent prints a share as a percentage to three significant digits,
// whole numbers without decimals: "0.0015 %", "12.3 %", "100 %". A
// non-zero share never reads as 0 %, nor a share short of the whole as
// 100 % (more digits are given until it does not).
func percent(f float64) string {
	if f == 0 || f == 1 {
		return strconv.FormatFloat(100*f, 'f', -1, 64) + " %"
	}
	p := 100 * f
	for digits := 3; ; digits++ {
		r, _ := strconv.ParseFloat(strconv.FormatFloat(p, 'g', digits, 64), 64)
		if (r != 100 && r != 0) || digits >= 17 {
			return strconv.FormatFloat(r, 'f', -1, 64) + " %"
		}
	}
}
