package main

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// spaceSteps add a private space vpc-a to the fixture register: the
// block 10.0.0.0/8, its pool 10.1.0.0/16 in region full (Ireland), and
// the address 10.1.0.5 taken in it.
var spaceSteps = [][]string{
	{"space", "add", "vpc-a"},
	{"block", "add", "10.0.0.0/8", "--source", "private", "--space", "vpc-a"},
	{"pool", "add", "10.1.0.0/16", "--region", "full", "--space", "vpc-a"},
	{"alloc", "--address", "10.1.0.5", "--space", "vpc-a", "--tenant", "acme"},
}

// TestSpacesStayOutOfGlobalOutputs: a private space's pools are not in
// the geofeed, its JSON, the MMDB export or a look-up of the register,
// unless the space is named; naming the wrong space is exit 2 naming the
// right one.
func TestSpacesStayOutOfGlobalOutputs(t *testing.T) {
	db := register(t)
	for _, s := range spaceSteps {
		mustCLI(t, db, s...)
	}
	placed := func(out string) []string {
		var ps []registry.Placement
		if err := json.Unmarshal([]byte(out), &ps); err != nil {
			t.Fatalf("placements: %v\n%s", err, out)
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.Prefix.String())
		}
		return got
	}
	if feed := mustCLI(t, db, "geofeed", "export"); strings.Contains(feed, "10.1.") {
		t.Errorf("the published feed holds vpc-a's pool:\n%s", feed)
	}
	if got := placed(mustCLI(t, db, "geofeed", "export", "--json")); slices.Contains(got, "10.1.0.0/16") || len(got) == 0 {
		t.Errorf("placements of the global space: %v", got)
	}
	if got := placed(mustCLI(t, db, "geofeed", "export", "--json", "--space", "vpc-a")); !slices.Equal(got, []string{"10.1.0.0/16"}) {
		t.Errorf("placements of vpc-a: %v", got)
	}
	lookup := func(args ...string) (source, country string) {
		var r struct {
			Source   string `json:"source"`
			Location struct {
				Country string `json:"country"`
			} `json:"location"`
		}
		out := mustCLI(t, db, append([]string{"geo", "lookup", "--json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("geo lookup %v: %v\n%s", args, err, out)
		}
		return r.Source, r.Location.Country
	}
	if src, _ := lookup("10.1.0.5"); src == "register" {
		t.Errorf("geo lookup 10.1.0.5 is placed by the register without --space")
	}
	if src, cc := lookup("--space", "vpc-a", "10.1.0.5"); src != "register" || cc != "IE" {
		t.Errorf("geo lookup --space vpc-a 10.1.0.5 = %s from %s, want IE from register", cc, src)
	}
	if src, cc := lookup("--space", "vpc-a", "40.64.0.1"); src == "register" {
		t.Errorf("geo lookup --space vpc-a places a global address (%s): the space's own pools only", cc)
	}
	dir := t.TempDir()
	global := cli(t, db, "geo", "export-mmdb", filepath.Join(dir, "g.mmdb"))
	private := cli(t, db, "geo", "export-mmdb", "--space", "vpc-a", filepath.Join(dir, "a.mmdb"))
	if global.code != 0 || private.code != 0 || !strings.Contains(private.stderr, "wrote 1 networks") || strings.Contains(global.stderr, "wrote 1 networks") {
		t.Errorf("export-mmdb: global %s\nvpc-a %s", global, private)
	}

	for _, c := range []struct {
		args  []string
		code  int
		names []string
	}{
		{[]string{"geofeed", "export", "--space", "vpc-a"}, exitUsage, []string{"--json", "vpc-a"}},
		{[]string{"geo", "lookup", "--space", "vpc-z", "10.1.0.5"}, exitNotFound, []string{"vpc-z"}},
		{[]string{"geofeed", "export", "--json", "--space", "vpc-z"}, exitNotFound, []string{"vpc-z"}},
		{[]string{"alloc", "--address", "10.1.0.6", "--space", "private"}, exitUsage, []string{"10.1.0.0/16", "vpc-a", "private"}},
		// A region allocation naming a space takes only that space's pools:
		// vpc-a has no IPv6 in region full.
		{[]string{"alloc", "--region", "full", "--space", "vpc-a"}, exitNoSpace, []string{"IPv6", "space vpc-a"}},
		{[]string{"reserve", "10.1.0.16/28", "--reason", "gw", "--space", "private"}, exitUsage, []string{"vpc-a"}},
		// Pools overlap only across spaces: within vpc-a it is refused.
		{[]string{"pool", "add", "10.1.128.0/17", "--region", "east", "--space", "vpc-a"}, exitConflict, []string{"vpc-a", "10.1.0.0/16"}},
		{[]string{"show", "10.9.0.1"}, exitUsage, []string{"vpc-a", "private", "--space"}},
	} {
		r := cli(t, db, c.args...)
		if r.code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s", strings.Join(c.args, " "), r.code, c.code, r)
			continue
		}
		for _, n := range c.names {
			if !strings.Contains(r.stderr, n) {
				t.Errorf("%s: the error does not name %q: %s", strings.Join(c.args, " "), n, r.stderr)
			}
		}
	}
	// The address is shown in its pool's space without --space.
	if out := mustCLI(t, db, "show", "10.1.0.5"); !strings.Contains(out, "space vpc-a") || !strings.Contains(out, "10.1.0.0/16") {
		t.Errorf("show 10.1.0.5:\n%s", out)
	}
}

// TestShowPoolPagesOverAPI: show POOL over --server reads the page the
// server sends and prints what the file does; --all follows the pages;
// geo lookup --space is local only (exit 2).
func TestShowPoolPagesOverAPI(t *testing.T) {
	local := register(t)
	served := register(t)
	for _, db := range []string{local, served} {
		mustCLI(t, db, "alloc", "--region", "east", "--family", "4", "--count", "5", "--tenant", "acme")
		mustCLI(t, db, "release", "40.64.0.4/30", "--quarantine", "0")
		for _, s := range spaceSteps {
			mustCLI(t, db, s...)
		}
	}
	token := strings.TrimSpace(mustCLI(t, served, "token", "create", "--scope", "admin", "--name", "cli"))
	srv := startServe(t, served)
	page := func(r result) (ids []int64, next string) {
		var h registry.Holding
		if err := json.Unmarshal([]byte(r.stdout), &h); err != nil {
			t.Fatalf("%v: %v\n%s", r.args, err, r)
		}
		for _, a := range h.Assignments {
			ids = append(ids, a.ID)
		}
		return ids, h.Next
	}
	var all []int64
	after := ""
	for i := 0; ; i++ {
		args := []string{"show", "40.64.0.0/24", "--json", "--limit", "2"}
		if after != "" {
			args = append(args, "--after", after)
		}
		want, got := cli(t, local, args...), remote(t, srv.url, token, args...)
		wi, wn := page(want)
		gi, gn := page(got)
		if !slices.Equal(wi, gi) || wn != gn || len(gi) > 2 {
			t.Fatalf("page %d: API %v next %q, file %v next %q", i, gi, gn, wi, wn)
		}
		all = append(all, gi...)
		if gn == "" {
			break
		}
		after = gn
	}
	// 6 live (1 + 5 new), then the released /30.
	if len(all) != 7 || all[6] != 2 {
		t.Errorf("pages list %v: want 6 live assignments then the released ID 2", all)
	}
	every, _ := page(remote(t, srv.url, token, "show", "40.64.0.0/24", "--json", "--all"))
	if !slices.Equal(every, all) {
		t.Errorf("--all over the API: %v, pages %v", every, all)
	}
	text := remote(t, srv.url, token, "show", "40.64.0.0/24", "--limit", "2")
	if !strings.Contains(text.stdout, "assignments (6 live; this page 2, next with --after live.") {
		t.Errorf("show --limit 2 over the API:\n%s", text)
	}
	for _, args := range [][]string{{"geofeed", "export", "--json", "--space", "vpc-a"}, {"geofeed", "export", "--json"}} {
		want, got := cli(t, local, args...), remote(t, srv.url, token, args...)
		if want.code != 0 || got.stdout != want.stdout {
			t.Errorf("%v: API\n%s\nfile\n%s", args, got, want)
		}
	}
	if r := remote(t, srv.url, token, "geo", "lookup", "--space", "vpc-a", "10.1.0.5"); r.code != exitUsage || !strings.Contains(r.stderr, "local register") {
		t.Errorf("geo lookup --space over the API: %s", r)
	}
}

// twoVPCSteps give vpc-a and vpc-b each 10.0.0.0/8, a pool 10.1.0.0/16
// in region full, the assignment 10.1.0.0/24 and the reservation
// 10.1.2.0/29: the same prefixes in two spaces.
var twoVPCSteps = [][]string{
	{"space", "add", "vpc-a"},
	{"space", "add", "vpc-b"},
	{"block", "add", "10.0.0.0/8", "--source", "private", "--space", "vpc-a"},
	{"block", "add", "10.0.0.0/8", "--source", "private", "--space", "vpc-b"},
	{"pool", "add", "10.1.0.0/16", "--region", "full", "--space", "vpc-a", "--use-all"},
	{"pool", "add", "10.1.0.0/16", "--region", "full", "--space", "vpc-b", "--use-all"},
	{"alloc", "--prefix", "10.1.0.0/24", "--space", "vpc-a", "--tenant", "acme"},
	{"alloc", "--prefix", "10.1.0.0/24", "--space", "vpc-b", "--tenant", "acme"},
	{"reserve", "10.1.2.0/29", "--reason", "gateways", "--space", "vpc-a"},
	{"reserve", "10.1.2.0/29", "--reason", "gateways", "--space", "vpc-b"},
}

// spaceOverlapBadInput: within a space every overlap is still exit 4
// naming the holder; where two spaces hold a prefix, a verb that does not
// name one is exit 2 naming both; the register is unchanged.
var spaceOverlapBadInput = []badCase{
	{name: "a pool over a pool of its space", setup: twoVPCSteps, args: []string{"pool", "add", "10.1.128.0/17", "--region", "full", "--space", "vpc-a"},
		code: codeConflict, want: []string{"10.1.0.0/16", "vpc-a"}},
	{name: "an assignment over a live one of its space", setup: twoVPCSteps, args: []string{"alloc", "--prefix", "10.1.0.0/25", "--space", "vpc-b"},
		code: codeConflict, want: []string{"10.1.0.0/24"}},
	{name: "a reservation over one of its space", setup: twoVPCSteps, args: []string{"reserve", "10.1.2.0/30", "--reason", "x", "--space", "vpc-a"},
		code: codeConflict, want: []string{"10.1.2.0/29"}},
	{name: "alloc where two spaces hold pools, without --space", setup: twoVPCSteps, args: []string{"alloc", "--address", "10.1.9.9"},
		code: codeUsage, want: []string{"vpc-a", "vpc-b", "--space"}},
	{name: "release of a prefix two spaces hold, without --space", setup: twoVPCSteps, args: []string{"release", "10.1.0.0/24", "--quarantine", "0"},
		code: codeUsage, want: []string{"vpc-a", "vpc-b", "--space"}},
	{name: "release by ID with --space", setup: twoVPCSteps, args: []string{"release", "1", "--space", "vpc-a"},
		code: codeUsage, want: []string{"--space", "ID"}},
	{name: "unreserve of a prefix two spaces reserve, without --space", setup: twoVPCSteps, args: []string{"unreserve", "10.1.2.0/29"},
		code: codeUsage, want: []string{"vpc-a", "vpc-b", "--space"}},
	{name: "show of an address in pools of two spaces, without --space", setup: twoVPCSteps, args: []string{"show", "10.1.0.9"},
		code: codeUsage, want: []string{"vpc-a", "vpc-b", "--space"}},
	{name: "pool update of a prefix two spaces hold, without --space", setup: twoVPCSteps, args: []string{"pool", "update", "10.1.0.0/16", "--tag", "env=x"},
		code: codeUsage, want: []string{"vpc-a", "vpc-b", "--space", "pool's ID"}},
	{name: "pool remove of a prefix two spaces hold, without --space", setup: twoVPCSteps, args: []string{"pool", "remove", "10.1.0.0/16"},
		code: codeUsage, want: []string{"vpc-a", "vpc-b", "--space", "pool's ID"}},
	{name: "pool remove in a space, with a live assignment", setup: twoVPCSteps, args: []string{"pool", "remove", "10.1.0.0/16", "--space", "vpc-b"},
		code: codeConflict, want: []string{"10.1.0.0/24"}},
	{name: "pool remove in a space that does not exist", setup: twoVPCSteps, args: []string{"pool", "remove", "10.1.0.0/16", "--space", "vpc-z"},
		code: codeNotFound, want: []string{"vpc-z"}},
	{name: "pool update in a space that holds no such pool", setup: twoVPCSteps, args: []string{"pool", "update", "10.1.0.0/16", "--space", "private", "--tag", "env=x"},
		code: codeNotFound, want: []string{"10.1.0.0/16", "space private"}},
	{name: "assignment update of a prefix two spaces hold, without --space", setup: twoVPCSteps, args: []string{"assignment", "update", "10.1.0.0/24", "--resource", "vm-1"},
		code: codeUsage, want: []string{"vpc-a", "vpc-b", "--space"}},
	{name: "alloc from a region in a space that does not exist", setup: twoVPCSteps, args: []string{"alloc", "--region", "full", "--space", "vpc-z", "--family", "4"},
		code: codeNotFound, want: []string{"vpc-z"}},
	{name: "alloc from a region in a space it has no pool of the family in", setup: twoVPCSteps, args: []string{"alloc", "--region", "full", "--space", "vpc-a", "--family", "6"},
		code: codeNoSpace, want: []string{"IPv6", "space vpc-a"}},
}

func TestSpaceOverlapBadInputIsRefusedAndChangesNothing(t *testing.T) {
	runBadCases(t, spaceOverlapBadInput)
}

// TestSpaceOverlapVerbs: with the same prefixes in two spaces, show,
// release and unreserve act in the space named, and leave the other's.
func TestSpaceOverlapVerbs(t *testing.T) {
	db := register(t)
	for _, s := range twoVPCSteps {
		mustCLI(t, db, s...)
	}
	var h registry.Holding
	mustJSON(t, mustCLI(t, db, "show", "10.1.0.9", "--space", "vpc-b", "--json"), &h)
	if h.Block == nil || h.Block.Space != "vpc-b" || h.Assignment == nil || h.Assignment.Space != "vpc-b" {
		t.Fatalf("show 10.1.0.9 --space vpc-b: %+v", h)
	}
	mustCLI(t, db, "release", "10.1.0.0/24", "--space", "vpc-b", "--quarantine", "0")
	mustCLI(t, db, "unreserve", "10.1.2.0/29", "--space", "vpc-a")
	// What is left is vpc-a's assignment and vpc-b's reservation; the
	// reservation, now the only one, is found without --space.
	mustJSON(t, mustCLI(t, db, "show", "10.1.0.9", "--space", "vpc-a", "--json"), &h)
	if h.Assignment == nil || h.Assignment.Space != "vpc-a" || h.Assignment.State != registry.StateAssigned {
		t.Fatalf("show 10.1.0.9 after vpc-b's release: %+v", h.Assignment)
	}
	var v registry.Reservation
	mustJSON(t, mustCLI(t, db, "unreserve", "10.1.2.0/29", "--json"), &v)
	if v.Space != "vpc-b" {
		t.Fatalf("unreserve 10.1.2.0/29: %+v, want vpc-b's", v)
	}

	// A region allocation takes the space named, and without one never a
	// VPC's pool.
	var as []registry.Assignment
	mustJSON(t, mustCLI(t, db, "alloc", "--region", "full", "--space", "vpc-b", "--family", "4", "--len", "24", "--count", "2", "--json"), &as)
	for _, x := range as {
		if x.Space != "vpc-b" || !netip.MustParsePrefix("10.1.0.0/16").Overlaps(x.Prefix) {
			t.Errorf("alloc --region full --space vpc-b: %s in %s", x.Prefix, x.Space)
		}
	}
	// Region full has no free global IPv4 and may not borrow: without
	// --space the VPCs' free pools are not taken either.
	if r := cli(t, db, "alloc", "--region", "full", "--family", "4"); r.code != codePolicy {
		t.Errorf("alloc --region full without --space, its global IPv4 full: %s, want exit %d (never a VPC's pool)", r, codePolicy)
	}
	var c registry.Pool
	mustJSON(t, mustCLI(t, db, "alloc", "--region", "full", "--space", "vpc-a", "--family", "4", "--len", "26", "--as-pool", "site-a", "--json"), &c)
	if c.Space != "vpc-a" {
		t.Errorf("alloc --as-pool site-a --space vpc-a: %s in %s", c.Prefix, c.Space)
	}

	// pool update and assignment update act on the space named only.
	var pl registry.Pool
	mustJSON(t, mustCLI(t, db, "pool", "update", "10.1.0.0/16", "--space", "vpc-b", "--tag", "env=b", "--json"), &pl)
	if pl.Space != "vpc-b" || pl.Tags["env"] != "b" {
		t.Errorf("pool update --space vpc-b: %+v", pl)
	}
	mustJSON(t, mustCLI(t, db, "pool", "update", strconv.FormatInt(pl.ID, 10), "--tag", "env=b2", "--json"), &pl)
	if pl.Space != "vpc-b" || pl.Tags["env"] != "b2" {
		t.Errorf("pool update ID: %+v", pl)
	}
	if r := cli(t, db, "pool", "update", strconv.FormatInt(pl.ID, 10), "--space", "vpc-a", "--tag", "env=a"); r.code != codeUsage || !strings.Contains(r.stderr, "space vpc-b") {
		t.Errorf("pool update ID --space of another space: %s", r)
	}
	var pa registry.Pool // fresh: Unmarshal would merge into pl's tags
	mustJSON(t, mustCLI(t, db, "pool", "update", "10.1.0.0/16", "--space", "vpc-a", "--purpose", "vms", "--json"), &pa)
	if pa.Space != "vpc-a" || pa.ID == pl.ID || pa.Tags["env"] != "" {
		t.Errorf("vpc-a's pool took vpc-b's tag: %+v", pa)
	}
	var x registry.Assignment
	mustJSON(t, mustCLI(t, db, "assignment", "update", "10.1.0.9", "--space", "vpc-a", "--resource", "vm-a", "--json"), &x)
	if x.Space != "vpc-a" || x.Resource != "vm-a" {
		t.Errorf("assignment update --space vpc-a: %+v", x)
	}
}

// TestPoolRemoveInASpace: a pool that two spaces hold is removed in the
// space named (or by ID), the other space's left as it was.
func TestPoolRemoveInASpace(t *testing.T) {
	db := register(t)
	for _, s := range twoVPCSteps[:6] {
		mustCLI(t, db, s...)
	}
	if r := cli(t, db, "pool", "remove", "10.1.0.0/16"); r.code != codeUsage || !strings.Contains(r.stderr, "vpc-a") || !strings.Contains(r.stderr, "vpc-b") {
		t.Fatalf("pool remove without --space: %s", r)
	}
	if out := mustCLI(t, db, "pool", "remove", "10.1.0.0/16", "--space", "vpc-a"); !strings.Contains(out, "space vpc-a") {
		t.Errorf("pool remove --space vpc-a: %s", out)
	}
	var pl registry.Pool
	mustJSON(t, mustCLI(t, db, "pool", "update", "10.1.0.0/16", "--purpose", "vms", "--json"), &pl)
	if pl.Space != "vpc-b" {
		t.Errorf("the pool left is %+v, want vpc-b's", pl)
	}
	mustCLI(t, db, "pool", "remove", strconv.FormatInt(pl.ID, 10))
	if r := cli(t, db, "pool", "update", "10.1.0.0/16", "--purpose", "vms"); r.code != codeNotFound {
		t.Errorf("pool update after both were removed: %s", r)
	}
}
