// Command cadastre keeps the register of an operator's IP address space and
// hands out addresses with region affinity. Run `cadastre --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/client"
	"github.com/cadastre-ipam/cadastre/demo"
	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// Exit codes, chosen in this one place from the error's kind.
const (
	exitOK       = 0
	exitFailure  = 1 // anything not named below
	exitUsage    = 2 // bad flags or arguments, invalid input
	exitNotFound = 3 // no such region, block, pool or assignment
	exitConflict = 4 // overlap, duplicate, reused idempotency key, wrong state, demo on another register
	exitNoSpace  = 5 // no free space for the request
	exitPolicy   = 6 // no free IPv4, and the region's policy forbids borrowing
	exitDatabase = 7 // the database file cannot be opened, read or written
	exitSource   = 8 // audit: a geolocation source is unusable (missing or corrupt file)
)

// exitCode maps an error to the process exit status.
func exitCode(err error) int {
	var ue usageError
	var de dbError
	var cf checkFailed
	var ur unreadable
	var su sourcesUnusable
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &su):
		return exitSource
	case errors.As(err, &cf):
		return exitFailure
	case errors.As(err, &ur):
		return exitUsage
	case errors.As(err, &ue), errors.Is(err, registry.ErrInvalid):
		return exitUsage
	case errors.Is(err, registry.ErrPolicy):
		return exitPolicy
	case errors.Is(err, registry.ErrNoSpace):
		return exitNoSpace
	case errors.Is(err, registry.ErrNotFound):
		return exitNotFound
	case errors.Is(err, registry.ErrOverlap), errors.Is(err, registry.ErrExists),
		errors.Is(err, registry.ErrIdempotency), errors.Is(err, registry.ErrState),
		errors.Is(err, registry.ErrQuota), errors.Is(err, registry.ErrNameTaken),
		errors.Is(err, demo.ErrNotEmpty):
		return exitConflict
	case errors.As(err, &de), errors.Is(err, registry.ErrStorage):
		return exitDatabase
	}
	return exitFailure
}

// usageError marks a mistake in how the command was called.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// dbError marks a failure to open or use the database file.
type dbError struct{ error }

func (e dbError) Unwrap() error { return e.error }

// config is read once at start: flags, with environment variables as defaults.
type config struct {
	db           string
	actor        string
	tokenKey     string // $CADASTRE_TOKEN_KEY, hex
	tokenKeyFile string
	postgres     string          // --postgres or $CADASTRE_POSTGRES: use PostgreSQL instead of the file
	server       string          // --server or $CADASTRE_SERVER: use the API instead of the file
	token        string          // --token or $CADASTRE_TOKEN
	clientTLS    client.TLSFiles // --client-cert/$CADASTRE_CLIENT_CERT, --client-key/$CADASTRE_CLIENT_KEY, --ca-file
	stdout       io.Writer
	stderr       io.Writer
	stdin        io.Reader
}

// fullStore is everything cadastre keeps: the register, geolocation
// sources, API tokens and DNS zones. Both stores implement all four ports.
type fullStore interface {
	registry.Store
	geo.Store
	auth.Store
	zone.Store
}

// app is one run of the command: its configuration and, once a command
// needs it, the open register.
type app struct {
	cfg   config
	verb  string // the running verb, "zone add", for messages
	store fullStore
	reg   *registry.Registry
}

// readOnlyVerbs only read the register. Given a SQLite file that does not
// exist, they refuse (exit 7) where any other verb creates the register:
// a mistyped --db would otherwise answer from a new, empty register, an
// empty report with exit 0, and leave the file behind.
var readOnlyVerbs = []string{"assignments", "audit", "export", "log", "report", "show",
	"block list", "pool list", "region list", "reserve list", "space list", "tenant list", "token list", "tsig list",
	"geo export-mmdb", "geo source list", "geofeed export", "geofeed rpsl",
	"record list", "zone export", "zone keys", "zone list", "zone secondary-config"}

// noRegister refuses a read-only verb (readOnlyVerbs) on a SQLite file
// that does not exist.
func (a *app) noRegister() error {
	if a.cfg.postgres != "" || a.cfg.db == "" || !slices.Contains(readOnlyVerbs, a.verb) {
		return nil
	}
	if _, err := os.Lstat(a.cfg.db); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(filepath.Dir(a.cfg.db)); err != nil {
		return nil // the store's own error names the folder
	}
	return dbError{fmt.Errorf("%s: no register at %s (the file does not exist): give --db or $CADASTRE_DB the file of your register; the first verb that writes, such as `cadastre region add`, creates a new one",
		a.verbName(), a.cfg.db)}
}

func (a *app) open(ctx context.Context) (*registry.Registry, error) {
	if a.reg != nil {
		return a.reg, nil
	}
	if err := a.localOnly(); err != nil {
		return nil, err
	}
	if err := a.noRegister(); err != nil {
		return nil, err
	}
	var s fullStore
	var err error
	if a.cfg.postgres != "" {
		s, err = postgres.Open(ctx, a.cfg.postgres, postgres.Options{})
	} else {
		s, err = sqlite.Open(ctx, a.cfg.db, sqlite.Options{})
	}
	if err != nil {
		return nil, dbError{err}
	}
	a.store, a.reg = s, registry.New(s)
	return a.reg, nil
}

// build runs fn, which writes a whole register through a.open, the
// fastest way the register allows: on SQLite, into a file that does not
// exist yet, through sqlite.Build (a hidden file without a journal,
// named only once complete: one register's worth of disk, and nothing
// at --db if fn fails, is cancelled or the process dies); otherwise on
// the register as it is.
func (a *app) build(ctx context.Context, fn func() error) error {
	if a.cfg.postgres != "" || a.reg != nil {
		return fn()
	}
	if _, err := os.Lstat(a.cfg.db); !errors.Is(err, fs.ErrNotExist) {
		return fn()
	}
	if err := a.localOnly(); err != nil {
		return err
	}
	var fnErr error
	err := sqlite.Build(ctx, a.cfg.db, func(s *sqlite.Store) error {
		a.store, a.reg = s, registry.New(s)
		defer func() { a.store, a.reg = nil, nil }()
		fnErr = fn()
		return fnErr
	})
	if err != nil && fnErr == nil {
		return dbError{err}
	}
	return err
}

// buildUnless is build, unless dry: a dry run writes nothing, and creates
// no file either way. Against a SQLite file that does not exist yet it runs
// on an empty register built aside, as build would, and thrown away.
func (a *app) buildUnless(dry bool, ctx context.Context, fn func() error) error {
	if !dry {
		return a.build(ctx, fn)
	}
	// build runs fn on the register as it is when there is one; errDryRun
	// then only stands for success.
	err := a.build(ctx, func() error {
		if err := fn(); err != nil {
			return err
		}
		return errDryRun
	})
	if errors.Is(err, errDryRun) {
		return nil
	}
	return err
}

// errDryRun makes build throw away the register a dry run was checked on.
var errDryRun = errors.New("dry run: nothing kept")

func (a *app) close() {
	if a.store != nil {
		a.store.Close()
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	db := os.Getenv("CADASTRE_DB")
	if db == "" {
		db = "./cadastre.db"
	}
	actor := "cli"
	if u, err := user.Current(); err == nil {
		actor = "cli:" + u.Username
	}
	a := &app{cfg: config{db: db, actor: actor, tokenKey: os.Getenv("CADASTRE_TOKEN_KEY"),
		postgres: os.Getenv("CADASTRE_POSTGRES"),
		server:   os.Getenv("CADASTRE_SERVER"), token: os.Getenv("CADASTRE_TOKEN"), stdout: stdout, stderr: stderr, stdin: stdin,
		clientTLS: client.TLSFiles{Cert: os.Getenv("CADASTRE_CLIENT_CERT"), Key: os.Getenv("CADASTRE_CLIENT_KEY")}}}
	defer a.close()
	root := newRoot(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(registry.WithActor(ctx, actor))
	var ue usageError
	if err != nil && cmd == root && !errors.As(err, &ue) {
		// What cobra reports of the root itself is how it was called: an
		// unknown command ("cadastre allocate") is found before any flag.
		err = usageError{err}
	}
	if err != nil {
		fmt.Fprintf(stderr, "cadastre: %v\n", err)
	}
	return exitCode(err)
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "cadastre",
		Short: "A land registry for IP address space",
		Long: `cadastre keeps the register of all the IPv4 and IPv6 space you hold, with its
provenance (RIR allocation, transfer and price, BYOIP, private), and hands out
addresses with region affinity: IPv6 first, scarce IPv4 carefully, and when a
region's IPv4 runs dry it borrows from another region only if its policy says
so, recording the relocation so geolocation can follow.

The register is one SQLite file (--db, or $CADASTRE_DB), created on first use;
for several replicas, a PostgreSQL database (--postgres, or $CADASTRE_POSTGRES).
With --server URL (or $CADASTRE_SERVER) and a token, the same verbs run against
a ` + "`cadastre serve`" + ` over its API (zones, static records and TSIG keys too); a verb
that works on a local register only (zone sign, roll, keys, ds, export and import,
token rotate-key, dns serve, serve, demo) is then refused, and no file is created.

Exit status: 0 ok, 1 failure, 2 invalid input, 3 not found, 4 conflict
(overlap, duplicate, reused idempotency key, wrong state, demo on a register
that is not the demo), 5 no free space, 6 no IPv4 and borrowing forbidden by
policy, 7 database unusable, 8 a geolocation source unusable.`,
		Example: `  cadastre demo                      # build the Azure-2014 story and print the report
  cadastre region add us-east --country US --subdivision US-VA --borrow-from brazil-south
  cadastre alloc --region us-east --dual-stack --tenant acme --name vm1.example.net
  cadastre report --json`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Cobra checks required flags after this hook and reports a missing
		// one as a plain error (exit 1); checking here makes it a usage error.
		PersistentPreRunE: func(c *cobra.Command, args []string) error {
			a.setVerb(c.CommandPath())
			if err := c.ValidateRequiredFlags(); err != nil {
				return usageError{fmt.Errorf("%s: %w (see `%s --help`)", c.CommandPath(), err, c.CommandPath())}
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&a.cfg.db, "db", a.cfg.db, "SQLite database file, created on first use (env CADASTRE_DB)")
	root.PersistentFlags().StringVar(&a.cfg.postgres, "postgres", a.cfg.postgres, "PostgreSQL DSN instead of --db, for several replicas on one database (env CADASTRE_POSTGRES)")
	root.PersistentFlags().StringVar(&a.cfg.server, "server", a.cfg.server, "run the verb against this cadastre server's API, e.g. http://127.0.0.1:8080 (env CADASTRE_SERVER)")
	root.PersistentFlags().StringVar(&a.cfg.token, "token", a.cfg.token, "API token for --server (env CADASTRE_TOKEN; prefer the environment: flags show in ps)")
	root.PersistentFlags().StringVar(&a.cfg.clientTLS.Cert, "client-cert", a.cfg.clientTLS.Cert, "with --server: PEM client certificate for mutual TLS (serve --client-ca) (env CADASTRE_CLIENT_CERT)")
	root.PersistentFlags().StringVar(&a.cfg.clientTLS.Key, "client-key", a.cfg.clientTLS.Key, "with --server: PEM private key of --client-cert (env CADASTRE_CLIENT_KEY)")
	root.PersistentFlags().StringVar(&a.cfg.clientTLS.CA, "ca-file", "", "with --server: PEM CA certificates to trust for the server instead of the system's (a private CA)")
	root.PersistentFlags().StringVar(&a.cfg.tokenKeyFile, "token-key-file", "", "file holding the server-side token key (default: the database path + \".key\"; env CADASTRE_TOKEN_KEY overrides)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%s: %w (see `%s --help`)", c.CommandPath(), err, c.CommandPath())}
	})
	root.AddCommand(newRegionCmd(a), newBlockCmd(a), newPoolCmd(a), newAllocCmd(a), newReleaseCmd(a), newReserveCmd(a), newUnreserveCmd(a),
		newShowCmd(a), newReportCmd(a), newLogCmd(a), newDemoCmd(a), newVersionCmd(a), newAssignmentsCmd(a), newServeCmd(a), newTokenCmd(a), newGeofeedCmd(a),
		newZoneCmd(a), newRecordCmd(a), newDNSCmd(a), newTSIGCmd(a), newGeoCmd(a), newAuditCmd(a), newTenantCmd(a),
		newExportCmd(a), newImportCmd(a))
	lifeVerbs(a, root)
	wrapArgs(root)
	return root
}

// unknownCommand refuses an argument to a command that only groups others,
// suggesting the nearest subcommands. Cobra's own check covers only the
// root; a group without it prints its help and exits 0.
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2
	}
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += " (did you mean " + strings.Join(s, " or ") + "?)"
	}
	return errors.New(msg)
}

// showHelp is the action of a command that only groups others.
func showHelp(c *cobra.Command, args []string) error { return c.Help() }

// wrapArgs marks cobra's argument-count errors as usage errors, recursively.
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{fmt.Errorf("%s: %w (see `%s --help`)", cmd.CommandPath(), err, cmd.CommandPath())}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}
