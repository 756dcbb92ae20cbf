package main

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

func newRegionCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "region", Short: "Regions: named places where you run machines", Args: unknownCommand, RunE: showHelp,
		Example: `  cadastre region add us-east --country US --subdivision US-VA --borrow-from brazil-south
  cadastre region list`}
	var loc location.Location
	var borrow string
	var unit int
	var addTags tagFlags
	add := &cobra.Command{
		Use:   "add NAME --country CC",
		Short: "Create a region with its location and borrowing policy",
		Long: `Create a region: where it is (ISO 3166-1 country, ISO 3166-2 subdivision, city) and
whether it may borrow IPv4 from other regions when its own runs out:
  none    never (the default): allocation fails when its IPv4 pools are full
  any     from any other region
  R1,R2   from these regions, in this order
Borrowing moves a relocation unit (a /24 unless --borrow-unit) to the region and
records it, so the geofeed and the audit follow the space.`,
		Example: `  cadastre region add brazil-south --country BR --subdivision BR-SP --city "Sao Paulo"
  cadastre region add us-east --country US --subdivision US-VA --borrow-from brazil-south`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pol, err := registry.ParseBorrowPolicy(borrow)
			if err != nil {
				return usageError{err}
			}
			tags, err := addTags.tags()
			if err != nil {
				return err
			}
			reg, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			r, err := reg.AddRegion(cmd.Context(), registry.RegionSpec{Name: args[0], Location: loc, Borrow: pol, BorrowBits: unit, Tags: tags})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "region %s added (%s, borrows from %s)\n", r.Name, r.Location, r.Borrow)
			return nil
		},
	}
	add.Flags().StringVar(&loc.Country, "country", "", "ISO 3166-1 alpha-2 country code, e.g. US (required)")
	add.Flags().StringVar(&loc.Subdivision, "subdivision", "", "ISO 3166-2 subdivision code, e.g. US-VA")
	add.Flags().StringVar(&loc.City, "city", "", "city name")
	add.Flags().StringVar(&borrow, "borrow-from", "none", "IPv4 borrowing policy: none, any, or a list R1,R2")
	add.Flags().IntVar(&unit, "borrow-unit", registry.DefaultBorrowBits, "prefix length of the IPv4 unit borrowed at a time")
	add.MarkFlagRequired("country")
	addTags.addSet(add.Flags(), "tag the region with")

	var asJSON bool
	var listTags tagFlags
	list := &cobra.Command{
		Use:     "list",
		Short:   "List regions",
		Example: "  cadastre region list --json\n  cadastre region list --tag env=prod",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tags, err := listTags.tags()
			if err != nil {
				return err
			}
			reg, err := a.lifeBackend(cmd.Context())
			if err != nil {
				return err
			}
			rs, err := reg.RegionsTagged(cmd.Context(), tags)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, nonNil(rs))
			}
			rows := [][]string{}
			for _, r := range rs {
				rows = append(rows, []string{r.Name, r.Location.Country, dash(r.Location.Subdivision), dash(r.Location.City), r.Borrow.String(), "/" + strconv.Itoa(r.BorrowBits)})
			}
			return table(a.cfg.stdout, "NAME\tCOUNTRY\tSUBDIVISION\tCITY\tBORROWS FROM\tUNIT", rows)
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	listTags.addSet(list.Flags(), "only regions tagged")
	c.AddCommand(add, list)
	return c
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// parsePrefixArg parses a prefix argument strictly, as a usage error.
func parsePrefixArg(s string) (netip.Prefix, error) {
	p, err := prefix.Parse(s)
	if err != nil {
		return netip.Prefix{}, usageError{err}
	}
	return p, nil
}

func newBlockCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "block", Short: "Blocks: the address space you hold, with provenance", Args: unknownCommand, RunE: showHelp,
		Example: `  cadastre block add 40.64.0.0/10 --source rir --registry arin --registered-country US
  cadastre block list`}
	var b registry.Block
	var src, price, currency string
	var addTags tagFlags
	add := &cobra.Command{
		Use:   "add PREFIX --source rir|transfer|byoip|private",
		Short: "Record a block you hold and how it came to you",
		Long: `Record a block of address space and its provenance: an RIR allocation (name the
registry), a transfer or purchase (name the seller, the price and the date), a
customer's own space brought to you (BYOIP) or private space (RFC 1918, ULA).
The registered country is the country the registry's records give: geolocation
databases lean on it, which is why cadastre keeps it beside where the space is used.`,
		Example: `  cadastre block add 40.64.0.0/10 --source rir --registry arin --registered-country US
  cadastre block add 132.245.0.0/16 --source transfer --registry arin --from "Nortel Networks" \
      --price 7500000 --currency USD --date 2011-03-23 --registered-country US
  cadastre block add 2603:1000::/32 --source rir --registry arin --registered-country US`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parsePrefixArg(args[0])
			if err != nil {
				return err
			}
			b.Prefix, b.Source = p, registry.Source(src)
			if b.Tags, err = addTags.tags(); err != nil {
				return err
			}
			if price != "" {
				m, err := registry.ParseMoney(price, currency)
				if err != nil {
					return usageError{err}
				}
				b.Price = &m
			} else if cmd.Flags().Changed("currency") {
				return usagef("--currency given without --price")
			}
			reg, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			nb, err := reg.AddBlock(cmd.Context(), b)
			if err != nil {
				return err
			}
			if nb.Space != registry.GlobalSpace {
				fmt.Fprintf(a.cfg.stdout, "block %s added to space %s (%s addresses, %s)\n", nb.Prefix, nb.Space, count(prefix.Size(nb.Prefix)), nb.Source)
				return nil
			}
			fmt.Fprintf(a.cfg.stdout, "block %s added (%s addresses, %s)\n", nb.Prefix, count(prefix.Size(nb.Prefix)), nb.Source)
			return nil
		},
	}
	f := add.Flags()
	f.StringVar(&src, "source", "", "how the block came: rir, transfer, byoip or private (required)")
	f.StringVar(&b.Registry, "registry", "", "regional registry: afrinic, apnic, arin, lacnic or ripe")
	f.StringVar(&b.RegisteredCountry, "registered-country", "", "country the registry records, ISO 3166-1 alpha-2")
	f.StringVar(&b.From, "from", "", "counterparty: seller, lessor or customer")
	f.StringVar(&price, "price", "", "price paid, e.g. 7500000.00")
	f.StringVar(&currency, "currency", "USD", "ISO 4217 currency of --price")
	f.StringVar(&b.Date, "date", "", "date acquired, YYYY-MM-DD")
	f.StringVar(&b.Note, "note", "", "free text")
	f.StringVar(&b.Space, "space", "", "private blocks: the space (VRF) it belongs to (default private; spaces: cadastre space list)")
	addTags.addSet(f, "tag the block with")
	add.MarkFlagRequired("source")

	var asJSON bool
	var listTags tagFlags
	var listSpace string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List blocks with provenance and price per address",
		Example: "  cadastre block list --json\n  cadastre block list --space vpc-a --tag owner=finance",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tags, err := listTags.tags()
			if err != nil {
				return err
			}
			reg, err := a.lifeBackend(cmd.Context())
			if err != nil {
				return err
			}
			bs, err := reg.BlocksWhere(cmd.Context(), listSpace, tags)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, nonNil(bs))
			}
			rows := [][]string{}
			for _, b := range bs {
				pr, per := "-", "-"
				if b.Price != nil {
					pr = b.Price.String()
					if n := prefix.Size(b.Prefix).Float64(); n > 0 {
						per = fmt.Sprintf("%.2f %s", float64(b.Price.Cents)/100/n, b.Price.Currency)
					}
				}
				rows = append(rows, []string{b.Prefix.String(), string(b.Source), dash(registry.RegistryName(b.Registry)), dash(b.RegisteredCountry), dash(b.From), dash(b.Date), pr, per})
			}
			return table(a.cfg.stdout, "PREFIX\tSOURCE\tREGISTRY\tREG.COUNTRY\tFROM\tDATE\tPRICE\tPER ADDRESS", rows)
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list.Flags().StringVar(&listSpace, "space", "", "only the blocks of this space")
	listTags.addSet(list.Flags(), "only blocks tagged")
	c.AddCommand(add, list)
	return c
}

func newPoolCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "pool", Short: "Pools: parts of blocks dedicated to a region", Args: unknownCommand, RunE: showHelp,
		Example: `  cadastre pool add 40.64.0.0/23 --region us-east --purpose vms
  cadastre pool list --region us-east`}
	var spec registry.PoolSpec
	var addTags tagFlags
	add := &cobra.Command{
		Use:   "add PREFIX --region NAME",
		Short: "Dedicate part of a block to a region",
		Long: `Dedicate a prefix inside one block to a region. Assignments in the region come
from its pools; pools never overlap. Creating a pool costs the same whatever its
size: free space is kept as maximal aligned prefixes, not address by address.

Address policy: an IPv4 pool of /30 or shorter never hands out its network and
broadcast addresses (a /31 or /32 has none, RFC 3021), and an IPv6 pool never
hands out the subnet-router anycast address of a /64 (RFC 4291 §2.6.1) as part
of an assignment longer than a /64. --use-all hands out every address (NAT pools).`,
		Example: `  cadastre pool add 40.64.0.0/23 --region us-east --purpose vms
  cadastre pool add 2603:1000::/32 --region us-east
  cadastre pool add 40.64.8.0/28 --region us-east --purpose nat --use-all`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parsePrefixArg(args[0])
			if err != nil {
				return err
			}
			spec.Prefix = p
			if spec.Tags, err = addTags.tags(); err != nil {
				return err
			}
			reg, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			pl, err := reg.AddPool(cmd.Context(), spec)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "pool %s added to region %s (block %s)\n", pl.Prefix, pl.Region, pl.Block)
			return nil
		},
	}
	add.Flags().StringVar(&spec.Region, "region", "", "region the pool serves (required)")
	add.Flags().StringVar(&spec.Purpose, "purpose", "", "what the pool is for, e.g. vms")
	add.Flags().BoolVar(&spec.UseAll, "use-all", false, "hand out every address: no network, broadcast or subnet-router anycast address kept back (NAT pools)")
	add.Flags().StringVar(&spec.Space, "space", "", "the space of the block, when blocks of several spaces hold the prefix")
	addTags.addSet(add.Flags(), "tag the pool with")
	add.MarkFlagRequired("region")

	var asJSON bool
	var region string
	var listTags tagFlags
	list := &cobra.Command{
		Use:     "list",
		Short:   "List pools with their use",
		Example: "  cadastre pool list --region us-east --json\n  cadastre pool list --tag tier=gold",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tags, err := listTags.tags()
			if err != nil {
				return err
			}
			reg, err := a.lifeBackend(cmd.Context())
			if err != nil {
				return err
			}
			ps, err := reg.PoolsTagged(cmd.Context(), region, tags)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, nonNil(ps))
			}
			rows := [][]string{}
			listed := map[int64]bool{}
			for _, p := range ps {
				listed[p.ID] = true
			}
			for _, p := range ps {
				from := "-"
				if p.Relocation != nil {
					from = "borrowed from " + p.Relocation.FromRegion
				} else if p.IsChild() {
					from = "child pool " + p.Name
					if p.Tenant != "" {
						from += " of " + p.Tenant
					}
				}
				// A unit carved out for another region, or a child pool,
				// sits under the pool it came from (pools come in
				// address order, the parent first), when that pool is
				// listed: under another region's pool it would read as
				// carved from that one.
				name := p.Prefix.String()
				if p.ParentID != 0 && listed[p.ParentID] {
					name = "└ " + name
				}
				fam := prefix.Family(p.Prefix)
				u := func(c prefix.Count) string { return inUnit(c, fam, 64) }
				rows = append(rows, []string{name, p.Region, p.Block.String(), dash(p.Purpose), u(p.Size), handedOut(p.Assigned, fam, p.AssignedByLength),
					u(p.Quarantined), u(p.Free), fmt.Sprintf("%.1f%%", 100*p.Utilization), from})
			}
			return table(a.cfg.stdout, "PREFIX\tREGION\tBLOCK\tPURPOSE\tSIZE\tASSIGNED\tQUARANTINED\tFREE\tUSED\tRELOCATION", rows)
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list.Flags().StringVar(&region, "region", "", "only this region's pools")
	listTags.addSet(list.Flags(), "only pools tagged")
	c.AddCommand(add, list)
	return c
}
