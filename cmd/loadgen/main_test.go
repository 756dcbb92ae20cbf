package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestPaths: -op paths sends only the file's paths (after the warm-up's
// /v1/regions), with the token, and stops at -requests; a file with a
// line that is not a path, or -paths without -op paths, is a usage error.
func TestPaths(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		seen[r.URL.RequestURI()]++
		mu.Unlock()
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	good := filepath.Join(dir, "paths.txt")
	os.WriteFile(good, []byte("# reads\n/v1/assignments?region=us-east&limit=100\n\n/v1/assignments/7\n"), 0o600)
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("/v1/assignments/7\nv1/oops\n"), 0o600)

	var out, errb bytes.Buffer
	if code := run([]string{"-url", srv.URL, "-token", "tok", "-op", "paths", "-paths", good, "-clients", "2", "-requests", "40", "-duration", "10s"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "requests=40 ok=40") {
		t.Errorf("output does not count 40 good requests:\n%s", out.String())
	}
	mu.Lock()
	defer mu.Unlock()
	for p := range seen {
		if p != "/v1/regions" && p != "/v1/assignments?region=us-east&limit=100" && p != "/v1/assignments/7" {
			t.Errorf("sent %s, which is not in the file", p)
		}
	}
	if seen["/v1/assignments/7"] == 0 || seen["/v1/assignments?region=us-east&limit=100"] == 0 {
		t.Errorf("not every path sent: %v", seen)
	}
	for _, args := range [][]string{
		{"-token", "tok", "-op", "paths", "-paths", bad},
		{"-token", "tok", "-op", "paths"},
		{"-token", "tok", "-op", "get", "-region", "us-east", "-paths", good},
	} {
		var o, e bytes.Buffer
		if code := run(append([]string{"-url", srv.URL}, args...), &o, &e); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)\n%s", args, code, e.String())
		}
	}
}

// TestCookie: -cookie sends its Cookie header with every request, the
// warm-up's included, besides the token (the web UI's pages read the
// session, the API the token); a value over two lines or without a name
// is a usage error.
func TestCookie(t *testing.T) {
	var mu sync.Mutex
	var with, without int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("cadastre_session")
		mu.Lock()
		defer mu.Unlock()
		if err != nil || c.Value != "s1" || r.Header.Get("Authorization") != "Bearer tok" {
			without++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		with++
	}))
	defer srv.Close()
	paths := filepath.Join(t.TempDir(), "paths.txt")
	os.WriteFile(paths, []byte("/region/us-east\n/tree\n"), 0o600)
	var out, errb bytes.Buffer
	if code := run([]string{"-url", srv.URL, "-token", "tok", "-cookie", "cadastre_session=s1", "-op", "paths", "-paths", paths, "-clients", "2", "-requests", "20", "-duration", "10s"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	mu.Lock()
	if without != 0 || with < 20 {
		t.Errorf("%d requests with the cookie, %d without; want >= 20 and 0", with, without)
	}
	mu.Unlock()
	for _, bad := range []string{"cadastre_session=s1\r\nX-Evil: 1", "nameless"} {
		var o, e bytes.Buffer
		if code := run([]string{"-url", srv.URL, "-token", "tok", "-cookie", bad, "-op", "paths", "-paths", paths}, &o, &e); code != 2 {
			t.Errorf("-cookie %q: exit %d, want 2 (usage)\n%s", bad, code, e.String())
		}
	}
}
