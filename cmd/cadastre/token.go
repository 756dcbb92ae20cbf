package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/auth"
)

// tokens opens the token keeper: the key comes from $CADASTRE_TOKEN_KEY
// (hex) or from --token-key-file, created beside the database on first use.
func (a *app) tokens(ctx context.Context) (*auth.Tokens, error) {
	if _, err := a.open(ctx); err != nil {
		return nil, err
	}
	var key []byte
	var err error
	if a.cfg.tokenKey != "" {
		key, err = auth.ParseKey(a.cfg.tokenKey)
		if err != nil {
			return nil, usageError{fmt.Errorf("$CADASTRE_TOKEN_KEY: %w", err)}
		}
	} else {
		path := a.cfg.tokenKeyFile
		if path == "" && a.cfg.postgres != "" {
			return nil, usagef("with --postgres, every replica needs the same token key: set $CADASTRE_TOKEN_KEY (64 hex digits) or --token-key-file")
		}
		if path == "" {
			path = a.cfg.db + ".key"
		}
		if key, err = auth.LoadKeyFile(path, true); err != nil {
			return nil, err
		}
	}
	return auth.New(a.store, key, nil)
}

func newTokenCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "token",
		Short: "API tokens: create, list, revoke",
		Long: `API tokens authenticate calls to ` + "`cadastre serve`" + `. A token has a scope (read; allocate,
which also allocates, releases and renames assignments; admin, which also changes
regions, blocks, pools and tokens) and may be bound to one tenant, whose token
then sees and changes only that tenant's assignments.

The secret is printed once. The database keeps only an HMAC of it, keyed with a
server-side key ($CADASTRE_TOKEN_KEY as hex, or the file --token-key-file, by
default the database path + ".key", created on first use). There are no
passwords and no recovery: an admin revokes a lost token and issues a new one.`,
		Example: `  cadastre token create --scope allocate --tenant acme
  cadastre token list`,
		Args: unknownCommand,
		RunE: showHelp,
	}
	var spec auth.Spec
	var scope, expires string
	var asJSON bool
	create := &cobra.Command{
		Use:   "create --scope read|allocate|admin",
		Short: "Issue a token and print its secret once",
		Example: `  cadastre token create --scope admin --name ops
  cadastre token create --scope allocate --tenant acme --expires 720h --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := auth.ParseScope(scope)
			if err != nil {
				return usageError{err}
			}
			spec.Scope = sc
			if expires != "" {
				d, err := parseDuration(expires)
				if err != nil || d == 0 {
					return usagef("--expires %q: use a positive duration such as 720h or 30d", expires)
				}
				spec.Expires = d
			}
			k, err := a.tokens(cmd.Context())
			if err != nil {
				return err
			}
			t, secret, err := k.Create(cmd.Context(), spec)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, struct {
					auth.Token
					Secret string `json:"secret"`
				}{t, secret})
			}
			fmt.Fprintf(a.cfg.stdout, "%s\n", secret)
			fmt.Fprintf(a.cfg.stderr, "token %s (%s%s) created; the secret above is shown only now\n", t.ID, t.Scope, tenantNote(t.Tenant))
			return nil
		},
	}
	create.Flags().StringVar(&scope, "scope", "", "read, allocate or admin (required)")
	create.Flags().StringVar(&spec.Tenant, "tenant", "", "bind the token to this tenant's assignments")
	create.Flags().StringVar(&expires, "expires", "", "lifetime, e.g. 720h or 30d (default: no expiry)")
	create.Flags().StringVar(&spec.Name, "name", "", "what the token is for")
	create.Flags().BoolVar(&asJSON, "json", false, "print JSON with id and secret")
	create.MarkFlagRequired("scope")

	var listJSON bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "List tokens (never their secrets)",
		Example: "  cadastre token list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := a.tokens(cmd.Context())
			if err != nil {
				return err
			}
			ts, err := k.List(cmd.Context())
			if err != nil {
				return err
			}
			if listJSON {
				return writeJSON(a.cfg.stdout, nonNil(ts))
			}
			rows := [][]string{}
			for _, t := range ts {
				state := "active"
				switch {
				case t.RevokedAt != nil:
					state = "revoked " + day(*t.RevokedAt)
				case t.ExpiresAt != nil && !time.Now().Before(*t.ExpiresAt):
					state = "expired"
				}
				used := "never"
				if t.LastUsed != nil {
					used = day(*t.LastUsed)
				}
				rows = append(rows, []string{t.ID, t.Scope.String(), dash(t.Tenant), dash(t.Name), day(t.CreatedAt), used, state})
			}
			return table(a.cfg.stdout, "ID\tSCOPE\tTENANT\tNAME\tCREATED\tLAST USED\tSTATE", rows)
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke a token at once",
		Example: "  cadastre token revoke k3j5h2m4n6p7q8r9",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := a.tokens(cmd.Context())
			if err != nil {
				return err
			}
			if err := k.Revoke(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "token %s revoked\n", args[0])
			return nil
		},
	}
	c.AddCommand(create, list, revoke)
	return c
}

func tenantNote(t string) string {
	if t == "" {
		return ""
	}
	return ", tenant " + t
}
