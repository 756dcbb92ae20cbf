package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/client"
	"github.com/cadastre-ipam/cadastre/registry"
)

// tokenKeyPath is the key file's path: --token-key-file, else beside the
// SQLite file. With PostgreSQL there is no default: every replica must
// name the same key.
func (a *app) tokenKeyPath() (string, error) {
	if a.cfg.tokenKeyFile != "" {
		return a.cfg.tokenKeyFile, nil
	}
	if a.cfg.postgres != "" {
		return "", usagef("with --postgres, every replica needs the same token key: set $CADASTRE_TOKEN_KEY (64 hex digits) or --token-key-file")
	}
	return a.cfg.db + ".key", nil
}

// tokenKeys reads the token keys: $CADASTRE_TOKEN_KEY (hex, optionally
// ",PREVIOUS-HEX"), else the key file. A missing key file is created only
// for a register that holds nothing sealed with a key: a register restored
// without its key file is refused, naming the file, instead of getting a
// new key under which every token fails.
func (a *app) tokenKeys(ctx context.Context) (auth.KeyFile, error) {
	if _, err := a.open(ctx); err != nil {
		return auth.KeyFile{}, err
	}
	if a.cfg.tokenKey != "" {
		ks, err := auth.ParseKeyEnv(a.cfg.tokenKey)
		if err != nil {
			return auth.KeyFile{}, usageError{fmt.Errorf("$CADASTRE_TOKEN_KEY: %w", err)}
		}
		return auth.KeyFile{Keys: ks}, nil
	}
	path, err := a.tokenKeyPath()
	if err != nil {
		return auth.KeyFile{}, err
	}
	kf, err := auth.ReadKeyFile(path)
	if err == nil {
		return kf, nil
	}
	if !auth.IsMissing(err) {
		return auth.KeyFile{}, usageError{err}
	}
	held, err := a.sealedHoldings(ctx)
	if err != nil {
		return auth.KeyFile{}, err
	}
	if held != "" {
		return auth.KeyFile{}, dbError{fmt.Errorf("token key file %s is missing, but the register holds %s sealed with it: restore the key file from the backup of this register (or set $CADASTRE_TOKEN_KEY); a new key would make them unusable", path, held)}
	}
	return auth.CreateKeyFile(path)
}

// checkTokenKey refuses to serve with token keys that open none of the
// register's live tokens: a key file or $CADASTRE_TOKEN_KEY of another
// register (a replica started with the wrong key, a key file restored
// from the wrong backup) would otherwise answer every token 401, and
// count each as a failed attempt, as a missing key file did before it was
// refused. A register whose tokens are all revoked or expired serves (an
// admin who lost the key revokes them with the local CLI, then issues new
// ones under the new key).
func (a *app) checkTokenKey(ctx context.Context, tokens *auth.Tokens) error {
	from := "$CADASTRE_TOKEN_KEY"
	if a.cfg.tokenKey == "" {
		path, err := a.tokenKeyPath()
		if err != nil {
			return err
		}
		from = "token key file " + path
	}
	return keyOpensTokens(ctx, tokens, from)
}

// keyOpensTokens is checkTokenKey's rule for the keys tokens holds, read
// from from.
func keyOpensTokens(ctx context.Context, tokens *auth.Tokens, from string) error {
	ks, err := tokens.KeyState(ctx)
	if err != nil {
		return dbError{err}
	}
	if ks.Live == 0 || ks.LiveOpen > 0 {
		return nil
	}
	return dbError{fmt.Errorf("%s opens none of the register's %d live tokens: it is not the key they were sealed with (another register's, or a new one); give this register's key (restore the key file from the backup of this register), or revoke the tokens with `cadastre token revoke` and issue new ones", from, ks.Live)}
}

// sealedHoldings says what the register holds that needs the token key
// ("" for nothing): tokens, DNSSEC private keys, TSIG keys.
func (a *app) sealedHoldings(ctx context.Context) (string, error) {
	var held []string
	ts, err := a.store.Tokens(ctx)
	if err != nil {
		return "", dbError{err}
	}
	if len(ts) > 0 {
		held = append(held, fmt.Sprintf("%d tokens", len(ts)))
	}
	// DNS secrets need the token key only when no key of their own seals
	// them.
	if st, ok := a.store.(zone.Store); ok && os.Getenv(dnsKeyEnv) == "" {
		ks, err := st.Keys(ctx, 0)
		if err != nil {
			return "", dbError{err}
		}
		if len(ks) > 0 {
			held = append(held, fmt.Sprintf("%d DNSSEC keys", len(ks)))
		}
		tk, err := st.TSIGKeys(ctx)
		if err != nil {
			return "", dbError{err}
		}
		if len(tk) > 0 {
			held = append(held, fmt.Sprintf("%d TSIG keys", len(tk)))
		}
	}
	return strings.Join(held, " and "), nil
}

// tokens opens the token keeper over the local register.
func (a *app) tokens(ctx context.Context) (*auth.Tokens, error) {
	kf, err := a.tokenKeys(ctx)
	if err != nil {
		return nil, err
	}
	return auth.NewWithKeys(a.store, kf.Keys, nil)
}

// tokenClient is the server's client with --server, else nil: the token
// verbs then never open (or create) a local register.
func (a *app) tokenClient() (*client.Client, error) {
	if a.cfg.server == "" {
		return nil, nil
	}
	return a.client()
}

// parseAllowFrom reads --allow-from values: prefixes, or addresses meaning
// that one address.
func parseAllowFrom(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if p, err := netip.ParsePrefix(f); err == nil {
				out = append(out, p)
				continue
			}
			if ad, err := netip.ParseAddr(f); err == nil {
				out = append(out, netip.PrefixFrom(ad, ad.BitLen()))
				continue
			}
			return nil, usagef("--allow-from %q: want a prefix such as 192.0.2.0/24 or 2001:db8::/48, or an address", f)
		}
	}
	return out, nil
}

func newTokenCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "token",
		Short: "API tokens: create, list, revoke, rotate-key",
		Long: `API tokens authenticate calls to ` + "`cadastre serve`" + `. A token has a scope (read; allocate,
which also allocates, releases and renames assignments; admin, which also changes
regions, blocks, pools and tokens), may be bound to one tenant, whose token
then sees and changes only that tenant's assignments, and may be limited to
client networks (--allow-from): used from elsewhere it is refused (403).

The secret is printed once. The database keeps only a verifier of it, sealed
with a server-side key ($CADASTRE_TOKEN_KEY as hex, or the file --token-key-file,
by default the database path + ".key", created on first use). A register that
holds tokens refuses to start without its key file. There are no passwords and
no recovery: an admin revokes a lost token and issues a new one.

With --server (or $CADASTRE_SERVER) and an admin token, create, list and revoke
run on that server; no local file is read or created.`,
		Example: `  cadastre token create --scope allocate --tenant acme --allow-from 10.0.0.0/8
  cadastre token list
  cadastre token rotate-key`,
		Args: unknownCommand,
		RunE: showHelp,
	}
	var spec auth.Spec
	var scope, expires string
	var allowFrom []string
	var asJSON bool
	create := &cobra.Command{
		Use:   "create --scope read|allocate|admin",
		Short: "Issue a token and print its secret once",
		Example: `  cadastre token create --scope admin --name ops
  cadastre token create --scope allocate --tenant acme --expires 720h --json
  cadastre token create --scope read --allow-from 192.0.2.0/24 --allow-from 2001:db8::/48`,
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
			if spec.AllowFrom, err = parseAllowFrom(allowFrom); err != nil {
				return err
			}
			var t auth.Token
			var secret string
			cl, err := a.tokenClient()
			if err != nil {
				return err
			}
			if cl != nil {
				t, secret, err = cl.CreateToken(cmd.Context(), spec)
			} else {
				var k *auth.Tokens
				if k, err = a.tokens(cmd.Context()); err != nil {
					return err
				}
				t, secret, err = k.Create(cmd.Context(), spec)
			}
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
	create.Flags().StringArrayVar(&allowFrom, "allow-from", nil, "client network the token may be used from (repeatable; default: any)")
	create.Flags().BoolVar(&asJSON, "json", false, "print JSON with id and secret")
	create.MarkFlagRequired("scope")

	var listJSON bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "List tokens (never their secrets)",
		Example: "  cadastre token list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var ts []auth.Token
			cl, err := a.tokenClient()
			if err != nil {
				return err
			}
			if cl != nil {
				ts, err = cl.Tokens(cmd.Context())
			} else {
				var k *auth.Tokens
				if k, err = a.tokens(cmd.Context()); err != nil {
					return err
				}
				ts, err = k.List(cmd.Context())
			}
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
				from := make([]string, len(t.AllowFrom))
				for i, p := range t.AllowFrom {
					from[i] = p.String()
				}
				rows = append(rows, []string{t.ID, t.Scope.String(), dash(t.Tenant), dash(t.Name), day(t.CreatedAt), used, state, dash(strings.Join(from, ","))})
			}
			return table(a.cfg.stdout, "ID\tSCOPE\tTENANT\tNAME\tCREATED\tLAST USED\tSTATE\tALLOW FROM", rows)
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke a token at once",
		Example: "  cadastre token revoke k3j5h2m4n6p7q8r9",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.tokenClient()
			if err != nil {
				return err
			}
			if cl != nil {
				err = cl.RevokeToken(cmd.Context(), args[0])
			} else {
				var k *auth.Tokens
				if k, err = a.tokens(cmd.Context()); err != nil {
					return err
				}
				err = k.Revoke(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "token %s revoked\n", args[0])
			return nil
		},
	}
	c.AddCommand(create, list, revoke, newRotateKeyCmd(a))
	return c
}

func newRotateKeyCmd(a *app) *cobra.Command {
	var stage, finish bool
	c := &cobra.Command{
		Use:   "rotate-key [--stage | --finish]",
		Short: "Replace the token key and re-key every stored token",
		Long: `Replace the server-side token key. The key file then holds the new key as
current and the old one as previous; every token's verifier is re-sealed under
the new key in one transaction (an event records it, naming the keys by their
IDs, never the keys). Secrets do not change: tokens in use keep working.

` + "`cadastre token rotate-key`" + ` does both steps at once; a running ` + "`cadastre serve`" + ` reads the key
file again on SIGHUP (kill -HUP its process; it refuses tokens until then).

Several replicas (PostgreSQL), so that none refuses a token meanwhile:
  1. cadastre token rotate-key --stage     writes the new key file only
  2. copy the key file to every replica and send each a SIGHUP: they verify
     with the new key, then the previous one, so both keys work
  3. cadastre token rotate-key --finish    re-keys the database under the new key
A rotation refuses to start while a staged one is unfinished.

The first rotation pins, in the key file, the key that seals DNSSEC private
keys and TSIG secrets (derived from the original token key unless
$CADASTRE_DNS_KEY is set), so they keep opening. With $CADASTRE_TOKEN_KEY
instead of a key file, rotate by hand: set it to NEW,OLD on every replica,
then run --finish, then set it to NEW.`,
		Example: `  cadastre token rotate-key
  cadastre --postgres "$DSN" --token-key-file /etc/cadastre/token.key token rotate-key --stage`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if stage && finish {
				return usagef("token rotate-key: --stage and --finish are two steps; give one")
			}
			return a.rotateKey(cmd.Context(), stage, finish)
		},
	}
	c.Flags().BoolVar(&stage, "stage", false, "only write the new key file (the old key kept as previous); re-key later with --finish")
	c.Flags().BoolVar(&finish, "finish", false, "re-key every token under the key file's current key")
	return c
}

func (a *app) rotateKey(ctx context.Context, stage, finish bool) error {
	kf, err := a.tokenKeys(ctx)
	if err != nil {
		return err
	}
	k, err := auth.NewWithKeys(a.store, kf.Keys, nil)
	if err != nil {
		return err
	}
	st, err := k.KeyState(ctx)
	if err != nil {
		return err
	}
	if len(st.Unknown) > 0 {
		return conflictf("tokens %s open with neither the current nor the previous key: is this the key file of this register?", strings.Join(st.Unknown, ", "))
	}
	if finish {
		n, err := k.Rekey(ctx, kf.Current)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.cfg.stderr, "cadastre: %d tokens re-keyed under key %s\n", n, auth.KeyID(kf.Current))
		return nil
	}
	if a.cfg.tokenKey != "" {
		return usagef("token rotate-key writes the key file; with $CADASTRE_TOKEN_KEY set, set it to NEW,OLD on every replica and run `cadastre token rotate-key --finish` (see --help)")
	}
	if len(st.Previous) > 0 {
		return conflictf("%d tokens are still sealed under the previous key: a staged rotation is unfinished; copy the key file to every replica, then run `cadastre token rotate-key --finish`", len(st.Previous))
	}
	if kf.Previous != nil && len(st.Legacy) > 0 {
		return conflictf("tokens %s were made before verifiers were sealed and open only with the key they were made with, which this rotation would drop: issue new tokens and revoke these first", strings.Join(st.Legacy, ", "))
	}
	path, err := a.tokenKeyPath()
	if err != nil {
		return err
	}
	next := auth.KeyFile{Keys: auth.Keys{Current: auth.NewKey(), Previous: kf.Current}, DNSSeal: kf.DNSSeal}
	if next.DNSSeal == nil {
		if next.DNSSeal, err = zone.DeriveSealKey(kf.Current); err != nil {
			return err
		}
	}
	// The file first: a crash before the re-key commits leaves tokens
	// sealed under the previous key, which the new file still opens.
	if err := auth.WriteKeyFile(path, next); err != nil {
		return err
	}
	if stage {
		fmt.Fprintf(a.cfg.stderr, "cadastre: key file %s now holds key %s (previous %s); copy it to every replica, send each a SIGHUP, then run `cadastre token rotate-key --finish`\n",
			path, auth.KeyID(next.Current), auth.KeyID(kf.Current))
		return nil
	}
	k2, err := auth.NewWithKeys(a.store, next.Keys, nil)
	if err != nil {
		return err
	}
	n, err := k2.Rekey(ctx, next.Current)
	if err != nil {
		return fmt.Errorf("%w (the key file %s holds the new key and the old one: run `cadastre token rotate-key --finish` to complete)", err, path)
	}
	fmt.Fprintf(a.cfg.stderr, "cadastre: token key rotated to %s (previous %s kept in %s); %d tokens re-keyed; send every server a SIGHUP (or restart it) to read the new key file\n",
		auth.KeyID(next.Current), auth.KeyID(kf.Current), path, n)
	return nil
}

// conflictf is an error of state (exit 4).
func conflictf(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, registry.ErrState)...)
}

func tenantNote(t string) string {
	if t == "" {
		return ""
	}
	return ", tenant " + t
}
