package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/registry"
)

// parseUntil reads an end time: RFC 3339, a date (midnight UTC), or a
// duration from now ("90d", "12h").
func parseUntil(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := parseDuration(s); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("--until %q: use a time (2026-12-31T18:00:00Z), a date (2026-12-31) or a duration from now (90d, 12h)", s)
}

func newReserveCmd(a *app) *cobra.Command {
	var reason, until, space string
	var asJSON bool
	c := &cobra.Command{
		Use:   "reserve PREFIX --reason TEXT [--until TIME]",
		Short: "Keep space from ever being handed out (gateways, anycast, not yet)",
		Long: `Reserve a prefix inside a pool: it leaves the pool's free space and is never
handed out, by region allocations or by --address/--prefix, until unreserved or
until --until (a time, a date or a duration from now), when it stops counting
and rejoins free space. Space held by a live assignment, another reservation or
a lent unit is refused (exit 4) naming the holder; the pool's network, broadcast
or anycast address may be reserved with the rest. Outside every pool is exit 3.
Each reservation, its removal and its end are events in the log.`,
		Example: `  cadastre reserve 40.64.0.0/29 --reason "gateways and VRRP"
  cadastre reserve 2603:1030:0:ff::/64 --reason "anycast DNS" --until 90d
  cadastre reserve list --json
  cadastre unreserve 40.64.0.0/29`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parsePrefixArg(args[0])
			if err != nil {
				return err
			}
			spec := registry.ReservationSpec{Prefix: p, Reason: reason, Space: space}
			if until != "" {
				t, err := parseUntil(until, time.Now())
				if err != nil {
					return usageError{err}
				}
				spec.Until = &t
			}
			reg, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			v, err := reg.Reserve(cmd.Context(), spec)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, v)
			}
			fmt.Fprintf(a.cfg.stdout, "reserved %s in pool %s (region %s): %s\n", v.Prefix, v.Pool, v.Region, v.Reason)
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why the space is kept back (required)")
	c.Flags().StringVar(&space, "space", "", "the space (VRF) whose pool must hold PREFIX")
	c.Flags().StringVar(&until, "until", "", "when the reservation ends: a time, a date or a duration from now")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.MarkFlagRequired("reason")

	var listJSON bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the reservations in force",
		Example: "  cadastre reserve list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			vs, err := reg.Reservations(cmd.Context())
			if err != nil {
				return err
			}
			if listJSON {
				return writeJSON(a.cfg.stdout, nonNil(vs))
			}
			rows := [][]string{}
			for _, v := range vs {
				u := "-"
				if v.Until != nil {
					u = v.Until.Format(time.RFC3339)
				}
				rows = append(rows, []string{v.Prefix.String(), v.Pool.String(), v.Region, v.Reason, u})
			}
			return table(a.cfg.stdout, "PREFIX\tPOOL\tREGION\tREASON\tUNTIL", rows)
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")
	c.AddCommand(list)
	return c
}

func newUnreserveCmd(a *app) *cobra.Command {
	var asJSON bool
	var space string
	c := &cobra.Command{
		Use:     "unreserve PREFIX",
		Short:   "End a reservation; its space rejoins the pool's free space",
		Example: "  cadastre unreserve 40.64.0.0/29",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parsePrefixArg(args[0])
			if err != nil {
				return err
			}
			reg, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			v, err := reg.UnreserveIn(cmd.Context(), p, space)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, v)
			}
			fmt.Fprintf(a.cfg.stdout, "unreserved %s (%s); free again in pool %s\n", v.Prefix, v.Reason, v.Pool)
			return nil
		},
	}
	c.Flags().StringVar(&space, "space", "", "the space of the reservation, where two spaces reserve PREFIX")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
