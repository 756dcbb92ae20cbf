package main

import (
	"strings"
	"testing"
)

// Only the verbs that run until stopped keep the store's large SQLite
// lookaside; every other verb takes SQLite's small one, ~9 ms of CPU
// cheaper to open (sqlite.OneShotLookaside; bench/README.md, "Session 20:
// citime").
func TestServesOnlyForTheServers(t *testing.T) {
	cases := []struct {
		args string
		want bool
	}{
		{"serve", true},
		{"serve --listen 127.0.0.1:0", true},
		{"dns serve --listen 127.0.0.1:0", true},
		{"demo --serve", true},
		{"demo", false},
		{"demo --scale 10", false},
		{"region list", false},
		{"alloc --region east", false},
		{"dns", false},
		{"zone list", false},
	}
	for _, c := range cases {
		root := newRoot(&app{})
		cmd, rest, err := root.Find(strings.Fields(c.args))
		if err != nil {
			t.Fatalf("%s: %v", c.args, err)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Fatalf("%s: flags: %v", c.args, err)
		}
		if got := serves(cmd); got != c.want {
			t.Errorf("cadastre %s: serves %v, want %v", c.args, got, c.want)
		}
	}
}
