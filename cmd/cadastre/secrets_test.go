package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// runIn runs the binary in dir with the environment env (and no other
// CADASTRE_ variable).
func runIn(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CADASTRE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	return result{args: args, stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestTokenVerbsOverServer: with --server, token create, list and revoke
// run on the server: no register file appears in the working directory,
// and the token created works against that server. Before, they created
// ./cadastre.db and printed a secret the server rejected.
func TestTokenVerbsOverServer(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	admin := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "admin"))
	srv := startServe(t, db)
	dir := t.TempDir()
	env := []string{"CADASTRE_SERVER=" + srv.url, "CADASTRE_TOKEN=" + admin}
	r := runIn(t, dir, env, "token", "create", "--scope", "read", "--name", "remote", "--allow-from", "127.0.0.0/8", "--json")
	if r.code != 0 {
		t.Fatalf("token create --server:\n%s", r)
	}
	var tok struct {
		ID        string   `json:"id"`
		Secret    string   `json:"secret"`
		AllowFrom []string `json:"allow_from"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil || tok.Secret == "" || len(tok.AllowFrom) != 1 {
		t.Fatalf("token create --json: %v\n%s", err, r)
	}
	use := runIn(t, dir, []string{"CADASTRE_SERVER=" + srv.url, "CADASTRE_TOKEN=" + tok.Secret}, "region", "list")
	if use.code != 0 || !strings.Contains(use.stdout, "east") && !strings.Contains(use.stdout, "NAME") {
		t.Fatalf("the token made over the server does not work there:\n%s", use)
	}
	list := runIn(t, dir, env, "token", "list")
	if list.code != 0 || !strings.Contains(list.stdout, tok.ID) || !strings.Contains(list.stdout, "127.0.0.0/8") {
		t.Fatalf("token list --server does not show the new token and its allow-from:\n%s", list)
	}
	if rv := runIn(t, dir, env, "token", "revoke", tok.ID); rv.code != 0 {
		t.Fatalf("token revoke --server:\n%s", rv)
	}
	if use := runIn(t, dir, []string{"CADASTRE_SERVER=" + srv.url, "CADASTRE_TOKEN=" + tok.Secret}, "region", "list"); use.code == 0 {
		t.Fatalf("a token revoked over the server still works:\n%s", use)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
	}{
		{"revoking an unknown token is not found", env, []string{"token", "revoke", "aaaaaaaaaaaaaaaa"}, exitNotFound},
		{"a server without a token is a usage error", []string{"CADASTRE_SERVER=" + srv.url}, []string{"token", "list"}, exitUsage},
		{"rotate-key is refused over a server", env, []string{"token", "rotate-key"}, exitUsage},
		{"a bad --allow-from is a usage error", env, []string{"token", "create", "--scope", "read", "--allow-from", "10.0.0.1/33"}, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := runIn(t, dir, tc.env, tc.args...); r.code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", r.code, tc.code, r)
			}
		})
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Fatalf("token verbs with --server left files in the working directory: %v", names)
	}
}

// TestRegisterWithoutItsKeyRefusesToStart: a register holding tokens whose
// key file is gone is refused (exit 7, naming the file), and no new key is
// made; before, a new key was made and every token then failed.
func TestRegisterWithoutItsKeyRefusesToStart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "r.db")
	mustCLI(t, db, "token", "create", "--scope", "read")
	keyFile := db + ".key"
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"token", "list"},
		{"token", "create", "--scope", "read"},
		{"serve", "--listen", "127.0.0.1:0"},
	} {
		r := cli(t, db, args...)
		if r.code != exitDatabase || !strings.Contains(r.stderr, keyFile) || !strings.Contains(r.stderr, "1 tokens") {
			t.Errorf("without its key file: exit %d, want %d naming %s and what it holds:\n%s", r.code, exitDatabase, keyFile, r)
		}
		if _, err := os.Stat(keyFile); err == nil {
			t.Fatalf("%v made a new key file", args)
		}
	}
	// A register holding nothing sealed gets its key on first use.
	fresh := filepath.Join(t.TempDir(), "f.db")
	emptyRegister(t, fresh)
	mustCLI(t, fresh, "token", "list")
	if _, err := os.Stat(fresh + ".key"); err != nil {
		t.Fatalf("a new register got no key file: %v", err)
	}
}

// TestRotateKey: rotation keeps every token (and the DNSSEC keys sealed
// under a key derived from the token key) working, in one step or staged
// for replicas, and records an event without key material.
func TestRotateKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "k.db")
	secret := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "admin"))
	mustCLI(t, db, "zone", "add", "example.net", "--ns", "ns1.example.org")
	mustCLI(t, db, "zone", "sign", "example.net")
	original, err := os.ReadFile(db + ".key")
	if err != nil {
		t.Fatal(err)
	}
	_, orig, _ := strings.Cut(string(original), "current ")
	orig, _, _ = strings.Cut(orig, "\n")
	mustCLI(t, db, "token", "rotate-key")
	rotated, _ := os.ReadFile(db + ".key")
	if len(orig) != 64 || !strings.Contains(string(rotated), "previous "+orig) || !strings.Contains(string(rotated), "dns-seal ") {
		t.Fatalf("the rotated key file keeps neither the old key as previous nor the DNS sealing key:\n%s", rotated)
	}
	// Staged, as with several replicas: the second rotation drops the
	// original key altogether.
	mustCLI(t, db, "token", "rotate-key", "--stage")
	if r := cli(t, db, "token", "rotate-key"); r.code != exitConflict || !strings.Contains(r.stderr, "--finish") {
		t.Fatalf("a rotation over an unfinished staged one: exit %d, want %d pointing to --finish:\n%s", r.code, exitConflict, r)
	}
	mustCLI(t, db, "token", "rotate-key", "--finish")
	if r := cli(t, db, "token", "rotate-key", "--stage", "--finish"); r.code != exitUsage {
		t.Fatalf("--stage --finish: exit %d, want %d", r.code, exitUsage)
	}

	log := mustCLI(t, db, "log", "--json")
	if n := strings.Count(log, `"token.rekey"`); n != 2 {
		t.Errorf("%d token.rekey events, want 2 (one-step and --finish)", n)
	}
	for _, line := range strings.Split(string(rotated), "\n") {
		if f := strings.Fields(line); len(f) == 2 && strings.Contains(log, f[1]) {
			t.Errorf("the event log holds the %s key", f[0])
		}
	}

	// The server verifies the old secret, and signs with the DNSSEC keys
	// sealed before the rotations.
	dnsAddr := freePort(t, "udp")
	srv := startServe(t, db, "--dns", dnsAddr)
	waitTCP(t, dnsAddr)
	if r := runIn(t, t.TempDir(), []string{"CADASTRE_SERVER=" + srv.url, "CADASTRE_TOKEN=" + secret}, "token", "list"); r.code != 0 {
		t.Fatalf("the token made before two rotations:\n%s\n%s", r, srv.logs)
	}
	m := new(dns.Msg)
	m.SetQuestion("example.net.", dns.TypeDNSKEY)
	m.SetEdns0(1232, true)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, dnsAddr)
	if err != nil || r.Rcode != dns.RcodeSuccess || !hasType(r.Answer, dns.TypeRRSIG) {
		t.Fatalf("DNSKEY after rotations: %v %v\n%s", r, err, srv.logs)
	}
}

func hasType(rrs []dns.RR, t uint16) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			return true
		}
	}
	return false
}

// TestTSIGCommands: TSIG keys are added, listed and removed in the register,
// never on the command line; bad input gets a clear error and its exit
// status; a transfer signed with a register key works.
func TestTSIGCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	secret := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 32))
	good := filepath.Join(dir, "secret")
	os.WriteFile(good, []byte(secret+"\n"), 0o600)
	badB64 := filepath.Join(dir, "bad")
	os.WriteFile(badB64, []byte("not base64!\n"), 0o600)
	worldReadable := filepath.Join(dir, "open")
	os.WriteFile(worldReadable, []byte("a.example hmac-sha256 "+secret+"\n"), 0o644)
	os.Chmod(worldReadable, 0o644)
	mustCLI(t, db, "tsig", "add", "xfr.example.net", "--secret-file", good)
	gen := cli(t, db, "tsig", "add", "gen.example.net", "--algorithm", "hmac-sha512")
	if f := strings.Fields(gen.stdout); gen.code != 0 || len(f) != 3 || f[0] != "gen.example.net." || f[1] != "hmac-sha512" {
		t.Fatalf("tsig add without a secret file prints NAME ALGORITHM SECRET once:\n%s", gen)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"a wrong algorithm is a usage error", []string{"tsig", "add", "a.example.net", "--algorithm", "hmac-md5"}, exitUsage, "hmac-sha256"},
		{"an unreadable secret file is a usage error", []string{"tsig", "add", "a.example.net", "--secret-file", filepath.Join(dir, "missing")}, exitUsage, "missing"},
		{"a secret that is not base64 is a usage error", []string{"tsig", "add", "a.example.net", "--secret-file", badB64}, exitUsage, "not base64"},
		{"a duplicate name is a conflict", []string{"tsig", "add", "XFR.example.net.", "--secret-file", good}, exitConflict, "exists"},
		{"removing a missing key is not found", []string{"tsig", "remove", "nosuch.example.net"}, exitNotFound, "nosuch.example.net"},
		{"updating a missing key is not found", []string{"tsig", "update", "nosuch.example.net", "--new-secret"}, exitNotFound, "nosuch.example.net"},
		{"an update with nothing to change is a usage error", []string{"tsig", "update", "xfr.example.net"}, exitUsage, "nothing to change"},
		{"an update takes no secret on the command line", []string{"tsig", "update", "xfr.example.net", "--secret", secret}, exitUsage, "unknown flag: --secret"},
		{"an update to a wrong algorithm is a usage error", []string{"tsig", "update", "xfr.example.net", "--algorithm", "hmac-md5"}, exitUsage, "hmac-sha256"},
		{"an update both generating and reading a secret", []string{"tsig", "update", "xfr.example.net", "--new-secret", "--secret-file", good}, exitUsage, "give one"},
		{"an update reading a secret that is not base64", []string{"tsig", "update", "xfr.example.net", "--secret-file", badB64}, exitUsage, "not base64"},
		{"the removed --tsig flag points to the new way", []string{"dns", "serve", "--listen", "127.0.0.1:0", "--tsig", "x:" + secret}, exitUsage, "tsig add"},
		{"an unreadable --tsig-file is a usage error", []string{"dns", "serve", "--listen", "127.0.0.1:0", "--tsig-file", filepath.Join(dir, "missing")}, exitUsage, "--tsig-file"},
		{"a --tsig-file readable by others is refused", []string{"dns", "serve", "--listen", "127.0.0.1:0", "--tsig-file", worldReadable}, exitUsage, "chmod 600"},
		{"a malformed --tsig-file names the line", []string{"dns", "serve", "--listen", "127.0.0.1:0", "--tsig-file", badB64}, exitUsage, badB64 + ":1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := mustCLI(t, db, "tsig", "list", "--json")
			r := cli(t, db, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.says) {
				t.Fatalf("exit %d, want %d saying %q:\n%s", r.code, tc.code, tc.says, r)
			}
			if after := mustCLI(t, db, "tsig", "list", "--json"); after != before {
				t.Fatalf("a refused command changed the keys:\n%s\n%s", before, after)
			}
		})
	}
	list := mustCLI(t, db, "tsig", "list", "--json")
	if !strings.Contains(list, `"xfr.example.net."`) || strings.Contains(list, secret) || strings.Contains(list, strings.Fields(gen.stdout)[2]) {
		t.Fatalf("tsig list --json: want the names, never a secret:\n%s", list)
	}
	// tsig update rotates a secret in place (printed once when generated),
	// replaces grants, and shows in the log without the secret.
	rot := cli(t, db, "tsig", "update", "gen.example.net", "--new-secret", "--grant-update", "_acme-challenge.example.net")
	if f := strings.Fields(rot.stdout); rot.code != 0 || len(f) != 3 || f[0] != "gen.example.net." || f[1] != "hmac-sha512" || f[2] == strings.Fields(gen.stdout)[2] {
		t.Fatalf("tsig update --new-secret prints NAME ALGORITHM a new SECRET once:\n%s", rot)
	}
	if list := mustCLI(t, db, "tsig", "list", "--json"); !strings.Contains(list, "_acme-challenge.example.net.") || strings.Contains(list, strings.Fields(rot.stdout)[2]) {
		t.Fatalf("tsig list after update: want the new grant, never the secret:\n%s", list)
	}
	if r := cli(t, db, "tsig", "update", "gen.example.net", "--grant-update", ""); r.code != 0 || r.stdout != "" || strings.Contains(mustCLI(t, db, "tsig", "list", "--json"), "_acme-challenge") {
		t.Fatalf("tsig update --grant-update \"\" clears the grants and prints no secret:\n%s", r)
	}
	if log := mustCLI(t, db, "log", "--json"); strings.Count(log, `"tsig.update"`) != 2 || strings.Contains(log, strings.Fields(rot.stdout)[2]) {
		t.Fatalf("the log shows two tsig.update events, never the secret:\n%s", log)
	}
	mustCLI(t, db, "tsig", "remove", "gen.example.net")

	// A zone that allows the register's key transfers to it, and the
	// profile's command line shows no secret.
	mustCLI(t, db, "zone", "add", "example.net", "--ns", "ns1.example.org", "--allow-transfer", "key:xfr.example.net")
	dnsAddr := freePort(t, "udp")
	paddr := freePort(t, "tcp")
	srv := startServe(t, db, "--dns", dnsAddr, "--pprof", paddr)
	waitTCP(t, dnsAddr)
	m := new(dns.Msg)
	m.SetAxfr("example.net.")
	m.SetTsig("xfr.example.net.", dns.HmacSHA256, 300, time.Now().Unix())
	tr := &dns.Transfer{TsigSecret: map[string]string{"xfr.example.net.": secret}}
	ch, err := tr.In(m, dnsAddr)
	if err != nil {
		t.Fatalf("AXFR: %v\n%s", err, srv.logs)
	}
	n := 0
	for env := range ch {
		if env.Error != nil {
			t.Fatalf("AXFR with the register's key: %v\n%s", env.Error, srv.logs)
		}
		n += len(env.RR)
	}
	if n < 3 {
		t.Fatalf("AXFR gave %d records", n)
	}
	resp, err := http.Get("http://" + paddr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(body.String(), "serve") || strings.Contains(body.String(), secret) {
		t.Fatalf("/debug/pprof/cmdline: %q", body.String())
	}
}

// waitTCP waits until addr accepts TCP connections (the DNS server starts
// after the HTTP one is ready), at most 10 s.
func waitTCP(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s", addr)
}

// TestRotateKeyKeepsLegacyTokens: a token stored before verifiers were
// sealed (an HMAC under the key) cannot be re-keyed without its secret: the
// first rotation keeps it working under the previous key, and a second
// one, which would drop that key, is refused naming the token until it is
// revoked.
func TestRotateKeyKeepsLegacyTokens(t *testing.T) {
	db := filepath.Join(t.TempDir(), "l.db")
	emptyRegister(t, db)
	mustCLI(t, db, "token", "list") // its key file
	kb, err := os.ReadFile(db + ".key")
	if err != nil {
		t.Fatal(err)
	}
	_, k, _ := strings.Cut(string(kb), "current ")
	k, _, _ = strings.Cut(k, "\n")
	key, err := hex.DecodeString(k)
	if err != nil {
		t.Fatal(err)
	}
	const id = "legacylegacy2345"
	secret := "cad_" + id + "_" + strings.Repeat("q", 52)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(secret))
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdb.Exec(`INSERT INTO tokens (id, name, scope, tenant, mac, created_at, created_by) VALUES (?, 'old', 'admin', '', ?, 0, 'old')`, id, m.Sum(nil)); err != nil {
		t.Fatal(err)
	}
	sdb.Close()
	mustCLI(t, db, "token", "rotate-key")
	r := cli(t, db, "token", "rotate-key")
	if r.code != exitConflict || !strings.Contains(r.stderr, id) {
		t.Fatalf("a second rotation over a legacy token: exit %d, want %d naming %s:\n%s", r.code, exitConflict, id, r)
	}
	srv := startServe(t, db)
	if r := runIn(t, t.TempDir(), []string{"CADASTRE_SERVER=" + srv.url, "CADASTRE_TOKEN=" + secret}, "token", "revoke", id); r.code != 0 {
		t.Fatalf("the legacy token after one rotation (it revokes itself):\n%s\n%s", r, srv.logs)
	}
	mustCLI(t, db, "token", "rotate-key")
}

// TestRotateKeyWhileServing: a running server reads the key file again on
// SIGHUP, so that `token rotate-key --stage` then `--finish` (or the one
// step) take effect without a restart; a key file that does not read is
// logged and the keys in use kept.
func TestRotateKeyWhileServing(t *testing.T) {
	db := filepath.Join(t.TempDir(), "k.db")
	first := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "admin"))
	srv := startServe(t, db)
	works := func(secret string) bool {
		return remote(t, srv.url, secret, "token", "list").code == 0
	}
	hup := func(wantLog string, n int) {
		t.Helper()
		if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(srv.logs.String(), wantLog) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log after SIGHUP %d:\n%s", wantLog, n, srv.logs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !works(first) {
		t.Fatalf("the first token:\n%s", srv.logs)
	}

	// Staged: a token made under the new key is refused until the server
	// reads the file; then both keys verify.
	mustCLI(t, db, "token", "rotate-key", "--stage")
	staged := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "admin"))
	if works(staged) {
		t.Fatal("a token sealed under the staged key worked before SIGHUP: the test shows nothing")
	}
	hup("token key file reloaded", 1)
	if !works(staged) || !works(first) {
		t.Fatalf("after SIGHUP: staged %v, first %v; want both\n%s", works(staged), works(first), srv.logs)
	}
	mustCLI(t, db, "token", "rotate-key", "--finish")
	if !works(first) || !works(staged) {
		t.Fatalf("after --finish the tokens fail\n%s", srv.logs)
	}

	// One step: every verifier re-sealed under a key the server has not
	// read yet.
	mustCLI(t, db, "token", "rotate-key")
	third := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "admin"))
	if works(third) {
		t.Fatal("a token sealed under the new key worked before SIGHUP")
	}
	hup("token key file reloaded", 2)
	for _, s := range []string{first, staged, third} {
		if !works(s) {
			t.Fatalf("after the one-step rotation and SIGHUP a token fails\n%s", srv.logs)
		}
	}

	// A key file that does not read keeps the keys in use.
	if err := os.WriteFile(db+".key", []byte("not a key file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup("token key file not reloaded", 1)
	if !works(third) {
		t.Fatalf("after a bad key file the server's keys changed\n%s", srv.logs)
	}
}
