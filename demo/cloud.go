package demo

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Cloud-sized registers (issue 16): a register shaped like a large
// cloud's, to measure every path at a million assignments and more. It is
// written through registry.Load, the bulk path `cadastre import` takes,
// a region at a time, not one transaction per assignment: a million
// assignments build in minutes. Everything follows from the seed and the
// end of the history, so two builds with both the same give the same
// export, byte for byte.

// CloudOptions says what Cloud builds.
type CloudOptions struct {
	// Assignments is how many assignments (live and past) the register
	// holds in the end.
	Assignments int
	// Seed picks every random choice; the same seed and end give the
	// same register.
	Seed uint64
	// ChildPools is how many /48 child pools each region's IPv6 /32
	// gets, each with a few /64s inside. The export format does not
	// carry child pools yet (issue 12), so a register that should
	// export needs 0.
	ChildPools int
	// Progress, if set, is told how far the build is: done of total
	// steps, and what the step is.
	Progress func(done, total int, step string)
}

// CloudResult counts what Cloud made.
type CloudResult struct {
	Regions       int    `json:"regions"`
	Tenants       int    `json:"tenants"`
	Blocks        int    `json:"blocks"`
	IPv4Blocks    int    `json:"ipv4_blocks"`
	IPv4Addresses uint64 `json:"ipv4_addresses"`
	Pools         int    `json:"pools"`
	ChildPools    int    `json:"child_pools"`
	Relocations   int    `json:"relocations"`
	Assignments   int    `json:"assignments"`
	Named         int    `json:"named"`
	Quarantined   int    `json:"quarantined"`
	Released      int    `json:"released"`
}

// CloudDomain is the DNS zone the cloud register's names lie under, a
// subzone per region (vm-0000042.us-east.cloud.example).
const CloudDomain = "cloud.example"

// cloudQuarantine is how long a released address of the cloud register
// waits: a week, so that the last week's releases are quarantined.
const cloudQuarantine = 7 * 24 * time.Hour

// blockTiers are the sizes of the IPv4 blocks: a few large allocations
// and transfers and a long tail of small ones, about 1,200 blocks and 80
// million addresses in all (what AS8075 announced in 2014). Blocks of
// the last tier get a random length from /17 to /24.
var blockTiers = []struct{ bits, count int }{{12, 20}, {13, 40}, {14, 80}, {15, 90}, {0, 970}}

// Cloud builds the cloud-sized register in s, with history ending at now.
// The register must be empty.
func Cloud(ctx context.Context, s registry.Store, now time.Time, opt CloudOptions) (CloudResult, error) {
	var res CloudResult
	if opt.Assignments < 0 || opt.ChildPools < 0 {
		return res, fmt.Errorf("cloud register: negative size: %w", registry.ErrInvalid)
	}
	now = now.UTC().Truncate(time.Microsecond)
	reg := registry.New(s, registry.WithClock(func() time.Time { return now }))
	ctx = registry.WithActor(ctx, "demo")
	regions, err := reg.Regions(ctx)
	if err != nil {
		return res, err
	}
	if len(regions) > 0 {
		return res, fmt.Errorf("the cloud demo needs an empty register, and this one has %d regions (give another file with --db): %w", len(regions), ErrNotEmpty)
	}
	g := newCloudGen(opt, now)
	g.plan()
	kids := 0
	if opt.ChildPools > 0 {
		kids = min(opt.Assignments, len(cloudRegions)*opt.ChildPools*childKids)
	}
	g.assign(opt.Assignments - kids)

	total := 1 + len(g.batches) + len(cloudRegions)*opt.ChildPools
	step := 0
	progress := func(what string) {
		step++
		if opt.Progress != nil {
			opt.Progress(step, total, what)
		}
	}
	if _, err := reg.Load(ctx, g.head, registry.LoadOptions{}); err != nil {
		return res, fmt.Errorf("cloud register: regions and blocks: %w", err)
	}
	progress("regions and blocks")
	for _, b := range g.batches {
		if _, err := reg.Load(ctx, b.dump, registry.LoadOptions{}); err != nil {
			return res, fmt.Errorf("cloud register: region %s: %w", b.region, err)
		}
		progress(b.region)
	}
	res = g.res
	left := kids
	for i, r := range cloudRegions {
		for k := 0; k < opt.ChildPools; k++ {
			name := fmt.Sprintf("%s-site-%d", r.name, k+1)
			tenant := g.tenant()
			if _, err := reg.AllocatePool(ctx, registry.ChildPoolSpec{Name: name, Region: r.name, Bits: 48, Purpose: "site", Tenant: tenant}); err != nil {
				return res, fmt.Errorf("cloud register: child pool %s: %w", name, err)
			}
			res.ChildPools++
			for j := 0; j < childKids && left > 0; j++ {
				n := opt.Assignments - left + 1
				q := registry.Request{Pool: name, Family: 6, Bits: 64, Tenant: tenant, Resource: fmt.Sprintf("subnet-%07d", n)}
				if _, err := reg.Allocate(ctx, q); err != nil {
					return res, fmt.Errorf("cloud register: child pool %s (region %d): %w", name, i, err)
				}
				left--
				res.Assignments++
			}
			progress(name)
		}
	}
	return res, nil
}

// childKids is how many /64s each child pool gets.
const childKids = 4

// cloudGen holds the plan of a cloud register while it is made: records
// are made in memory, deterministically, then loaded.
type cloudGen struct {
	rng   *rand.Rand
	opt   CloudOptions
	now   time.Time
	start time.Time
	res   CloudResult

	head    registry.Dump
	batches []cloudBatch
	// byRegion is the index of a region's batch; pools and cursors the
	// space each region hands out.
	byRegion map[string]int
	v4       [][]*cursor // per region, its IPv4 pools in order
	v6       []*v6cursor // per region
	lent     []*lentUnit // per region, the unit it borrowed (nil: none)
	tenants  []string
	weights  []int // cumulative region weights
}

type cloudBatch struct {
	region string
	dump   registry.Dump
}

// cursor hands out a pool's addresses in order, as a fresh pool's buddy
// allocator does, leaving the policy's addresses and lent units alone.
type cursor struct {
	pool   netip.Prefix
	region string
	next   netip.Addr
	last   netip.Addr // the last address it may hand out
	batch  int
}

type v6cursor struct {
	pool  netip.Prefix
	host  netip.Addr // next /128
	net   netip.Addr // next /64
	batch int
}

type lentUnit struct {
	cursor
	at time.Time
}

func newCloudGen(opt CloudOptions, now time.Time) *cloudGen {
	g := &cloudGen{rng: rand.New(rand.NewPCG(opt.Seed, 0x1605)), opt: opt, now: now, start: now.Add(-Days * 24 * time.Hour),
		byRegion: map[string]int{}}
	g.head = registry.Dump{Format: registry.DumpFormat, Version: registry.DumpVersion}
	return g
}

func (g *cloudGen) between(lo, hi time.Time) time.Time {
	d := hi.Sub(lo)
	if d <= 0 {
		return lo
	}
	return lo.Add(time.Duration(g.rng.Int64N(int64(d/time.Microsecond))) * time.Microsecond)
}

// tenant picks a tenant, a few of them much larger than the rest.
func (g *cloudGen) tenant() string {
	n := len(g.tenants)
	i := g.rng.IntN(n)
	if g.rng.IntN(3) == 0 {
		i = g.rng.IntN(min(n, 10))
	}
	return g.tenants[i]
}

// plan makes the tenants, regions, blocks, pools and relocations.
func (g *cloudGen) plan() {
	created := g.start.Add(-time.Hour)
	// A tenant per thousand assignments, from 20 to 5,000.
	nt := min(max(g.opt.Assignments/1000, 20), 5000)
	for i := 1; i <= nt; i++ {
		name := fmt.Sprintf("tenant%05d", i)
		g.tenants = append(g.tenants, name)
		g.head.Tenants = append(g.head.Tenants, registry.TenantRecord{Name: name, Names: []string{CloudDomain}, CreatedAt: created})
	}
	g.res.Tenants = nt
	byRIR := map[string][]int{}
	sum := 0
	for i, r := range cloudRegions {
		byRIR[r.rir] = append(byRIR[r.rir], i)
		sum += r.weight
		g.weights = append(g.weights, sum)
		g.byRegion[r.name] = i
		g.batches = append(g.batches, cloudBatch{region: r.name, dump: registry.Dump{Format: registry.DumpFormat, Version: registry.DumpVersion}})
	}
	g.v4 = make([][]*cursor, len(cloudRegions))
	g.lent = make([]*lentUnit, len(cloudRegions))
	g.res.Regions = len(cloudRegions)

	// IPv4 blocks: sizes by tier, dealt to the registries by share, then
	// placed largest first in each registry's /8s, so that they pack
	// without gaps.
	type plannedBlock struct {
		bits   int
		rir    string
		region int
	}
	var sizes []int
	for _, t := range blockTiers {
		for i := 0; i < t.count; i++ {
			b := t.bits
			if b == 0 {
				b = 17 + g.rng.IntN(8)
			}
			sizes = append(sizes, b)
		}
	}
	g.rng.Shuffle(len(sizes), func(i, j int) { sizes[i], sizes[j] = sizes[j], sizes[i] })
	var planned []plannedBlock
	at := 0
	for k, s := range rirSpaces {
		n := len(sizes) * s.share / 100
		if k == len(rirSpaces)-1 {
			n = len(sizes) - at
		}
		own := byRIR[s.name]
		for j := 0; j < n; j++ {
			region := own[j%len(own)]
			if j >= len(own) {
				// Mostly a region of the registry's area, weighted by how
				// busy it is; one in ten used elsewhere (space bought
				// where it was for sale, used where it was needed).
				region = g.weighted(own)
				if g.rng.IntN(10) == 0 {
					region = g.weighted(nil)
				}
			}
			planned = append(planned, plannedBlock{bits: sizes[at+j], rir: s.name, region: region})
		}
		at += n
	}
	var blocks []registry.BlockRecord
	blockRegion := map[netip.Prefix]int{}
	for _, s := range rirSpaces {
		var mine []plannedBlock
		for _, b := range planned {
			if b.rir == s.name {
				mine = append(mine, b)
			}
		}
		slices.SortStableFunc(mine, func(a, b plannedBlock) int { return cmp.Compare(a.bits, b.bits) })
		slot, next := 0, uint32(s.slash8s[0])<<24
		for _, b := range mine {
			size := uint32(1) << (32 - b.bits)
			if next-uint32(s.slash8s[slot])<<24+size > 1<<24 || next < uint32(s.slash8s[slot])<<24 {
				slot++
				next = uint32(s.slash8s[slot]) << 24
			}
			p := netip.PrefixFrom(addr4(next), b.bits)
			next += size
			blocks = append(blocks, g.block(p, s.name, b.region, byRIR))
			blockRegion[p] = b.region
			g.res.IPv4Addresses += uint64(size)
		}
	}
	g.res.IPv4Blocks = len(blocks)
	// IPv6: a /24 per registry, a /32 of it per region of its area.
	g.v6 = make([]*v6cursor, len(cloudRegions))
	for _, s := range rirSpaces {
		p := netip.MustParsePrefix(s.ipv6)
		blocks = append(blocks, registry.BlockRecord{Prefix: p, Source: registry.SourceRIR, Registry: s.name,
			RegisteredCountry: cloudRegions[byRIR[s.name][0]].loc.Country, Date: "2014-03-27", Note: "IPv6 allocation, a /32 per region",
			CreatedAt: created})
		for k, i := range byRIR[s.name] {
			b := p.Addr().As16()
			b[3] = byte(k)
			pool := netip.PrefixFrom(netip.AddrFrom16(b), 32)
			g.poolRecord(i, pool, "vms", created)
		}
	}
	slices.SortFunc(blocks, func(a, b registry.BlockRecord) int { return prefix.Compare(a.Prefix, b.Prefix) })
	g.head.Blocks = blocks
	g.res.Blocks = len(blocks)
	for _, b := range blocks {
		if b.Prefix.Addr().Is4() {
			i := blockRegion[b.Prefix]
			purpose := "vms"
			if b.Prefix.Bits() >= 23 {
				purpose = "load-balancers"
			}
			g.poolRecord(i, b.Prefix, purpose, created)
		}
	}
	// Regions, with the borrowing the relocations need.
	borrow := make([][]string, len(cloudRegions))
	g.relocations(borrow)
	for i, r := range cloudRegions {
		g.head.Regions = append(g.head.Regions, registry.RegionRecord{Name: r.name, Location: r.loc,
			Borrow: registry.BorrowPolicy{From: borrow[i]}, BorrowBits: registry.DefaultBorrowBits, CreatedAt: created})
	}
	slices.SortFunc(g.head.Regions, func(a, b registry.RegionRecord) int { return cmp.Compare(a.Name, b.Name) })
}

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// weighted picks a region among idx (nil: all) by weight.
func (g *cloudGen) weighted(idx []int) int {
	if idx == nil {
		n := g.rng.IntN(g.weights[len(g.weights)-1])
		i, _ := slices.BinarySearch(g.weights, n+1)
		return i
	}
	sum := 0
	for _, i := range idx {
		sum += cloudRegions[i].weight
	}
	n := g.rng.IntN(sum)
	for _, i := range idx {
		n -= cloudRegions[i].weight
		if n < 0 {
			return i
		}
	}
	return idx[len(idx)-1]
}

// block is a block's provenance: mostly registry allocations, a quarter
// bought on the transfer market with a price, some customers' own space.
func (g *cloudGen) block(p netip.Prefix, rir string, region int, byRIR map[string][]int) registry.BlockRecord {
	own := byRIR[rir]
	country := cloudRegions[own[g.rng.IntN(len(own))]].loc.Country
	if cloudRegions[region].rir == rir {
		country = cloudRegions[region].loc.Country
	}
	b := registry.BlockRecord{Prefix: p, Source: registry.SourceRIR, Registry: rir, RegisteredCountry: country,
		Date: fmt.Sprintf("%d-%02d-%02d", 2008+g.rng.IntN(16), 1+g.rng.IntN(12), 1+g.rng.IntN(28)), CreatedAt: g.start.Add(-time.Hour)}
	switch n := g.rng.IntN(100); {
	case n < 25:
		b.Source = registry.SourceTransfer
		b.From = sellers[g.rng.IntN(len(sellers))]
		// From about $10 to $60 an address, the market's range since 2011.
		perAddr := int64(1000 + g.rng.IntN(5000))
		b.Price = &registry.Money{Cents: perAddr << (32 - p.Bits()), Currency: "USD"}
		b.Note = "bought on the transfer market"
	case n < 30:
		b.Source = registry.SourceBYOIP
		b.From = g.tenants[g.rng.IntN(len(g.tenants))]
		b.Note = "customer's own space, brought to us"
	}
	return b
}

// poolRecord adds a pool of region i to that region's batch and makes a
// cursor for it.
func (g *cloudGen) poolRecord(i int, p netip.Prefix, purpose string, created time.Time) {
	useAll := false
	g.batches[i].dump.Pools = append(g.batches[i].dump.Pools, registry.PoolRecord{Prefix: p, Region: cloudRegions[i].name, Purpose: purpose,
		UseAll: &useAll, CreatedAt: created})
	g.res.Pools++
	if p.Addr().Is6() {
		// /128s from the start of the /32, /64s from its upper half;
		// the anycast address of the first /64 is kept back.
		b := p.Addr().As16()
		b[4] = 0x80
		g.v6[i] = &v6cursor{pool: p, host: p.Addr().Next(), net: netip.AddrFrom16(b), batch: i}
		return
	}
	// The policy keeps the network and broadcast addresses back.
	g.v4[i] = append(g.v4[i], &cursor{pool: p, region: cloudRegions[i].name, next: p.Addr().Next(), last: prefix.Last(p).Prev(), batch: i})
}

// relocations lends a /24 to every third region (the Azure story: a
// region out of its own IPv4 borrows from another), from a pool of a
// region of another registry's area where it can.
func (g *cloudGen) relocations(borrow [][]string) {
	for i := range cloudRegions {
		if i%3 != 0 {
			continue
		}
		var lender *cursor
		li := -1
		for try := 0; try < 100 && lender == nil; try++ {
			j := g.weighted(nil)
			if j == i || (try < 50 && cloudRegions[j].rir == cloudRegions[i].rir) {
				continue
			}
			for _, c := range g.v4[j] {
				// A pool lends one unit here; its cursor's end moves below it.
				if c.pool.Bits() <= 22 && c.last == prefix.Last(c.pool).Prev() {
					lender, li = c, j
					break
				}
			}
		}
		if lender == nil {
			continue
		}
		// The second /24 from the top: the top one holds the pool's
		// broadcast address, which is never lent.
		top := prefix.Last(lender.pool).As4()
		v := uint32(top[0])<<24 | uint32(top[1])<<16 | uint32(top[2])<<8
		unit := netip.PrefixFrom(addr4(v-256), 24)
		lender.last = unit.Addr().Prev()
		at := g.between(g.start.Add(20*24*time.Hour), g.start.Add(80*24*time.Hour))
		from, to := cloudRegions[li].name, cloudRegions[i].name
		g.batches[li].dump.Relocations = append(g.batches[li].dump.Relocations, registry.RelocationRecord{Prefix: unit, FromPool: lender.pool,
			FromRegion: from, ToRegion: to, CreatedAt: at,
			Reason: fmt.Sprintf("%s ran out of IPv4 for a /32; borrowed from %s under policy %q", to, from, from)})
		borrow[i] = []string{from}
		g.lent[i] = &lentUnit{cursor: cursor{pool: unit, region: to, next: unit.Addr(), last: prefix.Last(unit), batch: li}, at: at}
		g.res.Relocations++
	}
}

// assign makes n assignments over 90 days: 40 % IPv4 /32, 45 % IPv6 /128,
// 15 % IPv6 /64; 30 % named; about one in twelve released later, the last
// week's releases still in quarantine.
func (g *cloudGen) assign(n int) {
	span := g.now.Sub(g.start)
	for k := 0; k < n; k++ {
		seq := k + 1
		at := g.start.Add(time.Duration(int64(span) / int64(max(n, 1)) * int64(k))).Add(time.Duration(g.rng.IntN(1000)) * time.Microsecond)
		i := g.weighted(nil)
		var p netip.Prefix
		var c *cursor
		var batch int
		switch kind := g.rng.IntN(100); {
		case kind < 40:
			if u := g.lent[i]; u != nil && at.After(u.at) && u.next.IsValid() && !u.last.Less(u.next) && g.rng.IntN(10) == 0 {
				c = &u.cursor
			} else {
				for _, x := range g.v4[i] {
					if !x.last.Less(x.next) {
						c = x
						break
					}
				}
			}
			if c == nil {
				// The region's own IPv4 is gone: IPv6 instead.
				p, batch = g.v6host(i)
				break
			}
			p, batch = netip.PrefixFrom(c.next, 32), c.batch
			c.next = c.next.Next()
		case kind < 85:
			p, batch = g.v6host(i)
		default:
			v := g.v6[i]
			p, batch = netip.PrefixFrom(v.net, 64), v.batch
			b := v.net.As16()
			// The next /64: add one to the first 64 bits.
			for j := 7; j >= 0; j-- {
				b[j]++
				if b[j] != 0 {
					break
				}
			}
			v.net = netip.AddrFrom16(b)
		}
		region := cloudRegions[i].name
		pool := g.poolOf(i, p, c)
		a := registry.AssignmentRecord{Prefix: p, Pool: pool, Region: region, State: registry.StateAssigned, Tenant: g.tenant(),
			Resource: fmt.Sprintf("vm-%07d", seq), CreatedAt: at}
		if g.rng.IntN(10) < 3 {
			a.Name = fmt.Sprintf("vm-%07d.%s.%s", seq, region, CloudDomain)
			g.res.Named++
		}
		if g.rng.IntN(12) == 0 {
			rel := at.Add(time.Hour + time.Duration(g.rng.Int64N(int64(30*24*time.Hour))))
			if rel.Before(g.now) {
				until := rel.Add(cloudQuarantine)
				a.ReleasedAt, a.QuarantineUntil = &rel, &until
				a.State = registry.StateReleased
				if until.After(g.now) {
					a.State = registry.StateQuarantined
					g.res.Quarantined++
				} else {
					g.res.Released++
				}
			}
		}
		g.batches[batch].dump.Assignments = append(g.batches[batch].dump.Assignments, a)
		g.res.Assignments++
	}
}

func (g *cloudGen) v6host(i int) (netip.Prefix, int) {
	v := g.v6[i]
	p := netip.PrefixFrom(v.host, 128)
	v.host = v.host.Next()
	b := v.host.As16()
	if b[8]|b[9]|b[10]|b[11]|b[12]|b[13]|b[14]|b[15] == 0 {
		// RFC 4291 §2.6.1: a /64's subnet-router anycast address is kept back.
		v.host = v.host.Next()
	}
	return p, v.batch
}

// poolOf is the pool an assignment of region i came from: its lent unit,
// its IPv4 cursor's pool or its IPv6 /32.
func (g *cloudGen) poolOf(i int, p netip.Prefix, c *cursor) netip.Prefix {
	if p.Addr().Is6() {
		return g.v6[i].pool
	}
	return c.pool
}
