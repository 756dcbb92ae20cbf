package main

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cadastre-ipam/cadastre/client"
	"github.com/cadastre-ipam/cadastre/registry"
)

// lifeBackend is what the verbs that change and remove objects, spaces and
// tag filters need, locally or over --server.
type lifeBackend interface {
	AddSpace(ctx context.Context, s registry.Space) (registry.Space, error)
	Spaces(ctx context.Context) ([]registry.Space, error)
	RemoveSpace(ctx context.Context, name string) error
	RegionsTagged(ctx context.Context, tags registry.Tags) ([]registry.Region, error)
	PatchRegion(ctx context.Context, name, ifMatch string, p registry.RegionPatch) (registry.Region, error)
	RemoveRegion(ctx context.Context, name, ifMatch string) error
	BlocksWhere(ctx context.Context, space string, tags registry.Tags) ([]registry.Block, error)
	FindBlock(ctx context.Context, p netip.Prefix, space string) (registry.Block, error)
	UpdateBlock(ctx context.Context, id int64, ifMatch string, p registry.BlockPatch) (registry.Block, error)
	RemoveBlock(ctx context.Context, id int64, ifMatch string) error
	PoolsTagged(ctx context.Context, region string, tags registry.Tags) ([]registry.PoolUsage, error)
	Pool(ctx context.Context, id int64) (registry.Pool, error)
	FindPoolIn(ctx context.Context, p netip.Prefix, space string) (registry.Pool, error)
	UpdatePool(ctx context.Context, id int64, ifMatch string, p registry.PoolPatch) (registry.Pool, error)
	RemovePool(ctx context.Context, id int64, ifMatch string) error
	PatchAssignment(ctx context.Context, id int64, ifMatch string, tenant *string, p registry.AssignmentPatch) (registry.Assignment, error)
	ShowIn(ctx context.Context, p netip.Prefix, space string) (registry.Holding, error)
	ShowWith(ctx context.Context, p netip.Prefix, opts registry.ShowOptions) (registry.Holding, error)
}

var (
	_ lifeBackend = (*registry.Registry)(nil)
	_ lifeBackend = (*client.Client)(nil)
)

func (a *app) lifeBackend(ctx context.Context) (lifeBackend, error) {
	b, err := a.backend(ctx)
	if err != nil {
		return nil, err
	}
	lb, ok := b.(lifeBackend)
	if !ok {
		return nil, fmt.Errorf("%s: this backend cannot change objects", a.verbName())
	}
	return lb, nil
}

// tagFlags are --tag KEY=VALUE (repeatable) and, on update verbs, --untag KEY.
type tagFlags struct {
	set   []string
	unset []string
}

func (t *tagFlags) addSet(f *pflag.FlagSet, what string) {
	f.StringArrayVar(&t.set, "tag", nil, what+" KEY=VALUE (repeatable); keys: lower-case letters, digits and . _ - : /")
}

func (t *tagFlags) addUnset(f *pflag.FlagSet) {
	f.StringArrayVar(&t.unset, "untag", nil, "remove the tag KEY (repeatable)")
}

// tags parses --tag as a usage error.
func (t *tagFlags) tags() (registry.Tags, error) {
	tags, err := registry.ParseTags(t.set)
	if err != nil {
		return nil, usageError{fmt.Errorf("--tag: %w", err)}
	}
	return tags, nil
}

// patch parses --tag and --untag.
func (t *tagFlags) patch() (registry.TagPatch, error) {
	tags, err := t.tags()
	if err != nil {
		return registry.TagPatch{}, err
	}
	for _, k := range t.unset {
		if err := registry.ValidateTagKey(k); err != nil {
			return registry.TagPatch{}, usageError{fmt.Errorf("--untag: %w", err)}
		}
	}
	return registry.TagPatch{Set: tags, Unset: t.unset}, nil
}

// forUpdate parses --tag and --untag of an update verb, and refuses the
// verb when none of its flags changes anything.
func (t *tagFlags) forUpdate(cmd *cobra.Command) (registry.TagPatch, error) {
	if err := nothingToChange(cmd); err != nil {
		return registry.TagPatch{}, err
	}
	return t.patch()
}

// changed returns a pointer to v when the flag was given, else nil.
func changed[T any](cmd *cobra.Command, name string, v T) *T {
	if cmd.Flags().Changed(name) {
		return &v
	}
	return nil
}

// nothingToChange refuses an update verb given none of the flags that
// change something (all but --json and the flags that find the object).
func nothingToChange(cmd *cobra.Command) error {
	any := false
	own := cmd.LocalNonPersistentFlags()
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if own.Lookup(f.Name) != nil && f.Name != "json" && f.Name != "space" {
			any = true
		}
	})
	if any {
		return nil
	}
	return usagef("%s: nothing to change (see `%s --help`)", cmd.CommandPath(), cmd.CommandPath())
}

func newSpaceCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "space", Short: "Spaces: routing domains (VRFs) for private blocks", Args: unknownCommand, RunE: showHelp,
		Long: `A space is a routing domain (a VRF). Public space is the one space "global";
private blocks (RFC 1918, ULA, shared) belong to a named space: "private" unless
block add names another with --space. Blocks overlap only across spaces, so the
10.0.0.0/8 of two VPCs can both be recorded. Look-ups without --space, the
published geofeed and the audit read the global space.`,
		Example: `  cadastre space add vpc-a --note "production VPC"
  cadastre block add 10.0.0.0/8 --source private --space vpc-a
  cadastre space list`}
	var note string
	add := &cobra.Command{
		Use:     "add NAME",
		Short:   "Create a space for private blocks",
		Example: `  cadastre space add vpc-a --note "production VPC"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lb, err := a.lifeBackend(cmd.Context())
			if err != nil {
				return err
			}
			s, err := lb.AddSpace(cmd.Context(), registry.Space{Name: args[0], Note: note})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "space %s added\n", s.Name)
			return nil
		},
	}
	add.Flags().StringVar(&note, "note", "", "free text")
	var asJSON bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "List spaces with their number of blocks",
		Example: "  cadastre space list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			lb, err := a.lifeBackend(cmd.Context())
			if err != nil {
				return err
			}
			ss, err := lb.Spaces(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, nonNil(ss))
			}
			rows := [][]string{}
			for _, s := range ss {
				rows = append(rows, []string{s.Name, strconv.Itoa(s.Blocks), dash(safe(s.Note))})
			}
			return table(a.cfg.stdout, "NAME\tBLOCKS\tNOTE", rows)
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	remove := &cobra.Command{
		Use:     "remove NAME",
		Short:   "Remove a space no block belongs to",
		Example: "  cadastre space remove vpc-a",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lb, err := a.lifeBackend(cmd.Context())
			if err != nil {
				return err
			}
			if err := lb.RemoveSpace(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "space %s removed\n", args[0])
			return nil
		},
	}
	c.AddCommand(add, list, remove)
	return c
}

// lifeVerbs adds update and remove to the region, block and pool groups,
// and the assignment group with update.
func lifeVerbs(a *app, root *cobra.Command) {
	for _, g := range root.Commands() {
		switch g.Name() {
		case "region":
			g.AddCommand(newRegionUpdateCmd(a), newRegionRemoveCmd(a))
		case "block":
			g.AddCommand(newBlockUpdateCmd(a), newBlockRemoveCmd(a))
		case "pool":
			g.AddCommand(newPoolUpdateCmd(a), newPoolRemoveCmd(a))
		}
	}
	asg := &cobra.Command{Use: "assignment", Short: "Change an assignment's name, resource or tags", Args: unknownCommand, RunE: showHelp,
		Example: `  cadastre assignment update 1234 --name vm1.example.com --tag env=prod`}
	asg.AddCommand(newAssignmentUpdateCmd(a))
	root.AddCommand(newSpaceCmd(a), asg)
}

func newRegionUpdateCmd(a *app) *cobra.Command {
	var country, subdivision, city, borrow string
	var unit int
	var tf tagFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "update NAME",
		Short: "Change a region's location, borrowing policy or tags",
		Example: `  cadastre region update us-east --city Ashburn --tag env=prod
  cadastre region update us-east --borrow-from none --untag env`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tp, err := tf.forUpdate(cmd)
			if err != nil {
				return err
			}
			p := registry.RegionPatch{Country: changed(cmd, "country", country), Subdivision: changed(cmd, "subdivision", subdivision),
				City: changed(cmd, "city", city), BorrowBits: changed(cmd, "borrow-unit", unit), TagPatch: tp}
			if cmd.Flags().Changed("borrow-from") {
				pol, err := registry.ParseBorrowPolicy(borrow)
				if err != nil {
					return usageError{err}
				}
				p.Borrow = &pol
			}
			lb, err := a.lifeBackend(cmd.Context())
			if err != nil {
				return err
			}
			r, err := lb.PatchRegion(cmd.Context(), args[0], "", p)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, r)
			}
			fmt.Fprintf(a.cfg.stdout, "region %s updated (%s, borrows from %s, tags %s)\n", r.Name, r.Location, r.Borrow, safe(r.Tags.String()))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&country, "country", "", "ISO 3166-1 alpha-2 country code")
	f.StringVar(&subdivision, "subdivision", "", "ISO 3166-2 subdivision code")
	f.StringVar(&city, "city", "", "city name")
	f.StringVar(&borrow, "borrow-from", "", "IPv4 borrowing policy: none, any, or a list R1,R2")
	f.IntVar(&unit, "borrow-unit", registry.DefaultBorrowBits, "prefix length of the IPv4 unit borrowed at a time")
	tf.addSet(f, "add or replace the tag")
	tf.addUnset(f)
	f.BoolVar(&asJSON, "json", false, "print the region as JSON")
	return c
}

func newRegionRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Short:   "Remove a region no pool, relocation or borrowing policy depends on",
		Example: "  cadastre region remove lab",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lb, err := a.lifeBackend(cmd.Context())
			if err != nil {
				return err
			}
			if err := lb.RemoveRegion(cmd.Context(), args[0], ""); err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "region %s removed\n", args[0])
			return nil
		},
	}
}

func newBlockUpdateCmd(a *app) *cobra.Command {
	var space, reg, country, from, price, currency, date, note string
	var noPrice, asJSON bool
	var tf tagFlags
	c := &cobra.Command{
		Use:   "update PREFIX",
		Short: "Change a block's provenance or tags (its prefix, source and space stay)",
		Example: `  cadastre block update 132.245.0.0/16 --note "bought from Nortel" --tag owner=finance
  cadastre block update 10.0.0.0/8 --space vpc-a --untag owner`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parsePrefixArg(args[0])
			if err != nil {
				return err
			}
			tp, err := tf.forUpdate(cmd)
			if err != nil {
				return err
			}
			bp := registry.BlockPatch{Registry: changed(cmd, "registry", reg), RegisteredCountry: changed(cmd, "registered-country", country),
				From: changed(cmd, "from", from), Date: changed(cmd, "date", date), Note: changed(cmd, "note", note), ClearPrice: noPrice, TagPatch: tp}
			switch {
			case price != "" && noPrice:
				return usagef("--price and --no-price together")
			case price != "":
				m, err := registry.ParseMoney(price, currency)
				if err != nil {
					return usageError{err}
				}
				bp.Price = &m
			case cmd.Flags().Changed("currency"):
				return usagef("--currency given without --price")
			}
			lb, err := a.lifeBackend(cmd.Context())
			if err != nil {
				return err
			}
			b, err := lb.FindBlock(cmd.Context(), p, space)
			if err != nil {
				return err
			}
			b, err = lb.UpdateBlock(cmd.Context(), b.ID, "", bp)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, b)
			}
			fmt.Fprintf(a.cfg.stdout, "block %s (space %s) updated, tags %s\n", b.Prefix, b.Space, safe(b.Tags.String()))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&space, "space", "", "the block's space, when several spaces hold the prefix")
	f.StringVar(&reg, "registry", "", "regional registry: afrinic, apnic, arin, lacnic or ripe")
	f.StringVar(&country, "registered-country", "", "country the registry records, ISO 3166-1 alpha-2")
	f.StringVar(&from, "from", "", "counterparty: seller, lessor or customer")
	f.StringVar(&price, "price", "", "price paid, e.g. 7500000.00")
	f.StringVar(&currency, "currency", "USD", "ISO 4217 currency of --price")
	f.BoolVar(&noPrice, "no-price", false, "remove the price")
	f.StringVar(&date, "date", "", "date acquired, YYYY-MM-DD")
	f.StringVar(&note, "note", "", "free text")
	tf.addSet(f, "add or replace the tag")
	tf.addUnset(f)
	f.BoolVar(&asJSON, "json", false, "print the block as JSON")
	return c
}

func newBlockRemoveCmd(a *app) *cobra.Command {
	var space string
	c := &cobra.Command{
		Use:     "remove PREFIX",
		Short:   "Remove a block no pool is carved from",
		Example: "  cadastre block remove 40.64.4.0/22\n  cadastre block remove 10.0.0.0/8 --space vpc-a",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parsePrefixArg(args[0])
			if err != nil {
				return err
			}
			lb, err := a.lifeBackend(cmd.Context())
			if err != nil {
				return err
			}
			b, err := lb.FindBlock(cmd.Context(), p, space)
			if err != nil {
				return err
			}
			if err := lb.RemoveBlock(cmd.Context(), b.ID, ""); err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "block %s (space %s) removed\n", b.Prefix, b.Space)
			return nil
		},
	}
	c.Flags().StringVar(&space, "space", "", "the block's space, when several spaces hold the prefix")
	return c
}

// findPool resolves a pool argument: a numeric ID or an exact prefix, in
// space when given (two spaces may hold the same prefix: without --space
// that is refused, naming them, never one picked).
func findPool(ctx context.Context, lb lifeBackend, arg, space string) (registry.Pool, error) {
	if id, err := strconv.ParseInt(arg, 10, 64); err == nil {
		if id <= 0 {
			return registry.Pool{}, usagef("pool ID %d: must be positive", id)
		}
		pl, err := lb.Pool(ctx, id)
		if err == nil && space != "" && pl.Space != space {
			return registry.Pool{}, usagef("pool %d (%s) is in space %s, not %s", id, pl.Prefix, pl.Space, space)
		}
		return pl, err
	}
	p, err := parsePrefixArg(arg)
	if err != nil {
		return registry.Pool{}, err
	}
	return lb.FindPoolIn(ctx, p, space)
}

func newPoolUpdateCmd(a *app) *cobra.Command {
	var purpose, space string
	var tf tagFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "update PREFIX|ID",
		Short: "Change a pool's purpose or tags",
		Example: `  cadastre pool update 40.64.0.0/23 --purpose vms --tag tier=gold
  cadastre pool update 10.1.0.0/16 --space vpc-a --tag env=prod`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tp, err := tf.forUpdate(cmd)
			if err != nil {
				return err
			}
			lb, err := a.lifeBackend(cmd.Context())
			if err != nil {
				return err
			}
			pl, err := findPool(cmd.Context(), lb, args[0], space)
			if err != nil {
				return err
			}
			pl, err = lb.UpdatePool(cmd.Context(), pl.ID, "", registry.PoolPatch{Purpose: changed(cmd, "purpose", purpose), TagPatch: tp})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, pl)
			}
			fmt.Fprintf(a.cfg.stdout, "pool %s updated (purpose %s, tags %s)\n", pl.Prefix, dash(safe(pl.Purpose)), safe(pl.Tags.String()))
			return nil
		},
	}
	c.Flags().StringVar(&purpose, "purpose", "", "what the pool is for")
	c.Flags().StringVar(&space, "space", "", "the pool's space, when several spaces hold the prefix")
	tf.addSet(c.Flags(), "add or replace the tag")
	tf.addUnset(c.Flags())
	c.Flags().BoolVar(&asJSON, "json", false, "print the pool as JSON")
	return c
}

func newPoolRemoveCmd(a *app) *cobra.Command {
	var space string
	c := &cobra.Command{
		Use:   "remove PREFIX|ID",
		Short: "Remove a pool without live or quarantined assignments or lent space",
		Long: `Remove a pool. It must hold no live or quarantined assignment (release them;
quarantined ones free at the end of their cool-down) and have lent no unit to
another region. Its released assignments go with it; the event log keeps them.`,
		Example: "  cadastre pool remove 40.64.3.0/24\n  cadastre pool remove 17\n  cadastre pool remove 10.1.0.0/16 --space vpc-b",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lb, err := a.lifeBackend(cmd.Context())
			if err != nil {
				return err
			}
			pl, err := findPool(cmd.Context(), lb, args[0], space)
			if err != nil {
				return err
			}
			if err := lb.RemovePool(cmd.Context(), pl.ID, ""); err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "pool %s (space %s) removed\n", pl.Prefix, pl.Space)
			return nil
		},
	}
	c.Flags().StringVar(&space, "space", "", "the pool's space, when several spaces hold the prefix")
	return c
}

func newAssignmentUpdateCmd(a *app) *cobra.Command {
	var name, resource string
	var tf tagFlags
	var space string
	var asJSON bool
	c := &cobra.Command{
		Use:   "update ID|PREFIX|IP",
		Short: "Change a live assignment's DNS name, resource or tags",
		Example: `  cadastre assignment update 1234 --name vm1.example.com
  cadastre assignment update 40.64.0.17 --resource vm-42 --tag env=prod --untag old`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			tp, err := tf.forUpdate(cmd)
			if err != nil {
				return err
			}
			b, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			lb, err := a.lifeBackend(cmd.Context())
			if err != nil {
				return err
			}
			id := t.ID
			if id == 0 {
				as, err := b.Assignments(cmd.Context(), registry.AssignmentFilter{Contains: t.Prefix, States: []registry.State{registry.StateAssigned}})
				if err != nil {
					return err
				}
				// Two spaces may hold the prefix: the one named, or the
				// only one; never one picked.
				var hits []string
				for _, x := range as {
					if (x.Prefix == t.Prefix || (t.Prefix.IsSingleIP() && x.Prefix.Contains(t.Prefix.Addr()))) && (space == "" || x.Space == space) {
						id = x.ID
						hits = append(hits, fmt.Sprintf("assignment %d (%s) in space %s", x.ID, x.Prefix, x.Space))
					}
				}
				switch {
				case id == 0 && space != "":
					return fmt.Errorf("no live assignment holds %s in space %s: %w", t.Prefix, space, registry.ErrNotFound)
				case id == 0:
					return fmt.Errorf("no live assignment holds %s: %w", t.Prefix, registry.ErrNotFound)
				case len(hits) > 1:
					return fmt.Errorf("%s: held in %d spaces (%s): name one with --space, or give the assignment's ID: %w", t.Prefix, len(hits), strings.Join(hits, ", "), registry.ErrInvalid)
				}
			} else if space != "" {
				return usagef("--space %s: names where a PREFIX lies; an ID names one assignment already", space)
			}
			x, err := lb.PatchAssignment(cmd.Context(), id, "", nil, registry.AssignmentPatch{Name: changed(cmd, "name", name), Resource: changed(cmd, "resource", resource), TagPatch: tp})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, x)
			}
			fmt.Fprintf(a.cfg.stdout, "assignment %d (%s) updated: name %s, resource %s, tags %s\n", x.ID, x.Prefix, dash(safe(x.Name)), dash(safe(x.Resource)), safe(x.Tags.String()))
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "DNS name (empty removes it)")
	c.Flags().StringVar(&resource, "resource", "", "the tenant's resource")
	c.Flags().StringVar(&space, "space", "", "the space the PREFIX lies in, when several spaces hold it")
	tf.addSet(c.Flags(), "add or replace the tag")
	tf.addUnset(c.Flags())
	c.Flags().BoolVar(&asJSON, "json", false, "print the assignment as JSON")
	return c
}
