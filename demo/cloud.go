package demo

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Cloud-sized registers (issue 16): a register shaped like a large
// cloud's, to measure every path at a million assignments and more. It is
// written through registry.LoadFrom, the bulk path `cadastre import`
// takes, in one load: the regions, blocks and pools first, then every
// region's assignments, made a region at a time as the load asks for
// them (cloudSource). One load into an empty register is what lets a
// store build its indexes once at the end (registry.IndexDeferrer): a
// load per region, as before, found the register empty for the first
// region only, and PostgreSQL then inserted every later row into a dozen
// indexes one by one (946 bytes per assignment at 1M, and hours).
// Everything follows from the seed and the end of the history, so two
// builds with both the same give the same export, byte for byte, on
// either store.

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
	g.split(opt.Assignments - kids)

	total := 2 + len(g.batches) + len(cloudRegions)*opt.ChildPools
	step := 0
	progress := func(what string) {
		step++
		if opt.Progress != nil {
			opt.Progress(step, total, what)
		}
	}
	// Every region's pools and relocations go with the head, in the
	// batches' order (relocations are dumped in the order they were
	// made); the assignments follow, a region at a time, in the order
	// of a load per region, so that they get the same IDs.
	head := g.head
	for i := range g.batches {
		b := &g.batches[i].dump
		head.Pools = append(head.Pools, b.Pools...)
		head.Relocations = append(head.Relocations, b.Relocations...)
		b.Pools, b.Relocations = nil, nil
	}
	src := &cloudSource{g: g, progress: progress, loaded: -1, buf: make([]registry.AssignmentRecord, 0, cloudChunk)}
	if _, err := reg.LoadFrom(ctx, head, src, registry.LoadOptions{Source: "demo"}); err != nil {
		if src.loaded >= 0 {
			return res, fmt.Errorf("cloud register: region %s: %w", g.batches[src.loaded].region, err)
		}
		return res, fmt.Errorf("cloud register: %w", err)
	}
	progress("indexes and free space")
	res = g.res
	left := kids
	for i, r := range cloudRegions {
		for k := 0; k < opt.ChildPools; k++ {
			name := fmt.Sprintf("%s-site-%d", r.name, k+1)
			tenant := g.tenant(g.rng)
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

// cloudChunk is how many assignments cloudSource hands over at once: the
// chunks of an import read from a file (registry.DumpPage), each checked
// and written together, with one import event.
const cloudChunk = registry.DumpPage

// cloudSource gives the load the regions' assignments
// (registry.AssignmentSource): each chunk is made when the load asks for
// it, after the previous chunk was written, so that a build holds one
// chunk in memory, not a region (at 10M, us-east alone is 750,000
// records, ~250 MB), and the chunks are those of a load per region: a
// region's records (the lent unit's made in split, then its own) in
// cloudChunk pieces.
type cloudSource struct {
	g        *cloudGen
	progress func(string)
	// next is the next region to start; loaded the region being handed
	// out (-1: none), pre its records made beforehand (split) not yet
	// handed out, own what makes its own.
	next, loaded int
	pre          []registry.AssignmentRecord
	own          *regionGen
	// buf is the chunk handed out, used again for the next one (the load
	// is done with a chunk before it asks for the next).
	buf     []registry.AssignmentRecord
	started bool
}

// Next implements registry.AssignmentSource.
func (s *cloudSource) Next() ([]registry.AssignmentRecord, error) {
	if !s.started {
		// The load asks for assignments once the head is written.
		s.started = true
		s.progress("regions, blocks and pools")
	}
	for {
		if s.loaded < 0 {
			if s.next == len(s.g.batches) {
				return nil, io.EOF
			}
			s.loaded = s.next
			s.pre, s.own = s.g.batches[s.next].dump.Assignments, s.g.regionGen(s.next)
			s.next++
		}
		s.buf = s.buf[:0]
		n := min(len(s.pre), cloudChunk)
		s.buf = append(s.buf, s.pre[:n]...)
		s.pre = s.pre[n:]
		s.buf = s.own.make(s.buf, cloudChunk-len(s.buf))
		if len(s.buf) > 0 {
			return s.buf, nil
		}
		// Every chunk of the region was written: let it go.
		b := &s.g.batches[s.loaded]
		b.dump = registry.Dump{}
		s.progress(b.region)
		s.loaded = -1
	}
}

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
	count    []int       // per region, its own assignments (split)
	first    []int       // per region, the number of its first assignment
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
	pool netip.Prefix
	host netip.Addr // next /128
	net  netip.Addr // next /64
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
func (g *cloudGen) tenant(rng *rand.Rand) string {
	n := len(g.tenants)
	i := rng.IntN(n)
	if rng.IntN(3) == 0 {
		i = rng.IntN(min(n, 10))
	}
	return g.tenants[i]
}

// plan makes the tenants, regions, blocks, pools and relocations.
func (g *cloudGen) plan() {
	created := g.start.Add(-time.Hour)
	// A tenant per thousand assignments, from 20 to 5,000. The cloud
	// names its tenants' machines under its own domain (as Azure does under
	// REGION.cloudapp.azure.com): the names are the provider's, given by an
	// admin, so tenants hold no suffix (suffixes may not overlap, and every
	// tenant holding CloudDomain would).
	nt := min(max(g.opt.Assignments/1000, 20), 5000)
	for i := 1; i <= nt; i++ {
		name := fmt.Sprintf("tenant%05d", i)
		g.tenants = append(g.tenants, name)
		g.head.Tenants = append(g.head.Tenants, registry.TenantRecord{Name: name, CreatedAt: created})
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
		g.v6[i] = &v6cursor{pool: p, host: p.Addr().Next(), net: netip.AddrFrom16(b)}
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

// split deals n assignments to the regions by weight, in the order of
// cloudRegions, and gives each borrower a share of its lent unit (about
// one of its IPv4 addresses in ten, made after the relocation), whose
// records go in the lender's batch, where the unit's pool is made.
func (g *cloudGen) split(n int) {
	g.count = make([]int, len(cloudRegions))
	g.first = make([]int, len(cloudRegions))
	total := g.weights[len(g.weights)-1]
	left := n
	for i, r := range cloudRegions {
		g.count[i] = n * r.weight / total
		left -= g.count[i]
	}
	for i := 0; left > 0; i = (i + 1) % len(cloudRegions) {
		g.count[i]++
		left--
	}
	seq := 0
	for i := range cloudRegions {
		g.first[i] = seq + 1
		seq += g.count[i]
	}
	rng := rand.New(rand.NewPCG(g.opt.Seed, 0x1605_0000))
	for i, u := range g.lent {
		if u == nil {
			continue
		}
		k := min(g.count[i]*4/100, 250)
		g.count[i] -= k
		for j := 0; j < k; j++ {
			// Made after the relocation, in order.
			at := u.at.Add(time.Duration(int64(g.now.Sub(u.at)) / int64(k+1) * int64(j+1)))
			p := netip.PrefixFrom(u.next, 32)
			u.next = u.next.Next()
			g.batches[u.batch].dump.Assignments = append(g.batches[u.batch].dump.Assignments, g.record(rng, i, p, u.pool, seq+j+1, at))
		}
		seq += k
	}
}

// regionGen makes region i's own assignments over the 90 days, a few at
// a time (make), from a random source of its own, so that each is made
// just before it is loaded and a build holds a chunk in memory: 40 %
// IPv4 /32 (IPv6 once the region's IPv4 is gone), 45 % IPv6 /128, 15 %
// IPv6 /64; 30 % named; about one in twelve released later, the last
// week's releases still in quarantine. The records do not depend on how
// many are made at once.
type regionGen struct {
	g    *cloudGen
	i    int
	rng  *rand.Rand
	k, n int
}

func (g *cloudGen) regionGen(i int) *regionGen {
	return &regionGen{g: g, i: i, rng: rand.New(rand.NewPCG(g.opt.Seed, 0x1605_0001+uint64(i))), n: g.count[i]}
}

// make appends up to max of the region's next assignments to out.
func (r *regionGen) make(out []registry.AssignmentRecord, max int) []registry.AssignmentRecord {
	g, i, rng, n := r.g, r.i, r.rng, r.n
	span := g.now.Sub(g.start)
	for end := min(n, r.k+max); r.k < end; r.k++ {
		k := r.k
		at := g.start.Add(time.Duration(int64(span) / int64(n) * int64(k))).Add(time.Duration(rng.IntN(1000)) * time.Microsecond)
		var p, pool netip.Prefix
		switch kind := rng.IntN(100); {
		case kind < 40:
			var c *cursor
			for _, x := range g.v4[i] {
				if !x.last.Less(x.next) {
					c = x
					break
				}
			}
			if c == nil {
				// The region's own IPv4 is gone: IPv6 instead.
				p, pool = g.v6host(i), g.v6[i].pool
				break
			}
			p, pool = netip.PrefixFrom(c.next, 32), c.pool
			c.next = c.next.Next()
		case kind < 85:
			p, pool = g.v6host(i), g.v6[i].pool
		default:
			v := g.v6[i]
			p, pool = netip.PrefixFrom(v.net, 64), v.pool
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
		out = append(out, g.record(rng, i, p, pool, g.first[i]+k, at))
	}
	return out
}

// record is assignment number seq of region i, made at at: its tenant,
// name (three in ten) and, one in twelve, its release.
func (g *cloudGen) record(rng *rand.Rand, i int, p, pool netip.Prefix, seq int, at time.Time) registry.AssignmentRecord {
	region := cloudRegions[i].name
	a := registry.AssignmentRecord{Prefix: p, Pool: pool, Region: region, State: registry.StateAssigned, Tenant: g.tenant(rng),
		Resource: fmt.Sprintf("vm-%07d", seq), CreatedAt: at}
	if rng.IntN(10) < 3 {
		a.Name = fmt.Sprintf("vm-%07d.%s.%s", seq, region, CloudDomain)
		g.res.Named++
	}
	if rng.IntN(12) == 0 {
		rel := at.Add(time.Hour + time.Duration(rng.Int64N(int64(30*24*time.Hour))))
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
	g.res.Assignments++
	return a
}

func (g *cloudGen) v6host(i int) netip.Prefix {
	v := g.v6[i]
	p := netip.PrefixFrom(v.host, 128)
	v.host = v.host.Next()
	b := v.host.As16()
	if b[8]|b[9]|b[10]|b[11]|b[12]|b[13]|b[14]|b[15] == 0 {
		// RFC 4291 §2.6.1: a /64's subnet-router anycast address is kept back.
		v.host = v.host.Next()
	}
	return p
}
