package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// readTSIGFile reads `serve --tsig-file`: an unreadable or malformed file is
// a usage error naming the file (and the line).
func readTSIGFile(path string) ([]zone.TSIGSecret, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--tsig-file: %v", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, usagef("--tsig-file %s: readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	ks, err := zone.ReadTSIGFile(f, path)
	if err != nil {
		return nil, usageError{fmt.Errorf("--tsig-file %w", err)}
	}
	return ks, nil
}

// readSecretFile reads a base64 TSIG secret from path ("-": standard input).
func (a *app) readSecretFile(path string) ([]byte, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(a.cfg.stdin, 4096))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, usagef("--secret-file: %v", err)
	}
	sec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, usagef("--secret-file %s: the secret is not base64 (as tsig-keygen prints it): %v", path, err)
	}
	return sec, nil
}

func newTSIGCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "tsig",
		Short: "TSIG keys for zone transfers and RFC 2136 updates: add, update, list, remove",
		Long: `TSIG keys authenticate zone transfers (AXFR, IXFR) to secondaries, and RFC 2136
UPDATEs (nsupdate, ACME dns-01 clients) for the names a key is granted with
--grant-update: such an update may add and delete static records at or under
those names, never the SOA, the apex NS or DNSSEC records. They are kept
in the register, their secrets sealed like DNSSEC private keys, and the DNS
server (` + "`cadastre dns serve`, `cadastre serve --dns`" + `) loads them at start and
whenever the event log moves. A zone allows a key with --allow-transfer key:NAME.
Secrets are never given on the command line (it shows in ps): --secret-file
reads one (base64), or a new one is generated and printed once.`,
		Example: `  cadastre tsig add xfr.example.net --algorithm hmac-sha256
  cadastre tsig add xfr.example.net --secret-file /run/secrets/xfr
  cadastre tsig add acme.example.net --grant-update _acme-challenge.example.net
  cadastre tsig update acme.example.net --new-secret
  cadastre tsig update acme.example.net --grant-update _acme-challenge.example.net --grant-update _acme-challenge.www.example.net
  cadastre tsig list --json
  cadastre tsig remove xfr.example.net`,
		Args: unknownCommand,
		RunE: showHelp,
	}
	var alg, secretFile string
	var grants []string
	add := &cobra.Command{
		Use:   "add NAME [--algorithm hmac-sha256] [--secret-file FILE] [--grant-update SUFFIX]...",
		Short: "Store a TSIG key (generating its secret unless --secret-file gives one)",
		Example: `  cadastre tsig add xfr.example.net
  tsig-keygen -a hmac-sha256 xfr | sed -n 's/.*secret "\(.*\)".*/\1/p' | cadastre tsig add xfr.example.net --secret-file -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := zone.ParseTSIGAlgorithm(alg); err != nil {
				return usageError{fmt.Errorf("--algorithm: %w", err)}
			}
			var secret []byte
			if secretFile != "" {
				var err error
				if secret, err = a.readSecretFile(secretFile); err != nil {
					return err
				}
			}
			m, err := a.dnsBackend(cmd.Context(), true)
			if err != nil {
				return err
			}
			k, sec, err := m.AddTSIG(cmd.Context(), args[0], alg, secret, grants...)
			if err != nil {
				return err
			}
			if secretFile == "" {
				fmt.Fprintf(a.cfg.stdout, "%s %s %s\n", k.Name, k.Algorithm, base64.StdEncoding.EncodeToString(sec))
				fmt.Fprintf(a.cfg.stderr, "TSIG key %s (%s) added; the secret above is shown only now: give it to the secondaries\n", k.Name, k.Algorithm)
				return nil
			}
			fmt.Fprintf(a.cfg.stderr, "TSIG key %s (%s) added, fingerprint %s\n", k.Name, k.Algorithm, zone.TSIGFingerprint(sec))
			return nil
		},
	}
	add.Flags().StringVar(&alg, "algorithm", "hmac-sha256", "hmac-sha256, hmac-sha384 or hmac-sha512")
	add.Flags().StringVar(&secretFile, "secret-file", "", "file holding the secret in base64 (- for standard input); default: generate one")
	add.Flags().StringArrayVar(&grants, "grant-update", nil, "name suffix under which RFC 2136 updates signed with the key may change static records (repeatable; none: the key updates nothing)")

	var listJSON bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "List TSIG keys (never their secrets)",
		Example: "  cadastre tsig list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.dnsBackend(cmd.Context(), false)
			if err != nil {
				return err
			}
			ks, err := m.TSIGKeys(cmd.Context())
			if err != nil {
				return err
			}
			if listJSON {
				return writeJSON(a.cfg.stdout, nonNil(ks))
			}
			rows := make([][]string, 0, len(ks))
			for _, k := range ks {
				g := strings.Join(k.Grants, ",")
				if g == "" {
					g = "-"
				}
				rows = append(rows, []string{k.Name, k.Algorithm, g, day(k.CreatedAt), k.CreatedBy})
			}
			return table(a.cfg.stdout, "NAME\tALGORITHM\tUPDATES\tCREATED\tBY", rows)
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")

	remove := &cobra.Command{
		Use:     "remove NAME",
		Short:   "Delete a TSIG key: transfers signed with it are then refused",
		Example: "  cadastre tsig remove xfr.example.net",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.dnsBackend(cmd.Context(), false)
			if err != nil {
				return err
			}
			if err := m.RemoveTSIG(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "TSIG key %s removed\n", args[0])
			return nil
		},
	}
	var upAlg, upSecretFile string
	var upGrants []string
	var newSecret bool
	update := &cobra.Command{
		Use:   "update NAME [--new-secret | --secret-file FILE] [--algorithm ALG] [--grant-update SUFFIX]...",
		Short: "Rotate a TSIG key's secret, change its algorithm or replace its update grants, keeping its name",
		Long: `Change a TSIG key in place, keeping its name (zones' --allow-transfer key:NAME
and secondaries name it): --new-secret generates a new secret and prints it
once, --secret-file reads one (base64; - for standard input), never from the
command line. --algorithm changes the algorithm (the secret is kept unless a
new one is given). --grant-update replaces the whole list of names RFC 2136
updates may change (repeat it for several; --grant-update "" for none). The
server follows at once: requests signed with the old secret or algorithm are
refused from then on, so give the new one to the other end together. The
change is an event (tsig.update) naming the key and fingerprints of the old
and new secrets, never a secret.`,
		Example: `  cadastre tsig update xfr.example.net --new-secret
  tsig-keygen -a hmac-sha512 xfr | sed -n 's/.*secret "\(.*\)".*/\1/p' | cadastre tsig update xfr.example.net --algorithm hmac-sha512 --secret-file -
  cadastre tsig update acme.example.net --grant-update _acme-challenge.example.net`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ch manage.TSIGChange
			if cmd.Flags().Changed("algorithm") {
				if _, err := zone.ParseTSIGAlgorithm(upAlg); err != nil {
					return usageError{fmt.Errorf("--algorithm: %w", err)}
				}
				ch.Algorithm = upAlg
			}
			if newSecret && upSecretFile != "" {
				return usagef("--new-secret and --secret-file: give one (a new secret is generated or read, not both)")
			}
			ch.NewSecret = newSecret
			if upSecretFile != "" {
				var err error
				if ch.Secret, err = a.readSecretFile(upSecretFile); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("grant-update") {
				gs := []string{}
				for _, g := range upGrants {
					if g != "" {
						gs = append(gs, g)
					}
				}
				ch.Grants = &gs
			}
			if ch.Algorithm == "" && !ch.NewSecret && ch.Secret == nil && ch.Grants == nil {
				return usagef("tsig update %s: nothing to change (give --new-secret, --secret-file, --algorithm or --grant-update)", args[0])
			}
			m, err := a.dnsBackend(cmd.Context(), true)
			if err != nil {
				return err
			}
			k, sec, err := m.UpdateTSIG(cmd.Context(), args[0], ch)
			if err != nil {
				return err
			}
			if sec != nil {
				fmt.Fprintf(a.cfg.stdout, "%s %s %s\n", k.Name, k.Algorithm, base64.StdEncoding.EncodeToString(sec))
				fmt.Fprintf(a.cfg.stderr, "TSIG key %s (%s) updated; the new secret above is shown only now: give it to the other end\n", k.Name, k.Algorithm)
				return nil
			}
			fmt.Fprintf(a.cfg.stderr, "TSIG key %s (%s) updated\n", k.Name, k.Algorithm)
			return nil
		},
	}
	update.Flags().StringVar(&upAlg, "algorithm", "", "new algorithm: hmac-sha256, hmac-sha384 or hmac-sha512 (default: keep)")
	update.Flags().StringVar(&upSecretFile, "secret-file", "", "file holding the new secret in base64 (- for standard input)")
	update.Flags().BoolVar(&newSecret, "new-secret", false, "generate a new secret and print it once")
	update.Flags().StringArrayVar(&upGrants, "grant-update", nil, "name suffix RFC 2136 updates signed with the key may change; replaces the list (repeatable; \"\" for none)")
	c.AddCommand(add, update, list, remove)
	return c
}
