package main

// The end-to-end tests drive the built binary, as an operator would: each
// test builds its own copy of a small register in its own temporary folder,
// runs `cadastre` as a child process and checks the exit status, the output
// and, after a refusal, that the database is row for row what it was.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// bin is the cadastre binary built once by TestMain.
var bin string

// binDir holds the binary and the fixture register; it is readable by
// everyone so that a test may run the binary as an unprivileged user.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "cadastre-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binDir, bin = dir, filepath.Join(dir, "cadastre")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "go build:", err)
		return 1
	}
	return m.Run()
}

// result is what one run of the binary gave.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("cadastre %s\nexit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// cliAs runs the binary on the database db with args. A prefix, if given,
// is the command that runs the binary (setpriv ...).
func cliAs(t *testing.T, prefix []string, db string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"--db", db}, args...)
	argv := append(slices.Clone(prefix), bin)
	argv = append(argv, full...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = t.TempDir()
	// The environment must not point the binary at another database.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CADASTRE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: full, stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("cadastre %s: %v", strings.Join(full, " "), err)
		}
	}
	r.code = cmd.ProcessState.ExitCode()
	return r
}

func cli(t *testing.T, db string, args ...string) result {
	t.Helper()
	return cliAs(t, nil, db, args...)
}

// emptyRegister creates an empty register at path, as the first verb that
// writes would (a verb that only reads refuses a file that does not exist).
func emptyRegister(t *testing.T, path string) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// mustRun runs the binary and fails the test unless it succeeds.
func mustCLI(t *testing.T, db string, args ...string) string {
	t.Helper()
	r := cli(t, db, args...)
	if r.code != 0 {
		t.Fatalf("want success:\n%s", r)
	}
	return r.stdout
}

// fixtureSteps builds the small register most tests start from:
//
//	east      US/US-VA   borrows from none; IPv4 40.64.0.0/24, IPv6 2603:1000::/48
//	west      US/US-CA   borrows from none; IPv4 40.64.1.0/24, IPv6 2603:1000:1::/48
//	lender    BR/BR-SP   lends from 191.232.0.0/23
//	borrower  US/US-TX   borrows from lender; IPv4 40.64.2.4/30, IPv6 2603:1000:3::/48
//	full      IE/IE-D    borrows from none; IPv4 40.64.2.0/30 all assigned, IPv6 /126
//
// and three live assignments in east: 40.64.0.0/32 (ID 1), 40.64.0.4/30
// (ID 2) and 2603:1000::/128 (ID 3, idempotency key k1 of tenant acme).
// Its pools hand out every address (--use-all), so that its addresses
// read plainly; tests of the address policy add pools of their own.
var fixtureSteps = [][]string{
	{"region", "add", "east", "--country", "US", "--subdivision", "US-VA", "--city", "Ashburn"},
	{"region", "add", "west", "--country", "US", "--subdivision", "US-CA"},
	{"region", "add", "lender", "--country", "BR", "--subdivision", "BR-SP", "--city", "Sao Paulo"},
	{"region", "add", "borrower", "--country", "US", "--subdivision", "US-TX", "--borrow-from", "lender"},
	{"region", "add", "full", "--country", "IE", "--subdivision", "IE-D"},
	{"block", "add", "40.64.0.0/22", "--source", "rir", "--registry", "arin", "--registered-country", "US"},
	{"block", "add", "40.64.4.0/22", "--source", "rir", "--registry", "arin", "--registered-country", "US"},
	{"block", "add", "132.245.0.0/16", "--source", "transfer", "--registry", "arin", "--registered-country", "US",
		"--from", "Nortel Networks", "--price", "7500000", "--currency", "USD", "--date", "2011-03-23"},
	{"block", "add", "191.232.0.0/22", "--source", "rir", "--registry", "lacnic", "--registered-country", "BR"},
	{"block", "add", "2603:1000::/32", "--source", "rir", "--registry", "arin", "--registered-country", "US"},
	{"block", "add", "10.0.0.0/8", "--source", "private", "--note", "lab"},
	{"pool", "add", "40.64.0.0/24", "--region", "east", "--purpose", "vms", "--use-all"},
	{"pool", "add", "40.64.1.0/24", "--region", "west", "--use-all"},
	{"pool", "add", "40.64.2.0/30", "--region", "full", "--use-all"},
	{"pool", "add", "40.64.2.4/30", "--region", "borrower", "--use-all"},
	{"pool", "add", "191.232.0.0/23", "--region", "lender", "--use-all"},
	{"pool", "add", "2603:1000::/48", "--region", "east", "--purpose", "vms", "--use-all"},
	{"pool", "add", "2603:1000:1::/48", "--region", "west", "--use-all"},
	{"pool", "add", "2603:1000:2::/126", "--region", "full", "--use-all"},
	{"pool", "add", "2603:1000:3::/48", "--region", "borrower", "--use-all"},
	{"alloc", "--region", "east", "--family", "4", "--tenant", "acme", "--resource", "vm-1", "--name", "vm1.acme.example"},
	{"alloc", "--region", "east", "--family", "4", "--len", "30", "--tenant", "acme", "--resource", "lb-1"},
	{"alloc", "--region", "east", "--tenant", "acme", "--resource", "vm-1", "--key", "k1"},
	{"alloc", "--region", "full", "--family", "4", "--count", "4", "--tenant", "initech"},
}

var fixture struct {
	once sync.Once
	path string
	err  error
}

// register returns the path of a fresh copy of the fixture register in the
// test's own folder.
func register(t *testing.T) string {
	t.Helper()
	fixture.once.Do(func() {
		dir := filepath.Join(binDir, "fixture")
		if err := os.Mkdir(dir, 0o755); err != nil {
			fixture.err = err
			return
		}
		db := filepath.Join(dir, "cadastre.db")
		for _, step := range fixtureSteps {
			r := cli(t, db, step...)
			if r.code != 0 {
				fixture.err = fmt.Errorf("building the fixture:\n%s", r)
				return
			}
		}
		fixture.path = db
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	if fixture.path == "" {
		t.Fatal("the fixture register was not built (see the first test that failed)")
	}
	db := filepath.Join(t.TempDir(), "cadastre.db")
	copyDB(t, fixture.path, db)
	return db
}

// copyDB copies a closed database with its WAL files, if any.
func copyDB(t *testing.T, from, to string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(from + suffix)
		if os.IsNotExist(err) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to+suffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// dump prints the schema and every row of every table, sorted by all
// columns, so two dumps are equal exactly when the databases hold the same
// rows. The file is opened read-only.
func dump(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out strings.Builder
	var tables []string
	rows, err := db.Query(`SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name`)
	if err != nil {
		t.Fatalf("dump %s: %v", path, err)
	}
	for rows.Next() {
		var typ, name, tbl, text string
		if err := rows.Scan(&typ, &name, &tbl, &text); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "schema %s %s %s: %s\n", typ, name, tbl, text)
		if typ == "table" {
			tables = append(tables, name)
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		dumpTable(t, db, &out, table)
	}
	return out.String()
}

// pgDump is dump for the PostgreSQL register at dsn: every table of the
// schema, every row in order. The name-ownership tests compare it before
// and after a refused write, in the test's process: before, they ran the
// binary four or more times for each (export, zone list, record list of
// each zone, log), twice a refused write, ~170 of the package's ~1,900
// runs of the binary (bench/README.md, "Session 20: citime").
func pgDump(t *testing.T, dsn string) string {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	var tables []string
	for rows.Next() {
		var schema, table string
		if err := rows.Scan(&schema, &table); err != nil {
			t.Fatal(err)
		}
		if schema != "public" {
			t.Fatalf("dump: table %s.%s outside the public schema", schema, table)
		}
		tables = append(tables, table)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(tables) == 0 {
		t.Fatal("dump: no table")
	}
	var out strings.Builder
	for _, table := range tables {
		dumpTable(t, db, &out, table)
	}
	return out.String()
}

func dumpTable(t *testing.T, db *sql.DB, w io.Writer, table string) {
	t.Helper()
	probe, err := db.Query(fmt.Sprintf(`SELECT * FROM "%s" LIMIT 0`, table))
	if err != nil {
		t.Fatal(err)
	}
	cols, err := probe.Columns()
	probe.Close()
	if err != nil {
		t.Fatal(err)
	}
	order := make([]string, len(cols))
	for i := range cols {
		order[i] = fmt.Sprint(i + 1)
	}
	rows, err := db.Query(fmt.Sprintf(`SELECT * FROM "%s" ORDER BY %s`, table, strings.Join(order, ", ")))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	fmt.Fprintf(w, "table %s (%s)\n", table, strings.Join(cols, ", "))
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		cells := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				cells[i] = "NULL"
			case []byte:
				cells[i] = "x'" + hex.EncodeToString(v) + "'"
			default:
				cells[i] = fmt.Sprintf("%#v", v)
			}
		}
		fmt.Fprintf(w, "  %s\n", strings.Join(cells, " | "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// sameDump fails the test, showing the first difference, unless the two
// dumps are equal.
func sameDump(t *testing.T, before, after string) {
	t.Helper()
	if before == after {
		return
	}
	b, a := strings.Split(before, "\n"), strings.Split(after, "\n")
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y string
		if i < len(b) {
			x = b[i]
		}
		if i < len(a) {
			y = a[i]
		}
		if x != y {
			t.Fatalf("database changed; first difference at dump line %d:\n before: %s\n after:  %s", i+1, x, y)
		}
	}
}
