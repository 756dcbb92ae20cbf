package main

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

func newAllocCmd(a *app) *cobra.Command {
	var q registry.Request
	var asJSON bool
	var address, pfx, asPool, purpose string
	var tags tagFlags
	c := &cobra.Command{
		Use:   "alloc --region NAME | --address IP | --prefix PREFIX | --pool CHILD",
		Short: "Hand out addresses or prefixes in a region",
		Long: `Hand out --count prefixes of --len bits in a region, all in one transaction
(all or nothing). IPv6 is the default; IPv4 with --family 4. --dual-stack gives
one IPv6 /128 and one IPv4 /32 per item, both or neither.

Space comes from the region's own pools: the smallest free prefix that fits,
lowest address first. --space S takes from the region's pools of space S (a
VRF, "cadastre space add") only; without it, from its pools of the global and
the built-in private space, never from a named space's pools. When the region has no IPv4 left and its policy allows,
a relocation unit (a /24 unless the region says otherwise) is moved from a
lender region and recorded; the answer marks such assignments "borrowed".

--address IP or --prefix PREFIX takes exactly that space, for something that
already uses it, from the pool that holds it (--region, if given, must be that
pool's region). Any part of it held by an assignment, a reservation or the
pool's address policy is refused (exit 4) naming the holder; space outside every
pool is exit 3. Tenants, quotas and --key work as for any allocation.

Pools keep back, unless added with --use-all, the network and broadcast
addresses of an IPv4 pool of /30 or shorter and, from assignments longer than a
/64, the subnet-router anycast address of each IPv6 /64.

Child pools: --as-pool NAME makes the new prefix (--len, from --region) a pool of
its own, named NAME, for --tenant's own children (--purpose says what it is, e.g.
site); --pool NAME then takes children inside it (--family 4 for an IPv4 child
pool). Only its tenant or an admin allocates from it; its parent counts it as
assigned, and "cadastre release --pool NAME" dissolves it once it holds nothing.

Child pools are one level deep: --as-pool carves from the region's own pools,
never from another child pool (--as-pool with --pool is refused, exit 3). A
child pool counts against --tenant's quotas as an assignment of its length does
(IPv4: its addresses; IPv6: one prefix), and its children count as any
assignment does.

--tag KEY=VALUE (repeatable) sets tags on every assignment made (or on the
child pool), as "assignment update --tag" would; list by them with
"assignments --tag KEY=VALUE" (and child pools with "pool list --tag").

--key makes the request idempotent: repeating it returns the same assignments
(or the same child pool), and the same key with a different request is refused
(exit 4).
Exit 5 means no free space; exit 6 that the region may not borrow IPv4.`,
		Example: `  cadastre alloc --region us-east --dual-stack --tenant acme --resource vm-42 --name vm42.acme.example
  cadastre alloc --region us-east --family 6 --len 64 --count 4 --tenant acme
  cadastre alloc --region us-east --family 4 --key 7f2c0d1e --json
  cadastre alloc --address 40.64.0.10 --tenant acme --resource legacy-db   # an address already in use
  cadastre alloc --prefix 2603:1030:0:10::/64 --tenant acme --key import-17
  cadastre alloc --region us-east --len 48 --as-pool site1 --purpose site --tenant acme --key site1 --tag site=fra1
  cadastre alloc --region us-east --len 64 --tenant acme --tag env=prod --tag team=db
  cadastre alloc --pool site1 --len 56 --tenant acme --resource customer-7
  cadastre alloc --region us-east --space vpc-a --family 4 --len 24   # a named space's pools only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if q.DualStack && cmd.Flags().Changed("family") {
				return usagef("--dual-stack and --family: give one or the other")
			}
			if cmd.Flags().Changed("count") && q.Count <= 0 {
				return usagef("--count %d: must be at least 1", q.Count)
			}
			if cmd.Flags().Changed("len") && q.Bits <= 0 {
				return usagef("--len %d: must be a prefix length from 1 to 32 (IPv4) or 128 (IPv6)", q.Bits)
			}
			var err error
			if q.Tags, err = tags.tags(); err != nil {
				return err
			}
			if asPool != "" {
				return allocPool(cmd, a, q, asPool, purpose, asJSON, address != "" || pfx != "")
			}
			if purpose != "" {
				return usagef("--purpose: only with --as-pool")
			}
			switch {
			case address != "" && pfx != "":
				return usagef("--address and --prefix: give one or the other")
			case address != "":
				ad, err := netip.ParseAddr(address)
				if err != nil || ad.Zone() != "" {
					return usagef("--address %q: not an IP address (for a prefix use --prefix)", address)
				}
				q.Prefix = netip.PrefixFrom(ad, ad.BitLen())
			case pfx != "":
				p, err := parsePrefixArg(pfx)
				if err != nil {
					return usageError{fmt.Errorf("--prefix: %w", err)}
				}
				q.Prefix = p
			case q.Region == "" && q.Pool == "":
				return usagef("give --region (or --address or --prefix for exactly that space, or --pool for a child pool)")
			}
			reg, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			out, err := reg.Allocate(cmd.Context(), q)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, out)
			}
			return table(a.cfg.stdout, assignmentHeader, assignmentRows(out))
		},
	}
	f := c.Flags()
	f.StringVar(&q.Region, "region", "", "region to allocate in (required without --address or --prefix)")
	f.StringVar(&address, "address", "", "take exactly this address (its /32 or /128)")
	f.StringVar(&pfx, "prefix", "", "take exactly this prefix")
	f.StringVar(&q.Space, "space", "", "with --region: take from the region's pools of this space (VRF) only (default: global and private); with --address or --prefix: the space whose pool must hold it")
	f.IntVar(&q.Family, "family", 0, "address family, 4 or 6 (default 6)")
	f.IntVar(&q.Bits, "len", 0, "prefix length (default /128 for IPv6, /32 for IPv4)")
	f.IntVar(&q.Count, "count", 1, "how many prefixes, in one transaction")
	f.BoolVar(&q.DualStack, "dual-stack", false, "one IPv6 /128 and one IPv4 /32 per item")
	f.StringVar(&q.Tenant, "tenant", "", "tenant the assignment belongs to")
	f.StringVar(&q.Resource, "resource", "", "the tenant's resource, e.g. a VM id")
	f.StringVar(&q.Name, "name", "", "DNS name of the assignment (FQDN)")
	f.StringVar(&q.Key, "key", "", "idempotency key: a retry with it returns the same assignments")
	f.StringVar(&asPool, "as-pool", "", "make the new prefix a child pool of this name")
	f.StringVar(&purpose, "purpose", "", "what the child pool is for, e.g. site (with --as-pool)")
	f.StringVar(&q.Pool, "pool", "", "take the space from this child pool")
	tags.addSet(f, "tag every assignment made (or the child pool) with")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// allocPool answers `alloc --as-pool NAME`: one child pool of --len in --region.
func allocPool(cmd *cobra.Command, a *app, q registry.Request, name, purpose string, asJSON, specific bool) error {
	switch {
	case q.Pool != "":
		return usagef("--as-pool with --pool: a child pool inside a child pool is not supported (child pools are one level deep); carve %s from --region", name)
	case specific || q.DualStack || q.Name != "" || q.Resource != "" || q.Count > 1:
		return usagef("--as-pool: give --region, --len and optionally --family, --tenant, --purpose, --tag, --key (not --address, --prefix, --dual-stack, --name, --resource or --count)")
	case q.Region == "":
		return usagef("--as-pool: give --region")
	case q.Bits == 0:
		return usagef("--as-pool: give --len, the child pool's length")
	}
	reg, err := a.backend(cmd.Context())
	if err != nil {
		return err
	}
	p, err := reg.AllocatePool(cmd.Context(), registry.ChildPoolSpec{Name: name, Region: q.Region, Family: q.Family, Bits: q.Bits, Purpose: purpose, Tenant: q.Tenant, Tags: q.Tags, Space: q.Space, Key: q.Key})
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.cfg.stdout, p)
	}
	fmt.Fprintf(a.cfg.stdout, "child pool %s: %s in region %s (tenant %s)\n", p.Name, p.Prefix, p.Region, dash(p.Tenant))
	return nil
}

// maxDays is the longest duration in days that a time.Duration holds.
const maxDays = int(math.MaxInt64 / int64(24*time.Hour))

// parseDuration accepts Go durations and whole days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, fmt.Errorf("duration %q: use e.g. 24h, 90m, 7d or 0", s)
		}
		if n < 0 {
			return 0, fmt.Errorf("duration %q: must not be negative", s)
		}
		// A time.Duration holds about 292 years; more days would wrap around.
		if n > maxDays {
			return 0, fmt.Errorf("duration %q: must be at most %dd", s, maxDays)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: use e.g. 24h, 90m, 7d or 0", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("duration %q: must not be negative", s)
	}
	return v, nil
}

// parseTarget reads an assignment ID or its exact prefix (an address is its /32 or /128).
func parseTarget(s string) (registry.Target, error) {
	if id, err := strconv.ParseInt(s, 10, 64); err == nil {
		if id <= 0 {
			return registry.Target{}, usagef("assignment ID %d: must be positive", id)
		}
		return registry.Target{ID: id}, nil
	}
	p, _, err := prefix.ParsePrefixOrAddr(s)
	if err != nil {
		return registry.Target{}, usageError{fmt.Errorf("%w (expected an assignment ID, prefix or address)", err)}
	}
	return registry.Target{Prefix: p}, nil
}

func newReleaseCmd(a *app) *cobra.Command {
	var quarantine, pool, space string
	var asJSON bool
	c := &cobra.Command{
		Use:   "release PREFIX|ID | --pool NAME",
		Short: "Release an assignment into quarantine, or dissolve a child pool",
		Long: `Release an assignment. It stays quarantined for --quarantine (24h by default) so
that a new tenant never inherits the old one's DNS names or reputation at once;
then its space returns to the pool. --quarantine 0 frees it at once.

--pool NAME dissolves the child pool NAME back into its parent's free space; it
is refused (exit 4), naming them, while it holds live assignments.`,
		Example: `  cadastre release 40.64.0.17
  cadastre release 2603:1030::/64 --quarantine 7d
  cadastre release 1234 --quarantine 0
  cadastre release --pool site1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return cobra.ExactArgs(1)(cmd, args) // its message, as before --pool
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if pool != "" {
				if len(args) > 0 || cmd.Flags().Changed("quarantine") {
					return usagef("--pool: give only the child pool's name (no PREFIX|ID, no --quarantine)")
				}
				reg, err := a.backend(cmd.Context())
				if err != nil {
					return err
				}
				p, err := reg.ReleasePool(cmd.Context(), pool, nil)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.cfg.stdout, p)
				}
				fmt.Fprintf(a.cfg.stdout, "dissolved child pool %s (%s) into its parent\n", p.Name, p.Prefix)
				return nil
			}
			if len(args) != 1 {
				return usagef("give the assignment's PREFIX or ID (or --pool NAME for a child pool)")
			}
			t, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			if space != "" && !t.Prefix.IsValid() {
				return usagef("--space %s: names where a PREFIX lies; an ID names one assignment already", space)
			}
			t.Space = space
			q, err := parseDuration(quarantine)
			if err != nil {
				return usageError{fmt.Errorf("--quarantine: %w", err)}
			}
			reg, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			as, err := reg.Release(cmd.Context(), t, q, nil)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, as)
			}
			if as.State == registry.StateQuarantined {
				fmt.Fprintf(a.cfg.stdout, "released %s (assignment %d); quarantined until %s\n", as.Prefix, as.ID, as.QuarantineUntil.Format(time.RFC3339))
			} else {
				fmt.Fprintf(a.cfg.stdout, "released %s (assignment %d); free now\n", as.Prefix, as.ID)
			}
			return nil
		},
	}
	c.Flags().StringVar(&quarantine, "quarantine", "24h", "cool-down before re-use, e.g. 24h, 7d, 0")
	c.Flags().StringVar(&pool, "pool", "", "dissolve this child pool into its parent")
	c.Flags().StringVar(&space, "space", "", "the space the PREFIX lies in, where two spaces hold it")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newAssignmentsCmd(a *app) *cobra.Command {
	var region, tenant, state string
	var family, limit int
	var within string
	var asJSON bool
	var tf tagFlags
	c := &cobra.Command{
		Use:     "assignments",
		Aliases: []string{"list"},
		Short:   "List assignments",
		Example: `  cadastre assignments --region us-east --state assigned --json
  cadastre assignments --within 191.232.0.0/24`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := registry.AssignmentFilter{Region: region, Family: family, Limit: limit}
			tags, err := tf.tags()
			if err != nil {
				return err
			}
			f.Tags = tags
			if family != 0 && family != 4 && family != 6 {
				return usagef("--family %d: must be 4 or 6", family)
			}
			if limit < 0 {
				return usagef("--limit %d: must not be negative", limit)
			}
			if cmd.Flags().Changed("tenant") {
				f.Tenant = &tenant
			}
			if state != "" {
				switch s := registry.State(state); s {
				case registry.StateAssigned, registry.StateQuarantined, registry.StateReleased:
					f.States = []registry.State{s}
				default:
					return usagef("--state %q: must be assigned, quarantined or released", state)
				}
			}
			if within != "" {
				p, err := parsePrefixArg(within)
				if err != nil {
					return err
				}
				f.Within = p
			}
			reg, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			as, err := reg.Assignments(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, nonNil(as))
			}
			return table(a.cfg.stdout, assignmentHeader, assignmentRows(as))
		},
	}
	f := c.Flags()
	f.StringVar(&region, "region", "", "only this region")
	f.StringVar(&tenant, "tenant", "", "only this tenant")
	f.StringVar(&state, "state", "", "only this state: assigned, quarantined or released")
	f.IntVar(&family, "family", 0, "only this family, 4 or 6")
	f.StringVar(&within, "within", "", "only assignments inside this prefix")
	tf.addSet(f, "only assignments tagged")
	f.IntVar(&limit, "limit", 0, "at most this many")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
