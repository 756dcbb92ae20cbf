package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest/migrated"
)

// TestServeRefusesAnotherRegistersKey{SQLite,PostgreSQL}: `serve` with a
// token key that opens none of the register's live tokens (a key file
// restored from another register's backup, a replica given the wrong
// $CADASTRE_TOKEN_KEY or --token-key-file) exits 7 naming where the key
// came from, instead of serving a register where every token fails 401
// and counts as a failed attempt (issue 10 item 4: a register refuses to
// start without its key; before, only a missing key file was refused).
// Once its tokens are revoked (possible with any key: an admin who lost
// the key), the register serves under the new key.
func TestServeRefusesAnotherRegistersKeySQLite(t *testing.T) {
	db := filepath.Join(t.TempDir(), "r.db")
	secret := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "admin", "--name", "ops"))
	keyFile := db + ".key"

	// Serving, a SIGHUP with another register's key file in place keeps
	// the keys in use (the token still works) and logs why.
	srv := startServe(t, db)
	writeKeyFile(t, keyFile, strings.Repeat("cd", 32))
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(srv.logs.String(), "token key file not reloaded"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal of the wrong key file in the log after SIGHUP:\n%s", srv.logs)
		}
	}
	if r := remote(t, srv.url, secret, "token", "list"); r.code != 0 {
		t.Fatalf("after a SIGHUP with another register's key file, the token fails:\n%s", r)
	}
	if !strings.Contains(srv.logs.String(), "opens none of the register's 1 live tokens") {
		t.Errorf("the log does not say why the key file was not reloaded:\n%s", srv.logs)
	}

	r := cli(t, db, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "off")
	if r.code != exitDatabase || !strings.Contains(r.stderr, keyFile) || !strings.Contains(r.stderr, "opens none of the register's 1 live tokens") {
		t.Fatalf("serve with another register's key file: exit %d, want %d naming %s and the tokens it cannot open:\n%s", r.code, exitDatabase, keyFile, r)
	}
	revokeAll(t, db)
	startServeWith(t, serveSpec{db: db})
}

func TestServeRefusesAnotherRegistersKeyPostgreSQL(t *testing.T) {
	dsn := migrated.Database(t)
	db := filepath.Join(t.TempDir(), "unused.db")
	right, wrong := filepath.Join(t.TempDir(), "right.key"), filepath.Join(t.TempDir(), "wrong.key")
	writeKeyFile(t, right, strings.Repeat("ab", 32))
	writeKeyFile(t, wrong, strings.Repeat("cd", 32))
	mustCLI(t, db, "--postgres", dsn, "--token-key-file", right, "token", "create", "--scope", "admin", "--name", "ops")
	r := cli(t, db, "--postgres", dsn, "--token-key-file", wrong, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "off")
	if r.code != exitDatabase || !strings.Contains(r.stderr, wrong) || !strings.Contains(r.stderr, "opens none of the register's 1 live tokens") {
		t.Fatalf("serve with another register's key: exit %d, want %d naming %s:\n%s", r.code, exitDatabase, wrong, r)
	}
	startServeWith(t, serveSpec{db: db, extra: []string{"--postgres", dsn, "--token-key-file", right}})
}

// writeKeyFile writes a token key file holding the key hex, private.
func writeKeyFile(t *testing.T, path, hex string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("current "+hex+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// revokeAll revokes every token of the register db.
func revokeAll(t *testing.T, db string, pre ...string) {
	t.Helper()
	var ts []struct{ ID string }
	if err := json.Unmarshal([]byte(mustCLI(t, db, append(pre, "token", "list", "--json")...)), &ts); err != nil || len(ts) == 0 {
		t.Fatalf("token list --json: %v, %d tokens", err, len(ts))
	}
	for _, tok := range ts {
		mustCLI(t, db, append(pre, "token", "revoke", tok.ID)...)
	}
}
