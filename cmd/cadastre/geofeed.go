package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/geofeed"
	"github.com/cadastre-ipam/cadastre/registry"
)

// checkFailed is the exit status 1 of `geofeed check`: the feed has errors
// (or warnings, with --strict); both are counted, each on its own.
type checkFailed struct{ errors, warnings int }

func (e checkFailed) Error() string {
	return fmt.Sprintf("%d errors, %d warnings", e.errors, e.warnings)
}

// unreadable is exit status 2 of `geofeed check`: the file cannot be read.
type unreadable struct{ error }

func (e unreadable) Unwrap() error { return e.error }

func newGeofeedCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "geofeed",
		Short: "Publish, check and import RFC 8805 geolocation feeds",
		Long: `Geolocation databases placed Azure's US machines in Brazil because registration
data was all they had. A geofeed (RFC 8805) tells them where each prefix is really
used; they find it through the geofeed: attribute of the registry object (RFC 9632).
  export   the register's own feed, from every pool and relocation
  check    check any feed strictly, with compiler-style diagnostics
  import   keep a checked feed as a geolocation source
  rpsl     the registry-object lines that point at your published feed`,
		Example: `  cadastre geofeed export -o geofeed.csv && cadastre geofeed check geofeed.csv
  cadastre geofeed rpsl --url https://example.net/geofeed.csv`,
		Args: cobra.NoArgs,
	}
	c.AddCommand(newGeofeedExport(a), newGeofeedCheck(a), newGeofeedImport(a), newGeofeedRPSL(a))
	return c
}

func newGeofeedExport(a *app) *cobra.Command {
	var out, space string
	var asJSON bool
	c := &cobra.Command{
		Use:   "export",
		Short: "Write the register's geofeed",
		Long: `Write the register's RFC 8805 geofeed: every pool, and every relocated unit, at
its region's location; adjacent prefixes with the same location merged into the
fewest CIDRs; deterministic order; a header naming the event-log position it
reflects. ` + "`cadastre serve`" + ` publishes the same text at /geofeed.csv: the same
register gives the same bytes, from the file or with --server. Only the global
space is published: a private space (a VRF, see ` + "`cadastre space`" + `) is left out;
--json --space NAME lists that space's placements.`,
		Example: `  cadastre geofeed export > geofeed.csv
  cadastre geofeed export --space vpc-a --json
  cadastre geofeed export --json | jq '.[] | select(.location.country == "BR")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				places, _, err := reg.PlacementsIn(cmd.Context(), space)
				if err != nil {
					return err
				}
				return writeJSON(a.cfg.stdout, nonNil(places))
			}
			if space != "" && space != registry.GlobalSpace {
				return usagef("geofeed export --space %s: a geofeed (RFC 8805) lists globally reachable space only, which is the global space; add --json for the placements of space %s", space, space)
			}
			feed, err := geo.PublishFeed(cmd.Context(), reg)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = a.cfg.stdout.Write(feed.CSV)
				return err
			}
			if err := os.WriteFile(out, feed.CSV, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stderr, "wrote %d entries to %s (event log seq %d)\n", feed.Entries, out, feed.Position.Seq)
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of standard output")
	c.Flags().BoolVar(&asJSON, "json", false, "print the placements as JSON (with relocations)")
	c.Flags().StringVar(&space, "space", "", "with --json: the placements of this space (a VRF) instead of the global space's, the only one a feed may list")
	return c
}

func newGeofeedCheck(a *app) *cobra.Command {
	var asJSON, strict bool
	c := &cobra.Command{
		Use:   "check FILE|-",
		Short: "Check a geofeed strictly, with diagnostics like a compiler",
		Long: `Check a geofeed against RFC 8805 and RFC 9632: prefixes (host bits, zones,
IPv4-mapped forms, special-purpose space), ISO 3166-1 countries and current
ISO 3166-2 regions of that country, duplicates, the signature block; and warn
about postal codes, withdrawn region codes (naming the successor), redundant and
overriding entries, very large prefixes, spaces, lower case, placeholder cities.
Diagnostics read FILE:LINE:COL: severity: code: message.
Exit status: 0 clean, 1 errors (or warnings with --strict), 2 unreadable file.`,
		Example: `  cadastre geofeed check geofeed.csv
  curl -s https://example.net/geofeed.csv | cadastre geofeed check --strict -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			var r io.Reader = a.cfg.stdin
			if name != "-" {
				f, err := os.Open(name)
				if err != nil {
					return unreadable{fmt.Errorf("geofeed %s: %w", name, err)}
				}
				defer f.Close()
				r = f
			} else {
				name = "<stdin>"
			}
			r, stop := withProgress(a, "checking "+name, r)
			diags, sum, err := geofeed.Check(r, geofeed.Options{})
			stop()
			if err != nil {
				return unreadable{fmt.Errorf("geofeed %s: %w", name, err)}
			}
			if asJSON {
				if err := writeJSON(a.cfg.stdout, struct {
					File        string               `json:"file"`
					Summary     geofeed.Summary      `json:"summary"`
					Diagnostics []geofeed.Diagnostic `json:"diagnostics"`
				}{name, sum, nonNil(diags)}); err != nil {
					return err
				}
			} else {
				for _, d := range diags {
					fmt.Fprintf(a.cfg.stdout, "%s:%s\n", name, d)
				}
				fmt.Fprintf(a.cfg.stderr, "%s: %d lines, %d entries, %d errors, %d warnings\n", name, sum.Lines, sum.Entries, sum.Errors, sum.Warnings)
			}
			if sum.Errors > 0 || (strict && sum.Warnings > 0) {
				return checkFailed{sum.Errors, sum.Warnings}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the diagnostics as JSON")
	c.Flags().BoolVar(&strict, "strict", false, "treat warnings as errors")
	return c
}

func newGeofeedImport(a *app) *cobra.Command {
	var as string
	var skip, allowEmpty, asJSON bool
	c := &cobra.Command{
		Use:   "import FILE --as NAME",
		Short: "Keep a checked geofeed as a geolocation source",
		Long: `Check a geofeed and keep it as the geolocation source NAME (importing again under
the same name replaces it). A feed with errors is refused whole unless
--skip-bad-lines, which imports the good lines and reports the rest. The import
is atomic: the source is replaced whole or left exactly as it was. A feed that
leaves no entry (an empty file, a failed download, every line bad) is refused,
exit status 2, unless --allow-empty. Postal codes are dropped: RFC 8805
deprecates them.
Exit status: 0 imported, 1 the feed has errors (counted apart from warnings),
2 unreadable file, bad name or no entry.`,
		Example: `  cadastre geofeed import partner-feed.csv --as partner
  cadastre geofeed import big.csv --as vendor --skip-bad-lines`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" {
				return usagef("--as NAME is required")
			}
			f, err := os.Open(args[0])
			if err != nil {
				return unreadable{fmt.Errorf("geofeed %s: %w", args[0], err)}
			}
			defer f.Close()
			g, err := a.geo(cmd.Context())
			if err != nil {
				return err
			}
			r, stop := withProgress(a, "importing "+args[0], f)
			rep, err := g.ImportFeed(cmd.Context(), as, args[0], r, geo.ImportOptions{SkipBadLines: skip, AllowEmpty: allowEmpty})
			stop()
			for _, d := range rep.Diagnostics {
				if d.Severity == geofeed.Error || !asJSON {
					fmt.Fprintf(a.cfg.stderr, "%s:%s\n", args[0], d)
				}
			}
			if err != nil {
				if errors.Is(err, geo.ErrFeedHasErrors) {
					var cf checkFailed
					for _, d := range rep.Diagnostics {
						if d.Severity == geofeed.Error {
							cf.errors++
						} else {
							cf.warnings++
						}
					}
					return fmt.Errorf("geofeed %s: refused, nothing imported (--skip-bad-lines imports the good lines): %w", args[0], cf)
				}
				return err
			}
			if asJSON {
				rep.Diagnostics = nonNil(rep.Diagnostics)
				return writeJSON(a.cfg.stdout, rep)
			}
			fmt.Fprintf(a.cfg.stdout, "source %s: %d entries imported, %d bad lines skipped, %d postal codes dropped\n", rep.Source.Name, rep.Source.Entries, rep.Skipped, rep.PostalDrops)
			return nil
		},
	}
	c.Flags().StringVar(&as, "as", "", "name of the source (required)")
	c.Flags().BoolVar(&skip, "skip-bad-lines", false, "import the good lines of a feed with errors")
	c.Flags().BoolVar(&allowEmpty, "allow-empty", false, "keep the source even when the feed leaves no entry")
	c.Flags().BoolVar(&asJSON, "json", false, "print the import report as JSON")
	return c
}

func newGeofeedRPSL(a *app) *cobra.Command {
	var feedURL string
	var asJSON bool
	c := &cobra.Command{
		Use:   "rpsl --url URL",
		Short: "Print, for each block, the line that points its registry object at the feed",
		Long: `Print, for each block, the line to add to its registry object so that
geolocation providers find the feed (RFC 9632): "geofeed: URL" where the registry
supports the attribute (RIPE NCC, APNIC, AFRINIC), otherwise a remarks/Comment
line "Geofeed URL". The URL must be https.`,
		Example: "  cadastre geofeed rpsl --url https://example.net/geofeed.csv",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if feedURL == "" {
				return usagef("--url is required: the public https URL of your geofeed")
			}
			reg, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			blocks, err := reg.Blocks(cmd.Context())
			if err != nil {
				return err
			}
			lines, err := registry.GeofeedRPSL(blocks, feedURL)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, nonNil(lines))
			}
			for _, l := range lines {
				fmt.Fprintf(a.cfg.stdout, "# %s (%s)\n%s\n%s\n", l.Block, dash(l.Registry), l.Object, l.Attribute)
				if l.Note != "" {
					fmt.Fprintf(a.cfg.stdout, "# note: %s\n", l.Note)
				}
				fmt.Fprintln(a.cfg.stdout)
			}
			return nil
		},
	}
	c.Flags().StringVar(&feedURL, "url", "", "public https URL of the feed (required)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
