package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestREADMETour runs the README's tour literally, in order, on a new
// register: every `./cadastre` line of its sections from "A tour of the CLI"
// to "Tenants" succeeds, or exits with the status its comment names
// ("# exit 4 while ..."). An operator's walk-through (session 24) found
// the tour failing where it was run as written: a reservation over the
// tour's own quarantined address, a child pool's prefix the tour did not
// get, a tenant the tour's allocations had created already.
func TestREADMETour(t *testing.T) {
	text, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(text)
	start, end := strings.Index(s, "\n## A tour of the CLI"), strings.Index(s, "\n## Changing and removing")
	if start < 0 || end < start {
		t.Fatalf("README.md: the tour's sections not found (%d, %d)", start, end)
	}
	var lines []string
	inBlock := false
	for _, l := range strings.Split(s[start:end], "\n") {
		switch {
		case strings.HasPrefix(l, "```sh"):
			inBlock = true
		case strings.HasPrefix(l, "```"):
			inBlock = false
		case inBlock && len(lines) > 0 && strings.HasSuffix(lines[len(lines)-1], "\\"):
			lines[len(lines)-1] = strings.TrimSuffix(lines[len(lines)-1], "\\") + " " + strings.TrimSpace(l)
		case inBlock && strings.HasPrefix(l, "./cadastre "):
			lines = append(lines, l)
		}
	}
	if len(lines) < 30 {
		t.Fatalf("README.md: %d commands in the tour; expected the whole tour", len(lines))
	}
	dir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(dir, "cadastre")); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CADASTRE_") {
			env = append(env, kv)
		}
	}
	exitIn := regexp.MustCompile(`# exit (\d)\b`)
	ran := 0
	for _, l := range lines {
		if strings.Contains(l, "--from netbox") || strings.Contains(l, "--from phpipam") {
			continue // the operator's own export files
		}
		want := 0
		if m := exitIn.FindStringSubmatch(l); m != nil {
			want, _ = strconv.Atoi(m[1])
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-c", l)
		cmd.Dir, cmd.Env = dir, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		if err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("%s: %v", l, err)
			}
		}
		if got := cmd.ProcessState.ExitCode(); got != want {
			t.Errorf("README tour: %s\nexit %d, want %d:\n%s", l, got, want, out.String())
		}
		ran++
	}
	t.Logf("ran %d commands of the README's tour", ran)
}
