package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest/migrated"
)

// TestReadyzFailsWhenPostgreSQLTakesNoWrites: /readyz fails (503) when
// the PostgreSQL database refuses writes, as it does for a SQLite file
// that cannot be written (issue 10 item 5). A read-only database
// (default_transaction_read_only, as on a hot standby or a server being
// switched over) commits the probe's empty transaction, so before /readyz
// said ok while every allocation was 503.
func TestReadyzFailsWhenPostgreSQLTakesNoWrites(t *testing.T) {
	dsn := migrated.Database(t)
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs syncBuffer
	s := New(registry.New(st), nil, slog.New(slog.NewTextHandler(&logs, nil)))
	readyz := func() (int, string) {
		s.probeMu.Lock()
		s.probeAt = time.Time{} // probe now, not once in probeEvery
		s.probeMu.Unlock()
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code, w.Body.String()
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz on a writable database: %d %q", code, body)
	}

	u, _ := url.Parse(dsn)
	db := strings.TrimPrefix(u.Path, "/")
	conn, err := pgx.Connect(ctx, pgtest.BaseDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The setting holds for new sessions: end this test's own ones (the
	// database is this test's copy), so the store reconnects under it.
	for _, q := range []string{
		"ALTER DATABASE " + pgx.Identifier{db}.Sanitize() + " SET default_transaction_read_only = on",
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, db)
		}
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), pgtest.BaseDSN())
		if err == nil {
			conn.Exec(context.Background(), "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" RESET default_transaction_read_only")
			conn.Close(context.Background())
		}
	})
	if _, err := registry.New(st).AddRegion(setupCtx, registry.RegionSpec{Name: "x"}); err == nil {
		t.Fatal("a write succeeded in the read-only database: the test shows nothing")
	}
	var code int
	var body string
	for range 3 { // the first probe may meet a connection ended above
		if code, body = readyz(); strings.Contains(body, "refuses writes") {
			break
		}
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "refuses writes") || !strings.Contains(logs.String(), "takes no writes") {
		t.Errorf("/readyz on a read-only database: %d %q, want 503 saying it refuses writes, and the log why:\n%s", code, body, logs.String())
	}
	// The answer is public: it names neither the database nor its host
	// (audit12: it gave the store's error, PostgreSQL's URL in it).
	if strings.Contains(body, db) || strings.Contains(body, u.Host) || strings.Contains(body, "postgres") {
		t.Errorf("/readyz tells anyone where the database is: %q", body)
	}
}
