package postgres_test

import (
	"bytes"
	"context"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/internal/testenv"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// TestDumpHoldsNoTokenSecret: a dump of the database, as an operator would
// take for a backup, contains no issued secret in any form.
func TestDumpHoldsNoTokenSecret(t *testing.T) {
	pgDump := testenv.Program(t, "pg_dump", "postgresql-client")
	dsn := freshSchema(t) // pg_dump --schema below
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, err := auth.New(st, bytes.Repeat([]byte{9}, auth.KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, sc := range []auth.Scope{auth.ScopeRead, auth.ScopeAllocate, auth.ScopeAdmin} {
		_, secret, err := k.Create(ctx, auth.Spec{Scope: sc, Name: "dump test"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Check(ctx, secret); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secret)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	out, err := exec.Command(pgDump, "-h", u.Hostname(), "-p", u.Port(), "-U", u.User.Username(), "--schema", schema, "--inserts", strings.TrimPrefix(u.Path, "/")).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("INSERT INTO "+schema+".tokens")) {
		t.Fatalf("the dump holds no tokens rows: the test would prove nothing\n%.2000s", out)
	}
	for _, s := range secrets {
		_, random, _ := strings.Cut(strings.TrimPrefix(s, "cad_"), "_")
		for _, needle := range []string{s, random} {
			if bytes.Contains(out, []byte(needle)) {
				t.Errorf("the dump contains a token secret")
			}
		}
	}
}
