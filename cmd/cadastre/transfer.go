package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/interchange"
	"github.com/cadastre-ipam/cadastre/registry"
)

func newExportCmd(a *app) *cobra.Command {
	var format, out, cpuprof string
	c := &cobra.Command{
		Use:   "export [--format json|csv] [-o FILE]",
		Short: "Write the whole register (tenants, regions, spaces, blocks, pools, relocations, reservations, assignments, tags) to a file",
		Long: `Write every object of the register, in one consistent snapshot, as JSON or CSV
(the format is documented in interchange/README.md, versioned). Objects refer to
each other by name and prefix, not by ID, so the file imports into any register:
export, import into an empty register and export again gives the same bytes.`,
		Example: `  cadastre export -o register.json
  cadastre export --format csv -o register.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := interchange.ParseFormat(format)
			if err != nil {
				return usageError{err}
			}
			reg, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			if stop, err := cpuProfile(cpuprof); err != nil {
				return err
			} else {
				defer stop()
			}
			if out == "" || out == "-" {
				_, _, err := export(cmd.Context(), reg, a.cfg.stdout, f)
				return err
			}
			// Write beside the target and rename, so a failed export
			// never leaves half a file under the name asked for.
			tmp, err := os.CreateTemp(dirOf(out), ".cadastre-export-*")
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			defer os.Remove(tmp.Name())
			d, n, err := export(cmd.Context(), reg, tmp, f)
			if err != nil {
				tmp.Close()
				return fmt.Errorf("export %s: %w", out, err)
			}
			if err := tmp.Close(); err != nil {
				return fmt.Errorf("export %s: %w", out, err)
			}
			if err := os.Rename(tmp.Name(), out); err != nil {
				return fmt.Errorf("export %s: %w", out, err)
			}
			fmt.Fprintf(a.cfg.stderr, "exported %d tenants, %d regions, %d spaces, %d blocks, %d pools, %d relocations, %d child pools, %d reservations, %d assignments to %s\n",
				len(d.Tenants), len(d.Regions), len(d.Spaces), len(d.Blocks), len(d.Pools), len(d.Relocations), len(d.ChildPools), len(d.Reservations), n, out)
			return nil
		},
	}
	c.Flags().StringVar(&format, "format", "json", "json or csv")
	c.Flags().StringVarP(&out, "output", "o", "", "file to write (default: standard output)")
	c.Flags().StringVar(&cpuprof, "cpuprofile", "", "write a CPU profile of the export to this file (for go tool pprof)")
	return c
}

// export writes the register to w as it reads it, a page of assignments
// at a time, so that its memory is a page's, not the register's. The
// dump it returns has every kind but the assignments, which it counts.
func export(ctx context.Context, reg *registry.Registry, w io.Writer, f interchange.Format) (registry.Dump, int, error) {
	var head registry.Dump
	sw := interchange.NewWriter(w, f)
	err := reg.DumpTo(ctx, func(d registry.Dump) error {
		head = d
		return sw.Head(d)
	}, sw.Assignments)
	if err == nil {
		err = sw.Close()
	}
	return head, sw.Count(), err
}

// cpuProfile starts a CPU profile to path (none if path is empty); stop
// ends it.
func cpuProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func dirOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if os.IsPathSeparator(path[i]) {
			return path[:i+1]
		}
	}
	return "."
}

func newImportCmd(a *app) *cobra.Command {
	var from, cpuprof string
	var dry, asJSON, keepOverlaps bool
	var opt interchange.ForeignOptions
	c := &cobra.Command{
		Use:   "import FILE [--dry-run] [--from netbox|phpipam]",
		Short: "Load a register export, or a NetBox or phpIPAM export, all or nothing",
		Long: `Load a file made by ` + "`cadastre export`" + ` (JSON or CSV, found from its content), or with
--from another IPAM's export, into the register in one transaction: all of it or
nothing. Every error names its line (and JSON path); names and prefixes already in
the register are conflicts (exit 4), unknown regions or tenants not found (exit 3),
bad records invalid (exit 2). --dry-run checks everything as the import would and
writes nothing.

Tenants are refused as ` + "`tenant add`" + ` refuses them: a tenant whose name suffixes
equal, contain or lie under another tenant's (in the register or earlier in the
file) is an overlap (exit 4, naming both). --keep-suffix-overlaps loads them
flagged instead, as the upgrade that introduced tenants left them (every tenant
"."): for moving such a register as it is, to narrow the suffixes afterwards.

--from netbox reads one JSON object holding NetBox's REST answers under the
endpoint names: {"aggregates": [...], "prefixes": [...], "ip-addresses": [...]}
(each a list or a paginated answer with "results"). Aggregates become blocks
(RIR and date_added as provenance), container or is_pool prefixes and prefixes
holding others become pools (region: the site or region slug, else --region),
other active prefixes assignments of their pool, active IP addresses /32 or /128
assignments named by dns_name. --from phpipam reads phpIPAM's subnet and address
export saved as CSV (Section, Subnet, IP Address, Hostname, Description, Owner,
...). VRFs become spaces, reserved space reservations, tags tags.
What cannot be mapped (nested pools, other statuses) is listed
with its line or id, never dropped silently.`,
		Example: `  cadastre import register.json --dry-run
  cadastre import register.csv
  cadastre import --from netbox netbox.json --region us-east
  cadastre import --from phpipam phpipam.csv --region eu-west`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			f, err := os.Open(name)
			if err != nil {
				return unreadable{fmt.Errorf("import %s: %w", name, err)}
			}
			defer f.Close()
			if stop, err := cpuProfile(cpuprof); err != nil {
				return err
			} else {
				defer stop()
			}
			var rep registry.LoadReport
			var unmapped []interchange.Unmapped
			if from == "" {
				// A cadastre export is read and loaded a chunk at a time, in
				// one transaction: the bar shows how much of the file is in.
				r, stopBar := withProgress(a, "importing "+name, f)
				stop := sync.OnceFunc(stopBar)
				defer stop()
				rd, err := interchange.NewReader(r, importChunk)
				if err != nil {
					return fmt.Errorf("import %s: %w", name, err)
				}
				defer rd.Close()
				err = a.buildUnless(dry, cmd.Context(), func() error {
					reg, err := a.open(cmd.Context())
					if err != nil {
						return err
					}
					rep, err = reg.LoadFrom(cmd.Context(), rd.Head(), rd, registry.LoadOptions{DryRun: dry, KeepSuffixOverlaps: keepOverlaps, Source: filepath.Base(name)})
					stop()
					return err
				})
				if errors.As(err, new(dbError)) {
					return err
				}
				if err != nil {
					return fmt.Errorf("import %s: nothing imported: %w", name, err)
				}
			} else {
				r, stop := withProgress(a, "reading "+name, f)
				var buf bytes.Buffer
				if fi, err := f.Stat(); err == nil {
					buf.Grow(int(fi.Size()))
				}
				_, err = io.Copy(&buf, r)
				stop()
				if err != nil {
					return unreadable{fmt.Errorf("import %s: %w", name, err)}
				}
				var d registry.Dump
				switch from {
				case "netbox":
					d, unmapped, err = interchange.ReadNetBox(buf.Bytes(), opt)
				case "phpipam":
					d, unmapped, err = interchange.ReadPHPIPAM(buf.Bytes(), opt)
				default:
					return usagef("--from %q: must be netbox or phpipam (a cadastre export needs no --from)", from)
				}
				if err != nil {
					return fmt.Errorf("import %s: %w", name, err)
				}
				for _, u := range unmapped {
					fmt.Fprintf(a.cfg.stderr, "%s: not imported: %s\n", name, u)
				}
				err = a.buildUnless(dry, cmd.Context(), func() error {
					reg, err := a.open(cmd.Context())
					if err != nil {
						return err
					}
					stop = spinner(a, "importing "+name)
					rep, err = reg.Load(cmd.Context(), d, registry.LoadOptions{DryRun: dry, KeepSuffixOverlaps: keepOverlaps, Source: filepath.Base(name)})
					stop()
					return err
				})
				if errors.As(err, new(dbError)) {
					return err
				}
				if err != nil {
					return fmt.Errorf("import %s: nothing imported: %w", name, err)
				}
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, struct {
					registry.LoadReport
					Unmapped []interchange.Unmapped `json:"unmapped"`
				}{rep, nonNil(unmapped)})
			}
			verb := "imported"
			if dry {
				verb = "would import (dry run, nothing written)"
			}
			fmt.Fprintf(a.cfg.stdout, "%s %d tenants, %d regions, %d spaces, %d blocks, %d pools, %d relocations, %d child pools, %d reservations, %d assignments from %s",
				verb, rep.Tenants, rep.Regions, rep.Spaces, rep.Blocks, rep.Pools, rep.Relocations, rep.ChildPools, rep.Reservations, rep.Assignments, name)
			if len(unmapped) > 0 {
				fmt.Fprintf(a.cfg.stdout, "; %d items not mapped (listed above)", len(unmapped))
			}
			fmt.Fprintln(a.cfg.stdout)
			return nil
		},
	}
	c.Flags().BoolVar(&dry, "dry-run", false, "check everything, write nothing")
	c.Flags().BoolVar(&keepOverlaps, "keep-suffix-overlaps", false, "load tenants whose name suffixes overlap another's, flagged, instead of refusing them")
	c.Flags().StringVar(&from, "from", "", "read another IPAM's export: netbox (REST JSON) or phpipam (CSV)")
	c.Flags().StringVar(&opt.Region, "region", "", "with --from: region of the pools that name no site or region (phpIPAM: instead of the section)")
	c.Flags().StringVar(&opt.TopLevel, "top-level", "", "with --from netbox: what an active prefix outside every pool becomes: pool, or skip (listed)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the report (counts and unmapped items) as JSON")
	c.Flags().StringVar(&cpuprof, "cpuprofile", "", "write a CPU profile of the import to this file (for go tool pprof)")
	return c
}

// importChunk is how many assignments an import reads, checks and writes
// at once: its memory is a chunk's, not the file's.
const importChunk = 10000
