package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/client"
	"github.com/cadastre-ipam/cadastre/registry"
)

// tenantBackend is what the tenant verbs need, locally or over --server.
type tenantBackend interface {
	AddTenant(ctx context.Context, s registry.TenantSpec) (registry.Tenant, error)
	Tenants(ctx context.Context) ([]registry.Tenant, error)
	UpdateTenant(ctx context.Context, s registry.TenantSpec) (registry.Tenant, error)
	RemoveTenant(ctx context.Context, name string) error
}

var (
	_ tenantBackend = (*registry.Registry)(nil)
	_ tenantBackend = (*client.Client)(nil)
)

func (a *app) tenantBackend(ctx context.Context) (tenantBackend, error) {
	b, err := a.backend(ctx)
	if err != nil {
		return nil, err
	}
	tb, ok := b.(tenantBackend)
	if !ok {
		return nil, fmt.Errorf("tenants: this backend cannot manage tenants")
	}
	return tb, nil
}

// quotaFlag reads --max-ipv4/--max-ipv6: a count, or "none" (no limit).
func quotaFlag(name, v string) (n *int64, clear bool, err error) {
	if v == "none" {
		return nil, true, nil
	}
	x, err := strconv.ParseInt(v, 10, 64)
	if err != nil || x < 0 {
		return nil, false, usagef("--%s %q: a count from 0 up, or none", name, v)
	}
	return &x, false, nil
}

func newTenantCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "tenant",
		Short: "Tenants: their DNS name suffixes and quotas",
		Long: `A tenant is a customer of the operator. Its assignments may be named only under
its --names suffixes by callers below admin (tokens of scope read or allocate;
the local CLI and admin tokens may name freely), and never with a name another
tenant's live assignment holds; below admin, never a zone's apex, name server,
glue or static record either. --max-ipv4 bounds the IPv4 addresses it holds,
--max-ipv6 the IPv6 prefixes (of any length), both counting live and
quarantined assignments. A tenant that holds assignments cannot be removed.
Its tokens write NS, DS and DNAME records (which hand a name and all below it
to other servers or another tree) only with --may-delegate.

No two tenants' suffixes overlap: a suffix equal to, containing or under
another tenant's is refused (exit 4, naming it); narrowing one a tenant has is
always allowed. Overlaps from before this rule are marked by tenant list.

Tenants named in a register made before tenants existed were created by the
upgrade with --names . (every name) and no quota.`,
		Example: `  cadastre tenant add acme --names acme.cloud.example --max-ipv4 256 --max-ipv6 10000
  cadastre tenant update acme --max-ipv4 none --names acme.cloud.example --names acme.test
  cadastre tenant list`,
		Args: unknownCommand,
		RunE: showHelp,
	}
	var names []string
	var max4, max6, note string
	var asJSON, mayDelegate bool
	spec := func(cmd *cobra.Command, name string) (registry.TenantSpec, error) {
		s := registry.TenantSpec{Name: name}
		if cmd.Flags().Changed("names") {
			n := names
			if n == nil {
				n = []string{}
			}
			s.Names = &n
		}
		var err error
		if cmd.Flags().Changed("max-ipv4") {
			if s.MaxIPv4, s.ClearIPv4, err = quotaFlag("max-ipv4", max4); err != nil {
				return s, err
			}
		}
		if cmd.Flags().Changed("max-ipv6") {
			if s.MaxIPv6, s.ClearIPv6, err = quotaFlag("max-ipv6", max6); err != nil {
				return s, err
			}
		}
		if cmd.Flags().Changed("note") {
			s.Note = &note
		}
		if cmd.Flags().Changed("may-delegate") {
			s.MayDelegate = &mayDelegate
		}
		return s, nil
	}
	show := func(t registry.Tenant) error {
		if asJSON {
			return writeJSON(a.cfg.stdout, t)
		}
		return table(a.cfg.stdout, tenantHeader, tenantRows([]registry.Tenant{t}))
	}
	flags := func(c *cobra.Command) {
		c.Flags().StringArrayVar(&names, "names", nil, "DNS suffix the tenant's names may end in (repeatable; \".\" is every name)")
		c.Flags().StringVar(&max4, "max-ipv4", "none", "IPv4 addresses the tenant may hold, or none")
		c.Flags().StringVar(&max6, "max-ipv6", "none", "IPv6 prefixes the tenant may hold, or none")
		c.Flags().StringVar(&note, "note", "", "free text")
		c.Flags().BoolVar(&mayDelegate, "may-delegate", false, "let the tenant's tokens write NS, DS and DNAME records under its suffixes (--may-delegate=false withdraws it)")
		c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	}
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a tenant",
		Example: `  cadastre tenant add acme --names acme.cloud.example --max-ipv4 256 --max-ipv6 10000
  cadastre tenant add lab --note "no names, no quota"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := spec(cmd, args[0])
			if err != nil {
				return err
			}
			b, err := a.tenantBackend(cmd.Context())
			if err != nil {
				return err
			}
			t, err := b.AddTenant(cmd.Context(), s)
			if err != nil {
				return err
			}
			return show(t)
		},
	}
	flags(add)
	update := &cobra.Command{
		Use:   "update NAME",
		Short: "Change a tenant's name suffixes, quotas or note (only the flags given)",
		Long: `Change only what the flags name. --names replaces the whole list (repeat it for
several; --names "" removes every suffix). A quota may go below the current use:
nothing is taken back, and the tenant gets no more until its use is below it.`,
		Example: `  cadastre tenant update acme --max-ipv4 512
  cadastre tenant update acme --max-ipv6 none --names acme.cloud.example`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := spec(cmd, args[0])
			if err != nil {
				return err
			}
			if s.Names != nil && len(*s.Names) == 1 && (*s.Names)[0] == "" {
				*s.Names = []string{}
			}
			b, err := a.tenantBackend(cmd.Context())
			if err != nil {
				return err
			}
			t, err := b.UpdateTenant(cmd.Context(), s)
			if err != nil {
				return err
			}
			return show(t)
		},
	}
	flags(update)
	list := &cobra.Command{
		Use:     "list",
		Short:   "List tenants with their suffixes, quotas and use",
		Example: `  cadastre tenant list --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := a.tenantBackend(cmd.Context())
			if err != nil {
				return err
			}
			ts, err := b.Tenants(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, nonNil(ts))
			}
			if err := table(a.cfg.stdout, tenantHeader, tenantRows(ts)); err != nil {
				return err
			}
			for _, t := range ts {
				if len(t.Overlaps) > 0 {
					fmt.Fprintln(a.cfg.stderr, "cadastre: tenants marked \"overlaps\" share names under their suffixes (made before the rule, or by the upgrade's \".\"); narrow them with `cadastre tenant update NAME --names ...`")
					break
				}
			}
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	remove := &cobra.Command{
		Use:     "remove NAME",
		Short:   "Remove a tenant that holds no live or quarantined assignment (exit 4 otherwise)",
		Example: `  cadastre tenant remove lab`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := a.tenantBackend(cmd.Context())
			if err != nil {
				return err
			}
			if err := b.RemoveTenant(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "tenant %s removed\n", args[0])
			return nil
		},
	}
	c.AddCommand(add, list, update, remove)
	return c
}

const tenantHeader = "NAME\tNAMES\tIPV4 USED/MAX\tIPV6 USED/MAX\tNOTE"

func tenantRows(ts []registry.Tenant) [][]string {
	quota := func(used int64, max *int64) string {
		if max == nil {
			return strconv.FormatInt(used, 10) + "/-"
		}
		return strconv.FormatInt(used, 10) + "/" + strconv.FormatInt(*max, 10)
	}
	rows := make([][]string, 0, len(ts))
	for _, t := range ts {
		names := dash(strings.Join(t.Names, ","))
		if len(t.Overlaps) > 0 {
			more := ""
			if t.OverlapsMore {
				more = ",..." // more than registry.MaxListedOverlaps
			}
			names += " (overlaps " + strings.Join(t.Overlaps, ",") + more + ")"
		}
		rows = append(rows, []string{t.Name, names, quota(t.UsedIPv4, t.MaxIPv4), quota(t.UsedIPv6, t.MaxIPv6), dash(t.Note)})
	}
	return rows
}
