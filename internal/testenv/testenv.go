// Package testenv decides, in one place, what a test does when something
// it needs from the machine is missing: a program (pg_dump, unbound), a
// server (PostgreSQL, port 53) or a data set (the cached geolocation
// databases). On a developer's machine the test skips, saying how to get
// it; under continuous integration ($CI set) it fails, so that CI cannot
// pass by skipping what it was meant to check.
//
// It holds no test data and starts nothing: scripts/setup installs and
// starts what the tests need.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CI reports whether the tests run under continuous integration: $CI is
// set to anything but "", "0" or "false" (.ci/run sets CI=1; most CI
// services set CI=true).
func CI() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("CI"))) {
	case "", "0", "false":
		return false
	}
	return true
}

// Need stops the test because what it needs is missing: what names the
// thing (a program, a server, a file), reason says why it is missing and
// how to get it. Under CI the test fails; elsewhere it skips.
func Need(t testing.TB, what, reason string) {
	t.Helper()
	if CI() {
		t.Fatalf("needs %s: %s (under $CI a missing dependency is a failure; scripts/setup installs it)", what, reason)
	}
	t.Skipf("needs %s: %s", what, reason)
}

// Program is the path of the program name, looked up in $PATH and then in
// the sbin folders (Debian puts unbound and knotd there, outside a normal
// user's $PATH). If it is missing, the test stops as Need says, naming
// pkg, the Debian package that installs it.
func Program(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	Need(t, name, "not installed (Debian package "+pkg+")")
	return ""
}

// GeoData is the path of a real geolocation database that
// scripts/fetch-geodata caches in .cache/geodata at the module's root
// (file is its name there, such as geolite2-country.mmdb). If it is not
// cached, the test stops as Need says.
func GeoData(t testing.TB, file string) string {
	t.Helper()
	return Cached(t, filepath.Join("geodata", file), "scripts/fetch-geodata")
}

// Cached is the path of a file that a setup script caches in .cache at the
// module's root (rel is its path below .cache, such as axe/axe.min.js;
// script names what fetches it). If it is not cached, the test stops as
// Need says.
func Cached(t testing.TB, rel, script string) string {
	t.Helper()
	path := filepath.Join(ModuleRoot(t), ".cache", rel)
	if _, err := os.Stat(path); err != nil {
		Need(t, path, "not cached (run "+script+")")
	}
	return path
}

// ModuleRoot is the folder of the go.mod above the test's working folder:
// where the git-ignored .cache of fetched data and build artefacts lives.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above %s: cannot find the module's root", dir)
		}
		dir = parent
	}
}
