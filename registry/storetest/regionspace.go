package storetest

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// runRegionSpaces is the conformance of allocation from a region that
// holds pools of several spaces (issue 12): Request.Space (and
// ChildPoolSpec.Space) limit it to one space's pools; without it, only the
// global and the built-in private space's pools are taken, never a named
// space's, even where a named space's pool has the free prefix that fits
// best.
func runRegionSpaces(t *testing.T, open Open) {
	ctx := context.Background()
	now := t0.Add(time.Hour)

	// us-east holds, in IPv4: the global 40.64.0.0/24, the built-in
	// private space's 172.16.0.0/24, and 10.1.0.0/28 in both vpc-a and
	// vpc-b (the same prefix). The VPCs' /28s are the smallest free
	// prefixes, which a plain search takes first. eu-west has no pool and
	// borrows from us-east.
	setup := func(t *testing.T) (registry.Store, *registry.Registry) {
		s := open(t)
		t.Cleanup(func() { s.Close() })
		reg := registry.New(s, registry.WithClock(func() time.Time { return now }))
		for _, sp := range []string{"vpc-a", "vpc-b"} {
			if _, err := reg.AddSpace(ctx, registry.Space{Name: sp}); err != nil {
				t.Fatal(err)
			}
		}
		for _, g := range []registry.RegionSpec{
			{Name: "us-east", Location: location.Location{Country: "US"}},
			{Name: "eu-west", Location: location.Location{Country: "IE"}, Borrow: registry.BorrowPolicy{From: []string{"us-east"}}, BorrowBits: 30},
		} {
			if _, err := reg.AddRegion(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
		for _, b := range []registry.Block{
			{Prefix: mp("40.64.0.0/10"), Source: registry.SourceRIR, Registry: "arin"},
			{Prefix: mp("2603:1030::/32"), Source: registry.SourceRIR, Registry: "arin"},
			{Prefix: mp("172.16.0.0/12"), Source: registry.SourcePrivate},
			{Prefix: mp("10.0.0.0/8"), Source: registry.SourcePrivate, Space: "vpc-a"},
			{Prefix: mp("10.0.0.0/8"), Source: registry.SourcePrivate, Space: "vpc-b"},
		} {
			if _, err := reg.AddBlock(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []registry.PoolSpec{
			{Prefix: mp("40.64.0.0/24"), Region: "us-east"},
			{Prefix: mp("2603:1030::/48"), Region: "us-east"},
			{Prefix: mp("172.16.0.0/24"), Region: "us-east"},
			{Prefix: mp("10.1.0.0/28"), Region: "us-east", Space: "vpc-a", UseAll: true},
			{Prefix: mp("10.1.0.0/28"), Region: "us-east", Space: "vpc-b", UseAll: true},
		} {
			if _, err := reg.AddPool(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		return s, reg
	}
	inSpace := func(t *testing.T, as []registry.Assignment, space string, within netip.Prefix) {
		t.Helper()
		for _, a := range as {
			if a.Space != space || !within.Contains(a.Prefix.Addr()) {
				t.Errorf("assignment %s in space %s (pool %s); want space %s inside %s", a.Prefix, a.Space, a.Pool, space, within)
			}
		}
	}

	t.Run("without a space a region allocation never takes a named space's pool", func(t *testing.T) {
		s, reg := setup(t)
		as, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 4, Count: 40})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.Space != registry.GlobalSpace && a.Space != registry.PrivateSpace {
				t.Errorf("assignment %s taken from space %s", a.Prefix, a.Space)
			}
		}
		for _, space := range []string{"vpc-a", "vpc-b"} {
			n, err := reg.Assignments(ctx, registry.AssignmentFilter{Region: "us-east", Family: 4})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range n {
				if a.Space == space {
					t.Errorf("%s holds %s", space, a.Prefix)
				}
			}
		}
		CheckInvariants(t, ctx, s, reg, now)
	})

	t.Run("a space named takes that space's pools only, and runs out there", func(t *testing.T) {
		s, reg := setup(t)
		for _, space := range []string{"vpc-a", "vpc-b"} {
			as, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Space: space, Family: 4, Count: 16})
			if err != nil {
				t.Fatalf("%s: %v", space, err)
			}
			inSpace(t, as, space, mp("10.1.0.0/28"))
			_, err = reg.Allocate(ctx, registry.Request{Region: "us-east", Space: space, Family: 4})
			if !errors.Is(err, registry.ErrNoSpace) {
				t.Errorf("%s full: %v, want ErrNoSpace (never another space's pool)", space, err)
			}
		}
		as, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Space: registry.GlobalSpace, Family: 4, Bits: 30, Count: 3})
		if err != nil {
			t.Fatal(err)
		}
		inSpace(t, as, registry.GlobalSpace, mp("40.64.0.0/24"))
		as, err = reg.Allocate(ctx, registry.Request{Region: "us-east", Space: registry.PrivateSpace, Family: 4, Bits: 32})
		if err != nil {
			t.Fatal(err)
		}
		inSpace(t, as, registry.PrivateSpace, mp("172.16.0.0/24"))
		CheckInvariants(t, ctx, s, reg, now)
	})

	t.Run("bad spaces are refused and change nothing", func(t *testing.T) {
		s, reg := setup(t)
		before := snapshot(t, ctx, s, now)
		for _, c := range []struct {
			q    registry.Request
			want error
			in   string
		}{
			{registry.Request{Region: "us-east", Space: "vpc-z", Family: 4}, registry.ErrNotFound, "vpc-z"},
			{registry.Request{Region: "us-east", Space: "VPC\x1b", Family: 4}, registry.ErrInvalid, ""},
			{registry.Request{Region: "us-east", Space: "vpc-a", Family: 6}, registry.ErrNoSpace, "space vpc-a"},
			{registry.Request{Region: "us-east", Space: "vpc-a", DualStack: true}, registry.ErrNoSpace, "space vpc-a"},
			{registry.Request{Region: "us-east", Space: "vpc-a", Family: 4, Bits: 24}, registry.ErrInvalid, "space vpc-a"},
		} {
			_, err := reg.Allocate(ctx, c.q)
			if !errors.Is(err, c.want) || !strings.Contains(errText(err), c.in) {
				t.Errorf("%+v: %v, want %v naming %q", c.q, err, c.want, c.in)
			}
		}
		if after := snapshot(t, ctx, s, now); after != before {
			t.Errorf("refused requests changed the register")
		}
	})

	t.Run("borrowing takes the lender's pools of the space asked for", func(t *testing.T) {
		s, reg := setup(t)
		as, err := reg.Allocate(ctx, registry.Request{Region: "eu-west", Space: "vpc-b", Family: 4, Count: 2})
		if err != nil {
			t.Fatal(err)
		}
		inSpace(t, as, "vpc-b", mp("10.1.0.0/28"))
		for _, a := range as {
			if !a.Borrowed {
				t.Errorf("%s not borrowed", a.Prefix)
			}
		}
		as, err = reg.Allocate(ctx, registry.Request{Region: "eu-west", Family: 4})
		if err != nil {
			t.Fatal(err)
		}
		if sp := as[0].Space; sp != registry.GlobalSpace && sp != registry.PrivateSpace {
			t.Errorf("borrowed without a space from space %s", sp)
		}
		CheckInvariants(t, ctx, s, reg, now)
	})

	t.Run("child pools are carved from the space asked for", func(t *testing.T) {
		s, reg := setup(t)
		for _, space := range []string{"vpc-a", "vpc-b"} {
			p, err := reg.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site-" + space, Region: "us-east", Space: space, Family: 4, Bits: 29})
			if err != nil {
				t.Fatal(err)
			}
			if p.Space != space || p.Prefix != mp("10.1.0.0/29") {
				t.Errorf("child pool %s = %s in space %s", p.Name, p.Prefix, p.Space)
			}
			as, err := reg.Allocate(ctx, registry.Request{Pool: p.Name, Space: space, Family: 4, Count: 8})
			if err != nil {
				t.Fatal(err)
			}
			inSpace(t, as, space, mp("10.1.0.0/29"))
			if _, err := reg.Allocate(ctx, registry.Request{Pool: p.Name, Space: "vpc-z", Family: 4}); !errors.Is(err, registry.ErrInvalid) {
				t.Errorf("child pool of %s asked in vpc-z: %v, want ErrInvalid", space, err)
			}
		}
		p, err := reg.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site-default", Region: "us-east", Family: 4, Bits: 29})
		if err != nil {
			t.Fatal(err)
		}
		if p.Space != registry.GlobalSpace && p.Space != registry.PrivateSpace {
			t.Errorf("child pool without a space carved from space %s (%s)", p.Space, p.Prefix)
		}
		if p, err := reg.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site-y", Region: "us-east", Space: "vpc-a", Family: 4, Bits: 29}); err != nil || p.Prefix != mp("10.1.0.8/29") || p.Space != "vpc-a" {
			t.Errorf("vpc-a's second child pool = %s in %s, %v; want 10.1.0.8/29 in vpc-a", p.Prefix, p.Space, err)
		}
		if _, err := reg.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site-z", Region: "us-east", Space: "vpc-a", Family: 4, Bits: 29}); !errors.Is(err, registry.ErrNoSpace) || !strings.Contains(err.Error(), "space vpc-a") {
			t.Errorf("vpc-a's pool is all child pools: %v, want ErrNoSpace naming the space", err)
		}
		CheckInvariants(t, ctx, s, reg, now)
	})
}

// errText is err's text, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
