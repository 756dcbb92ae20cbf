// Package demo builds the Azure-2014 story on an empty register: four
// regions, blocks with their provenance (an ARIN allocation, addresses
// bought from Nortel, a LACNIC block registered in Brazil, a RIPE block),
// and 90 days of virtual machines until us-east's own IPv4 runs dry and it
// borrows from brazil-south, as Azure's US regions borrowed Brazilian space.
//
// The prefixes are Microsoft's where the story's are publicly known
// (191.232.0.0/13 is the LACNIC block registered in Brazil that Azure used
// in the US); the Nortel transfer's exact prefixes are not public, so its
// block here is illustrative. Pools are kept small so that the story fits
// in 90 simulated days.
package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Days of history the demo simulates.
const Days = 90

// ErrNotEmpty means the register already holds data that is not the demo's.
var ErrNotEmpty = errors.New("the register is not empty")

// Result says what the demo did.
type Result struct {
	AlreadyBuilt bool
	Allocations  int
	Releases     int
	Relocations  []registry.Relocation
}

type vmRate struct {
	region    string
	perDay    int
	dual      int // percent of VMs that are dual-stack; the rest are IPv6-only
	releasePc int // percent of VMs released later
}

// Build creates the story in s, with history ending at now. On a register
// that already holds the demo it does nothing and says so.
func Build(ctx context.Context, s registry.Store, now time.Time) (Result, error) {
	var res Result
	probe := registry.New(s, registry.WithClock(func() time.Time { return now }))
	regions, err := probe.Regions(ctx)
	if err != nil {
		return res, err
	}
	if len(regions) > 0 {
		for _, r := range regions {
			if r.Name == "us-east" && r.Borrow.Allows("brazil-south") {
				res.AlreadyBuilt = true
				res.Relocations, err = probe.Relocations(ctx)
				return res, err
			}
		}
		return res, fmt.Errorf("demo needs an empty register, and this one has %d regions (give another file with --db): %w", len(regions), ErrNotEmpty)
	}

	clock := now.Add(-Days * 24 * time.Hour)
	reg := registry.New(s, registry.WithClock(func() time.Time { return clock }))
	ctx = registry.WithActor(ctx, "demo")

	for _, r := range []registry.RegionSpec{
		{Name: "brazil-south", Location: location.Location{Country: "BR", Subdivision: "BR-SP", City: "Campinas"}},
		{Name: "europe-north", Location: location.Location{Country: "IE", Subdivision: "IE-D", City: "Dublin"}},
		{Name: "us-west", Location: location.Location{Country: "US", Subdivision: "US-CA", City: "San Jose"}},
		{Name: "us-east", Location: location.Location{Country: "US", Subdivision: "US-VA", City: "Boydton"}, Borrow: registry.BorrowPolicy{From: []string{"brazil-south"}}},
	} {
		if _, err := reg.AddRegion(ctx, r); err != nil {
			return res, err
		}
	}
	usd := func(cents int64) *registry.Money { return &registry.Money{Cents: cents, Currency: "USD"} }
	for _, b := range []registry.Block{
		{Prefix: mp("40.64.0.0/10"), Source: registry.SourceRIR, Registry: "arin", RegisteredCountry: "US", Date: "2014-03-27", Note: "ARIN allocation for US regions"},
		{Prefix: mp("132.245.0.0/16"), Source: registry.SourceTransfer, Registry: "arin", RegisteredCountry: "US", From: "Nortel Networks",
			Price: usd(750_000_000), Date: "2011-04-26", Note: "part of the 666,624 addresses bought for $7.5M under the Delaware bankruptcy court's order (prefix illustrative)"},
		{Prefix: mp("191.232.0.0/13"), Source: registry.SourceRIR, Registry: "lacnic", RegisteredCountry: "BR", Date: "2013-09-18", Note: "LACNIC allocation, registered in Brazil"},
		{Prefix: mp("94.245.64.0/18"), Source: registry.SourceRIR, Registry: "ripe", RegisteredCountry: "IE", Note: "RIPE NCC allocation for Dublin"},
		{Prefix: mp("2603:1000::/24"), Source: registry.SourceRIR, Registry: "arin", RegisteredCountry: "US", Note: "ARIN IPv6 allocation, one /32 per region"},
	} {
		if _, err := reg.AddBlock(ctx, b); err != nil {
			return res, err
		}
	}
	for _, p := range []registry.PoolSpec{
		{Prefix: mp("40.64.0.0/23"), Region: "us-east", Purpose: "vms"},
		{Prefix: mp("132.245.0.0/24"), Region: "us-east", Purpose: "vms"},
		{Prefix: mp("40.64.2.0/23"), Region: "us-west", Purpose: "vms"},
		{Prefix: mp("191.232.0.0/22"), Region: "brazil-south", Purpose: "vms"},
		{Prefix: mp("94.245.64.0/22"), Region: "europe-north", Purpose: "vms"},
		{Prefix: mp("2603:1030::/32"), Region: "us-east", Purpose: "vms"},
		{Prefix: mp("2603:1010::/32"), Region: "us-west", Purpose: "vms"},
		{Prefix: mp("2603:1050::/32"), Region: "brazil-south", Purpose: "vms"},
		{Prefix: mp("2603:1020::/32"), Region: "europe-north", Purpose: "vms"},
	} {
		if _, err := reg.AddPool(ctx, p); err != nil {
			return res, err
		}
	}

	// Twelve tenants, each with a suffix of its own under cloud.example
	// (no two tenants may share one; the demo, as an admin, names VMs
	// under the regions' subzones), with quotas well above what 90 days
	// give any one of them (about 200 IPv4 addresses and 250 IPv6
	// prefixes).
	for i := 1; i <= 12; i++ {
		names := []string{fmt.Sprintf("tenant%02d.cloud.example", i)}
		max4, max6 := int64(512), int64(1024)
		if _, err := reg.AddTenant(ctx, registry.TenantSpec{Name: fmt.Sprintf("tenant%02d", i), Names: &names, MaxIPv4: &max4, MaxIPv6: &max6}); err != nil {
			return res, err
		}
	}

	// Deterministic, so the demo tells the same story every time.
	rng := rand.New(rand.NewPCG(2014, 8805))
	rates := []vmRate{
		{region: "us-east", perDay: 12, dual: 90, releasePc: 5},
		{region: "us-west", perDay: 4, dual: 80, releasePc: 10},
		{region: "brazil-south", perDay: 3, dual: 75, releasePc: 10},
		{region: "europe-north", perDay: 3, dual: 60, releasePc: 10},
	}
	type pending struct {
		at time.Time
		id int64
	}
	var releases []pending
	start := clock
	for d := 0; d < Days; d++ {
		for _, r := range rates {
			for i := 0; i < r.perDay; i++ {
				clock = start.Add(time.Duration(d)*24*time.Hour + time.Duration(rng.IntN(86400))*time.Second)
				n := res.Allocations + 1
				q := registry.Request{Region: r.region, Tenant: fmt.Sprintf("tenant%02d", rng.IntN(12)+1),
					Resource: fmt.Sprintf("vm-%05d", n), Name: fmt.Sprintf("vm-%05d.%s.cloud.example", n, r.region)}
				if rng.IntN(100) < r.dual {
					q.DualStack = true
				}
				out, err := reg.Allocate(ctx, q)
				if err != nil {
					return res, fmt.Errorf("demo day %d: %w", d, err)
				}
				res.Allocations++
				if rng.IntN(100) < r.releasePc {
					for _, a := range out {
						releases = append(releases, pending{at: clock.Add(time.Duration(1+rng.IntN(20*24)) * time.Hour), id: a.ID})
					}
				}
			}
		}
		// Release what is due by the end of the day.
		end := start.Add(time.Duration(d+1) * 24 * time.Hour)
		kept := releases[:0]
		for _, p := range releases {
			if p.at.After(end) {
				kept = append(kept, p)
				continue
			}
			clock = p.at
			if _, err := reg.Release(ctx, registry.Target{ID: p.id}, registry.DefaultQuarantine, nil); err != nil {
				return res, fmt.Errorf("demo release: %w", err)
			}
			res.Releases++
		}
		releases = kept
	}
	res.Relocations, err = reg.Relocations(ctx)
	return res, err
}

func mp(s string) netip.Prefix { return netip.MustParsePrefix(s) }
