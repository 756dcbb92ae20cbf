package main

import (
	"encoding/csv"
	"fmt"
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
	c := &cobra.Command{
		Use:   "audit",
		Short: "Check where the world's geolocation sources place our space",
		Long: `For every pool and relocated unit, compare where the register says it is used
with what each source says across the whole prefix (every network of the
source inside it is walked; none is sampled). A finding names the prefix, the
intended location, the source, what the source says with the share of each,
the share that disagrees, and for relocated space how long ago it moved. The
summary gives, per source, the share of our space placed in the right country
and, where both name one, the right subdivision.
Exit status: 0 all agree, 1 findings (so it can run from cron), 2 bad usage,
3 no such source, 8 a source is unusable (its file missing or corrupt: the
audit left it out, and says why; this wins over findings).`,
		Example: `  cadastre audit
  cadastre audit --source whois --json | jq '.findings[] | select(.from_region != null)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON && asCSV {
				return usagef("--json and --csv exclude each other")
			}
			g, err := a.geo(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := auditSelect(cmd.Context(), g, provider, sources)
			if err != nil {
				return err
			}
			switch {
			case asJSON:
				if rep.Findings == nil {
					rep.Findings = []geo.Finding{}
				}
				if err := writeJSON(a.cfg.stdout, rep); err != nil {
					return err
				}
			case asCSV:
				w := csv.NewWriter(a.cfg.stdout)
				w.Write([]string{"prefix", "region", "intended", "source", "says", "disagree_share", "from_region", "moved_at", "moved_days_ago"})
				for _, f := range rep.Findings {
					moved, ago := "", ""
					if f.MovedAt != nil {
						moved, ago = f.MovedAt.UTC().Format(time.RFC3339), strconv.FormatFloat(f.MovedAgo.Hours()/24, 'f', 1, 64)
					}
					w.Write([]string{f.Prefix.String(), f.Region, f.Intended.String(), f.Source, says(f.Says),
						strconv.FormatFloat(f.Disagree, 'f', 4, 64), f.FromRegion, moved, ago})
				}
				w.Flush()
				if err := w.Error(); err != nil {
					return err
				}
			default:
				rows := make([][]string, 0, len(rep.Findings))
				for _, f := range rep.Findings {
					moved := "-"
					if f.MovedAt != nil {
						moved = fmt.Sprintf("from %s %s ago", f.FromRegion, ago(f.MovedAgo))
					}
					rows = append(rows, []string{f.Prefix.String(), f.Region, f.Intended.String(), f.Source, says(f.Says),
						percent(f.Disagree), moved})
				}
				if len(rows) > 0 {
					if err := table(a.cfg.stdout, "PREFIX\tREGION\tINTENDED\tSOURCE\tSOURCE SAYS\tDISAGREE\tRELOCATED", rows); err != nil {
						return err
					}
					fmt.Fprintln(a.cfg.stdout)
				}
				srows := make([][]string, 0, len(rep.Summary))
				for _, s := range rep.Summary {
					srows = append(srows, []string{s.Source, string(s.Kind), score(s.IPv4), score(s.IPv6), strconv.Itoa(s.Findings)})
				}
				if err := table(a.cfg.stdout, "SOURCE\tKIND\tIPV4 COUNTRY / SUBDIVISION\tIPV6 COUNTRY / SUBDIVISION\tFINDINGS", srows); err != nil {
					return err
				}
				fmt.Fprintf(a.cfg.stdout, "%d prefixes checked against %d sources: %d findings\n", rep.Checked, len(rep.Summary), len(rep.Findings))
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
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&asCSV, "csv", false, "print the findings as CSV")
	return c
}

// says is a source's view of a prefix: the three largest shares, and how
// many smaller ones there are (--json has them all).
func says(ss []geo.Share) string {
	parts := make([]string, 0, 4)
	for i, s := range ss {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more", len(ss)-3))
			break
		}
		l := s.Location.String()
		if s.Location.IsZero() {
			l = "nowhere"
		}
		parts = append(parts, l+" "+percent(s.Share))
	}
	return strings.Join(parts, ", ")
}

func score(s geo.Score) string {
	if s.Prefixes == 0 {
		return "-"
	}
	sub := "-"
	if s.SubdivisionOf > 0 {
		sub = fmt.Sprintf("%.1f%%", 100*s.Subdivision)
	}
	return fmt.Sprintf("%.1f%% / %s", 100*s.Country, sub)
}

func ago(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return d.Round(time.Minute).String()
}

// percent prints a share so that a small one does not read as 0%.
func percent(f float64) string {
	switch {
	case f == 0 || f >= 0.001:
		return strconv.FormatFloat(100*f, 'f', 1, 64) + "%"
	case f < 1e-6:
		return "<0.0001%"
	}
	return strconv.FormatFloat(100*f, 'g', 2, 64) + "%"
}
