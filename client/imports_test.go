package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/cadastre-ipam/cadastre/"

// TestImportBoundaries: imports point downward only. The client shares
// the domain types and package problem with the server, never the server
// itself, a store or the CLI; the domain packages know no store, HTTP
// layer, client or CLI (they define the storage ports the stores
// implement).
func TestImportBoundaries(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{"client", []string{"api", "store/", "cmd/", "web"}},
		{"problem", []string{"api", "client", "store/", "cmd/"}},
		{"registry", []string{"api", "client", "store/", "cmd/", "geo", "auth", "authdns/", "problem", "web"}},
		{"geo", []string{"api", "client", "store/", "cmd/", "auth", "authdns/", "problem", "web"}},
		{"auth", []string{"api", "client", "store/", "cmd/", "geo", "authdns/", "problem", "web"}},
		// The DNS rooms point one way: server -> manage -> zone.
		{"authdns/zone", []string{"api", "client", "store/", "cmd/", "problem", "web", "authdns/manage", "authdns/server"}},
		{"authdns/manage", []string{"api", "client", "store/", "cmd/", "problem", "web", "authdns/server"}},
		{"authdns/server", []string{"api", "client", "store/", "cmd/", "problem", "web"}},
		// The UI calls the domain packages, as the API does, never a store or the CLI.
		{"web", []string{"client", "store/", "cmd/", "authdns/server"}},
	}
	for _, r := range rules {
		t.Run(r.pkg+" imports none of "+strings.Join(r.forbidden, ", "), func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", module+r.pkg).Output()
			if err != nil {
				t.Fatalf("go list %s: %v", r.pkg, err)
			}
			for _, dep := range strings.Fields(string(out)) {
				rel, ok := strings.CutPrefix(dep, module)
				if !ok {
					continue
				}
				for _, f := range r.forbidden {
					if rel == strings.TrimSuffix(f, "/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(rel, f)) {
						t.Errorf("%s imports %s", r.pkg, rel)
					}
				}
			}
		})
	}
}

// TestOnlyCLIImportsDNSServer: the wire server is the top room of the DNS
// code; only the CLI wires it up (and its own tests use it).
func TestOnlyCLIImportsDNSServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == module+"cmd/cadastre" {
			continue
		}
		for _, imp := range f[1:] {
			if imp == module+"authdns/server" {
				t.Errorf("%s imports authdns/server: only cmd/cadastre may", strings.TrimPrefix(f[0], module))
			}
		}
	}
}
