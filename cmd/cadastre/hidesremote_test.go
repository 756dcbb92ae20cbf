package main

import (
	"strings"
	"testing"
)

// TestRecordAddSaysWhatItHidesOverAPI: `record add` of a delegation above
// names a static record or an assignment holds warns, naming them, on
// the local register and over --server alike (the API's answer carries
// them as hides). Before, the warning came only on the local register:
// over --server the delegation was written silently (audit12).
func TestRecordAddSaysWhatItHidesOverAPI(t *testing.T) {
	db := register(t)
	token := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "admin", "--name", "cli"))
	mustCLI(t, db, "zone", "add", "example.net", "--ns", "ns1.provider.example")
	for _, n := range []string{"www.lab", "www.lab2"} {
		mustCLI(t, db, "record", "add", "example.net", n, "TXT", "x")
	}
	local := cli(t, db, "record", "add", "example.net", "lab", "NS", "ns1.elsewhere.example.")
	srv := startServe(t, db)
	remote := remoteRun(t, t.TempDir(), srv.url, token, "", "record", "add", "example.net", "lab2", "NS", "ns1.elsewhere.example.")
	for _, c := range []struct {
		how  string
		r    result
		want string
	}{
		{"local", local, "cadastre: warning: lab.example.net. NS hides www.lab.example.net. (no longer served here)\n"},
		{"--server", remote, "cadastre: warning: lab2.example.net. NS hides www.lab2.example.net. (no longer served here)\n"},
	} {
		if c.r.code != 0 || c.r.stderr != c.want {
			t.Errorf("%s: want exit 0 and stderr %q:\n%s", c.how, c.want, c.r)
		}
	}
	if t.Failed() {
		t.Logf("server log:\n%s", srv.logs)
	}
}
