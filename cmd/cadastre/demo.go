package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/demo"
)

func newDemoCmd(a *app) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "Build the Azure-2014 story on a fresh register and print the report",
		Long: `Build the story that made cadastre: regions us-east, us-west, brazil-south and
europe-north; an ARIN block, addresses bought from Nortel Networks (with the
price), a LACNIC block registered in Brazil, a RIPE block, and an IPv6 /32 per
region; then 90 days of virtual machines, mostly dual-stack, until us-east's
own IPv4 is gone and it borrows a /24 from brazil-south, as its policy allows.
Prints the report and the relocations. On a register that already holds the
demo it prints them again; on any other non-empty register it refuses.`,
		Example: `  cadastre demo
  cadastre demo --db /tmp/story.db && cadastre --db /tmp/story.db show 191.232.0.10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			res, err := demo.Build(cmd.Context(), a.store, time.Now())
			if err != nil {
				return err
			}
			rows, err := reg.Report(cmd.Context(), "")
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, map[string]any{"report": rows, "relocations": nonNil(res.Relocations)})
			}
			w := a.cfg.stdout
			if res.AlreadyBuilt {
				fmt.Fprintf(w, "The demo register is already in %s.\n\n", a.where())
			} else {
				fmt.Fprintf(w, "Built the Azure-2014 story in %s: %d allocations and %d releases over %d days.\n\n", a.where(), res.Allocations, res.Releases, demo.Days)
			}
			if err := printReport(w, rows); err != nil {
				return err
			}
			fmt.Fprintln(w, "\nRelocations (IPv4 borrowed because a region ran dry):")
			rel := [][]string{}
			for _, r := range res.Relocations {
				rel = append(rel, []string{r.Prefix.String(), r.FromRegion, r.ToRegion, day(r.CreatedAt), r.Reason})
			}
			if err := table(w, "PREFIX\tFROM\tTO\tWHEN\tREASON", rel); err != nil {
				return err
			}
			fmt.Fprintf(w, "\nThe borrowed space is registered in Brazil but used in Virginia: try\n  cadastre %sshow %s\n", a.dbFlag(), firstAddr(res))
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the report and relocations as JSON")
	return c
}

func firstAddr(res demo.Result) string {
	if len(res.Relocations) == 0 {
		return "191.232.0.1"
	}
	return res.Relocations[0].Prefix.Addr().Next().String()
}

// where names the register for messages.
func (a *app) where() string {
	if a.cfg.postgres != "" {
		return "PostgreSQL"
	}
	return a.cfg.db
}

// dbFlag is the --db flag to repeat in a suggested command, if needed.
func (a *app) dbFlag() string {
	if a.cfg.postgres != "" || a.cfg.db == "./cadastre.db" {
		return ""
	}
	return "--db " + a.cfg.db + " "
}
