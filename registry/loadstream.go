package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cadastre-ipam/cadastre/prefix"
)

// loadChunk is how many assignments of a Dump held in memory a load
// checks and writes at once (a file read a chunk at a time comes in its
// reader's chunks).
const loadChunk = 10000

// LiveLister is a Tx that lists the live (assigned or quarantined)
// assignments of one pool in address order, a page at a time, in one lean
// statement: an import recomputes each new pool's free space from what it
// wrote instead of holding every assignment of the file.
type LiveLister interface {
	// LivePrefixes returns the prefixes of at most limit live assignments
	// of the pool poolID that start in within at or after from, in
	// address order.
	LivePrefixes(ctx context.Context, poolID int64, within netip.Prefix, from netip.Addr, limit int) ([]netip.Prefix, error)
}

// names is what a load keeps of the live names it wrote, to refuse one
// name for two tenants of the file: a hash of each name and its tenant,
// a few bytes a name; a hash met again with another tenant is checked
// exactly against the register (earlier chunks are written) and the
// chunk.
type names struct {
	seed    maphash.Seed
	tenant  map[uint64]int32
	tenants map[string]int32
	// chunk holds the exact names of the chunk not yet written.
	chunk map[string]string
}

// assignments writes the assignments of d, then those of more, a chunk at
// a time, and returns how many it wrote. Each chunk is checked as
// checkDump and the old whole-file load checked it: records on their own
// (up to maxLoadErrors errors, from the chunk on: nothing more is written
// once one is found), then against the pools, tenants and names of the
// file and the register; what overlaps what is found against the pool's
// reservations, lent units and child pools held in memory, within the
// chunk, and by the store's own rule across chunks.
func (l *loader) assignments(ctx context.Context, d *Dump, more AssignmentSource, pools map[poolKey]*Pool, children map[string]*Pool, used map[int64][]usedPrefix) (int, error) {
	// What is not free in each pool before its assignments: sorted, and
	// checked not to overlap, so that each assignment is checked against
	// it by a binary search.
	for id, us := range used {
		slices.SortFunc(us, func(a, b usedPrefix) int { return prefix.Compare(a.p, b.p) })
		for i := 1; i < len(us); i++ {
			if us[i-1].p.Overlaps(us[i].p) {
				return 0, &LoadError{us[i].at, fmt.Errorf("%s %s: overlaps %s %s (%s): %w", us[i].what, us[i].p, us[i-1].what, us[i-1].p, cmp.Or(us[i-1].at, "the file"), ErrOverlap)}
			}
		}
		used[id] = us
	}
	// Names are checked against the register's assignments only when
	// it holds some already, and against its zones and static records (a
	// zone's apex, a name server, glue, a record's name) whenever it has
	// them; within the file, a live name has one tenant.
	prior, err := l.tx.Assignments(ctx, AssignmentFilter{Limit: 1})
	if err != nil {
		return 0, err
	}
	// Without assignments, the names zones and static records hold are
	// read once and each name compared in memory: a per-name look-up
	// would cost a scan of the assignments whose indexes are deferred.
	// So are the delegations: a name below one is held by no record and
	// is in no such list.
	var dnsNames map[string]bool
	var cuts *Cuts
	if len(prior) == 0 {
		ns, err := l.tx.DNSNames(ctx)
		if err != nil {
			return 0, fmt.Errorf("assignments: %w", err)
		}
		if len(ns) > 0 {
			dnsNames = make(map[string]bool, len(ns))
			for _, n := range ns {
				dnsNames[fqdn(n)] = true
			}
			zones, zc, err := l.tx.ZoneCuts(ctx)
			if err != nil {
				return 0, fmt.Errorf("assignments: %w", err)
			}
			cuts = NewCuts(zones, zc)
		}
	}
	// Into an empty register, the store may build its indexes once at
	// the end (IndexDeferrer); the overlaps its triggers would refuse are
	// then found at the end too, and named with their lines.
	deferred := false
	if id, ok := l.tx.(IndexDeferrer); ok && len(prior) == 0 {
		if deferred, err = id.DeferIndexes(ctx); err != nil {
			return 0, fmt.Errorf("assignments: %w", err)
		}
	}
	c := chunker{l: l, pools: pools, children: children, used: used, prior: len(prior) > 0, dnsNames: dnsNames, cuts: cuts, lines: deferred,
		names:   names{seed: maphash.MakeSeed(), tenant: map[uint64]int32{}, tenants: map[string]int32{}, chunk: map[string]string{}},
		tenants: map[string]bool{}, uses: map[string]*use{}}
	total := 0
	for lo := 0; lo < len(d.Assignments); lo += loadChunk {
		n, err := c.chunk(ctx, d.Assignments[lo:min(lo+loadChunk, len(d.Assignments))], false)
		if err != nil {
			return 0, err
		}
		total += n
	}
	for more != nil {
		recs, err := more.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		n, err := c.chunk(ctx, recs, true)
		if err != nil && !errors.Is(err, errMore) {
			return 0, err
		}
		total += n
	}
	if len(c.errs) > 0 {
		return 0, errors.Join(c.errs...)
	}
	if deferred {
		if err := l.tx.(IndexDeferrer).RestoreIndexes(ctx); err != nil {
			var o *AssignmentOverlap
			if errors.As(err, &o) {
				return 0, &LoadError{c.at(o.ID), fmt.Errorf("assignment %s: overlaps assignment %s (%s): %w", o.Prefix, o.Other, cmp.Or(c.at(o.OtherID), "the file"), ErrOverlap)}
			}
			return 0, fmt.Errorf("assignments: %w", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.uses)) {
		u := c.uses[name]
		if _, err := l.tx.AddTenantUse(ctx, name, u.v4, u.v6); err != nil {
			return 0, fmt.Errorf("tenant %s: count use: %w", name, err)
		}
	}
	return total, nil
}

// errMore marks a chunk with bad records: the load goes on reading, to
// report more of them, and writes nothing more.
var errMore = errors.New("bad records")

// chunker checks and writes the chunks of one load.
type chunker struct {
	l        *loader
	pools    map[poolKey]*Pool
	children map[string]*Pool
	used     map[int64][]usedPrefix
	// prior says the register held assignments before the load: each
	// live name is then looked up (NameHolder); otherwise the file's
	// names are compared in memory, with each other and with dnsNames,
	// the names zones and static records hold (TenantTx.DNSNames).
	prior    bool
	dnsNames map[string]bool
	// cuts are the register's delegations, when not prior: a name at or
	// below one is refused as NameHolder refuses it.
	cuts    *Cuts
	names   names
	tenants map[string]bool
	uses    map[string]*use
	// errs are the errors of records on their own; once there is one,
	// chunks are only checked.
	errs []error
	// live is the chunk's live assignments, for the check of overlaps
	// within the chunk; as are the assignments written.
	live []liveRec
	as   []Assignment
	// lines, when the store checks overlaps only at the end, keeps the
	// line of each assignment written (4 bytes each), by ID from firstID,
	// to name them then.
	lines   bool
	firstID int64
	lineOf  []uint32
}

// at says where the assignment of ID id was read, as far as lines knows.
func (c *chunker) at(id int64) string {
	if i := id - c.firstID; c.firstID > 0 && i >= 0 && i < int64(len(c.lineOf)) && c.lineOf[i] > 0 {
		return "line " + strconv.FormatUint(uint64(c.lineOf[i]), 10)
	}
	return ""
}

// keepLines records the lines of the chunk just written.
func (c *chunker) keepLines(recs []AssignmentRecord) {
	if !c.lines || len(c.as) == 0 {
		return
	}
	if c.firstID == 0 {
		c.firstID = c.as[0].ID
	}
	for i, a := range c.as {
		for int64(len(c.lineOf)) < a.ID-c.firstID {
			c.lineOf = append(c.lineOf, 0)
		}
		var n uint64
		if s, ok := strings.CutPrefix(recs[i].At, "line "); ok {
			end := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
			if end < 0 {
				end = len(s)
			}
			n, _ = strconv.ParseUint(s[:end], 10, 32)
		}
		c.lineOf = append(c.lineOf, uint32(n))
	}
}

type liveRec struct {
	pool int64
	p    netip.Prefix
	at   string
}

func (c *chunker) chunk(ctx context.Context, recs []AssignmentRecord, check bool) (int, error) {
	if check {
		for _, a := range recs {
			err := checkAssignmentRecord(a)
			if err == nil {
				err = tagsOK("assignment "+a.Prefix.String(), a.Tags)
			}
			if err != nil {
				c.errs = append(c.errs, &LoadError{At: a.At, Err: err})
				if len(c.errs) >= maxLoadErrors {
					return 0, errors.Join(c.errs...)
				}
			}
		}
	}
	if len(c.errs) > 0 {
		return 0, errMore
	}
	l, tx := c.l, c.l.tx
	c.live, c.as = c.live[:0], c.as[:0]
	clear(c.names.chunk)
	for _, a := range recs {
		p, err := poolOf(c.pools, a.Space, a.Region, a.Pool)
		if err != nil {
			return 0, &LoadError{a.At, fmt.Errorf("assignment %s: %w", a.Prefix, err)}
		}
		ok := p != nil
		if a.ChildPool != "" {
			p, ok = c.children[a.ChildPool]
			if !ok {
				return 0, &LoadError{a.At, fmt.Errorf("assignment %s: child pool %s is not in the file (assignments come with their pools): %w", a.Prefix, a.ChildPool, ErrNotFound)}
			}
			if p.Prefix != a.Pool || p.Region != a.Region {
				return 0, &LoadError{a.At, invalid("assignment %s: child pool %s is %s in region %s, not %s in region %s", a.Prefix, a.ChildPool, p.Prefix, p.Region, a.Pool, a.Region)}
			}
		}
		if !ok {
			return 0, &LoadError{a.At, fmt.Errorf("assignment %s: pool %s of region %s is not in the file (assignments come with their pools): %w", a.Prefix, a.Pool, a.Region, ErrNotFound)}
		}
		if a.Tenant != "" && !c.tenants[a.Tenant] {
			if _, err := tx.TenantByName(ctx, a.Tenant); err != nil {
				return 0, &LoadError{a.At, fmt.Errorf("assignment %s: tenant %s: not in the file nor in the register: %w", a.Prefix, a.Tenant, err)}
			}
			c.tenants[a.Tenant] = true
		}
		live := a.State == StateAssigned || a.State == StateQuarantined
		if held := policyHeld(*p, a.Prefix); live && len(held) > 0 {
			return 0, &LoadError{a.At, fmt.Errorf("assignment %s: %s: %w", a.Prefix, policyName(*p, held[0])+", not handed out by the pool's address policy (use_all false)", ErrInvalid)}
		}
		if live {
			if u, ok := overlapping(c.used[p.ID], a.Prefix); ok {
				return 0, &LoadError{a.At, fmt.Errorf("assignment %s: overlaps %s %s (%s): %w", a.Prefix, u.what, u.p, cmp.Or(u.at, "the file"), ErrOverlap)}
			}
			c.live = append(c.live, liveRec{p.ID, a.Prefix, a.At})
			if a.Tenant != "" {
				u := c.uses[a.Tenant]
				if u == nil {
					u = &use{}
					c.uses[a.Tenant] = u
				}
				u.add(prefix.Family(a.Prefix), a.Prefix.Bits(), 1)
			}
			if a.Name != "" {
				if err := c.name(ctx, a); err != nil {
					return 0, err
				}
			}
		}
		c.as = append(c.as, Assignment{Prefix: a.Prefix, PoolID: p.ID, Pool: p.Prefix, RegionID: p.RegionID, Region: p.Region, Space: p.Space, Tenant: a.Tenant,
			Resource: a.Resource, Name: a.Name, State: a.State, Borrowed: p.Relocation != nil, Relocation: p.Relocation, Tags: nonEmpty(a.Tags),
			CreatedAt: or(a.CreatedAt, l.now), ReleasedAt: utcMicros(a.ReleasedAt), QuarantineUntil: utcMicros(a.QuarantineUntil)})
	}
	// Overlaps within the chunk are found here, so the error names both
	// records; across chunks, the store's own rule refuses them.
	slices.SortFunc(c.live, func(a, b liveRec) int {
		return cmp.Or(cmp.Compare(a.pool, b.pool), prefix.Compare(a.p, b.p))
	})
	for i := 1; i < len(c.live); i++ {
		if x, y := c.live[i-1], c.live[i]; x.pool == y.pool && x.p.Overlaps(y.p) {
			return 0, &LoadError{y.at, fmt.Errorf("assignment %s: overlaps assignment %s (%s): %w", y.p, x.p, cmp.Or(x.at, "the file"), ErrOverlap)}
		}
	}
	if err := c.write(ctx, recs); err != nil {
		return 0, err
	}
	return len(recs), nil
}

// overlapping finds the element of us (sorted, none overlapping another)
// that overlaps p.
func overlapping(us []usedPrefix, p netip.Prefix) (usedPrefix, bool) {
	if len(us) == 0 {
		return usedPrefix{}, false
	}
	i := sort.Search(len(us), func(i int) bool { return p.Addr().Less(us[i].p.Addr()) })
	if i > 0 && us[i-1].p.Overlaps(p) {
		return us[i-1], true
	}
	if i < len(us) && us[i].p.Overlaps(p) {
		return us[i], true
	}
	return usedPrefix{}, false
}

// name checks that the live name of a is not another tenant's, in the
// file or the register (each name when it held assignments before: prior;
// otherwise only a name a zone or a static record holds, dnsNames, or a
// delegation, cuts).
func (c *chunker) name(ctx context.Context, a AssignmentRecord) error {
	n := fqdn(a.Name)
	if t, ok := c.names.chunk[n]; ok && t != a.Tenant {
		return &LoadError{a.At, fmt.Errorf("assignment %s: name %s: held by another tenant's assignment in the file: %w", a.Prefix, a.Name, ErrNameTaken)}
	}
	c.names.chunk[n] = a.Tenant
	ti, ok := c.names.tenants[a.Tenant]
	if !ok {
		ti = int32(len(c.names.tenants))
		c.names.tenants[a.Tenant] = ti
	}
	h := maphash.String(c.names.seed, n)
	if t, ok := c.names.tenant[h]; ok && t != ti && !c.prior {
		// The same hash with another tenant: an earlier chunk, written,
		// holds the name (or another name of the same hash).
		kind, held, err := c.l.tx.NameHolder(ctx, n, a.Tenant)
		if err != nil {
			return err
		}
		if held {
			return &LoadError{a.At, fmt.Errorf("assignment %s: name %s: held by another tenant's %s in the file: %w", a.Prefix, a.Name, kind, ErrNameTaken)}
		}
	}
	c.names.tenant[h] = ti
	if c.prior || c.dnsNames[n] {
		kind, held, err := c.l.tx.NameHolder(ctx, n, a.Tenant)
		if err != nil {
			return err
		}
		// A name of a synthesis template's shape is refused only below
		// admin (nameRule); a load is an admin's.
		if held && kind != HolderSynthesis {
			return nameHeld(a, kind)
		}
	} else if kind, held := c.cuts.Holder(n); held {
		return nameHeld(a, kind)
	}
	return nil
}

// nameHeld is the error of a load's assignment a whose name the register
// holds by kind: a NameTakenError naming the kind, as an allocation's
// 409 does, and the line.
func nameHeld(a AssignmentRecord, kind HolderKind) error {
	return &LoadError{a.At, fmt.Errorf("assignment %s: %w (in the register)", a.Prefix, &NameTakenError{Name: a.Name, Holder: kind})}
}

// write stores the chunk's assignments, their tags and their events.
func (c *chunker) write(ctx context.Context, recs []AssignmentRecord) error {
	l, tx, as := c.l, c.l.tx, c.as
	var err error
	if bl, ok := tx.(BulkLoader); ok {
		err = bl.LoadAssignments(ctx, as)
	} else if bw, ok := tx.(BatchWriter); ok {
		err = bw.InsertAssignments(ctx, as)
	} else {
		for i := range as {
			if err := tx.InsertAssignment(ctx, &as[i]); err != nil {
				return &LoadError{recs[i].At, fmt.Errorf("assignment %s: %w", as[i].Prefix, err)}
			}
		}
	}
	if err != nil {
		var o *AssignmentOverlap
		if errors.As(err, &o) {
			if err := c.named(recs, o); err != nil {
				return err
			}
		}
		if errors.Is(err, ErrOverlap) && len(recs) > 0 {
			return c.overlap(ctx, recs, err)
		}
		return fmt.Errorf("assignments: %w", err)
	}
	c.keepLines(recs)
	for i, a := range as {
		if err := l.tags(ctx, KindAssignment, a.ID, a.Tags); err != nil {
			return &LoadError{recs[i].At, fmt.Errorf("assignment %s: %w", a.Prefix, err)}
		}
	}
	if len(as) == 0 {
		return nil
	}
	b := ImportBatch{Count: len(as), FirstID: as[0].ID, LastID: as[0].ID, First: as[0].Prefix, Last: as[len(as)-1].Prefix, Source: l.source}
	for _, a := range as {
		b.FirstID, b.LastID = min(b.FirstID, a.ID), max(b.LastID, a.ID)
		switch a.State {
		case StateAssigned:
			b.Assigned++
		case StateQuarantined:
			b.Quarantined++
		default:
			b.Released++
		}
		if a.Name != "" {
			b.Named++
		}
	}
	subject := fmt.Sprintf("%d assignments, IDs %d-%d", b.Count, b.FirstID, b.LastID)
	return l.event(ctx, ActionImportBatch, SubjectImport, b.FirstID, subject, b)
}

// ActionImportBatch is the action of the one event a load writes for
// each batch of assignments it writes together (ImportBatch), instead of
// an event per assignment: the log of a register loaded with millions
// of assignments holds hundreds of events, not millions. A reader that
// follows the log cannot apply it from the event: it reads the register
// (DNS rebuilds its zones; caches keyed by the log's position are
// invalidated by any event).
const ActionImportBatch = "assignments.import"

// SubjectImport is the subject kind of an ImportBatch event: not
// "assignment", so that readers that apply assignment events one by one
// (DNS's incremental builds) take it as a change of something else and
// read the register whole.
const SubjectImport = "import"

// ImportBatch is the payload (Event.After) of an ActionImportBatch
// event: which assignments one batch of a load wrote. The IDs are those
// of the batch's first and last assignment (on PostgreSQL, allocations
// committed meanwhile may hold IDs between them); First and Last are the
// prefixes of the batch's first and last record in the file's order.
type ImportBatch struct {
	Count       int          `json:"count"`
	FirstID     int64        `json:"first_id"`
	LastID      int64        `json:"last_id"`
	First       netip.Prefix `json:"first"`
	Last        netip.Prefix `json:"last"`
	Assigned    int          `json:"assigned"`
	Quarantined int          `json:"quarantined"`
	Released    int          `json:"released"`
	Named       int          `json:"named"`
	Source      string       `json:"source,omitempty"`
}

// free adds to a new pool's free list what is not used: the maximal
// aligned prefixes of the gaps between its reservations, lent units and
// child pools (fixed: sorted, not overlapping) and its live assignments
// (read back from the store, in address order), as the buddy allocator
// keeps them, less what the pool's address policy keeps back (as AddPool
// does).
func (l *loader) free(ctx context.Context, p *Pool, fixed []usedPrefix) error {
	add := func(first, last netip.Addr) error {
		if err := addFreeRange(ctx, l.tx, *p, scope(*p), first, last); err != nil {
			return fmt.Errorf("pool %s: free %s-%s: %w", p.Prefix, first, last, err)
		}
		return nil
	}
	next, end := p.Prefix.Addr(), prefix.Last(p.Prefix)
	done := false
	take := func(u netip.Prefix) error {
		if done {
			return nil
		}
		if next.Less(u.Addr()) {
			if err := add(next, u.Addr().Prev()); err != nil {
				return err
			}
		}
		last := prefix.Last(u)
		if last == end {
			done = true
			return nil
		}
		next = last.Next()
		return nil
	}
	for _, u := range fixed {
		if !prefix.Covers(p.Prefix, u.p) {
			return &LoadError{u.at, fmt.Errorf("%s %s: outside its pool %s: %w", u.what, u.p, p.Prefix, ErrInvalid)}
		}
	}
	i := 0
	err := l.live(ctx, p, func(a netip.Prefix) error {
		for ; i < len(fixed) && fixed[i].p.Addr().Less(a.Addr()); i++ {
			if err := take(fixed[i].p); err != nil {
				return err
			}
		}
		return take(a)
	})
	if err != nil {
		return err
	}
	for ; i < len(fixed); i++ {
		if err := take(fixed[i].p); err != nil {
			return err
		}
	}
	if done {
		return nil
	}
	// The space above the last thing used, as a range where the store
	// keeps one: allocations at the pool's top then write no free row.
	if ft, ok := l.tx.(FreeTailer); ok && !heldIn(*p, next, end) {
		if err := ft.AddFreeTail(ctx, *p, scope(*p), next); err != nil {
			return fmt.Errorf("pool %s: free %s-%s: %w", p.Prefix, next, end, err)
		}
		return nil
	}
	return add(next, end)
}

// heldIn reports whether pool's address policy keeps back an address of
// a prefix of Range(lo, hi), which addFreeRange then splits around.
func heldIn(pool Pool, lo, hi netip.Addr) bool {
	for _, p := range prefix.Range(lo, hi) {
		if len(policyHeld(pool, p)) > 0 {
			return true
		}
	}
	return false
}

// live calls fn with the live assignments of the new pool p in address
// order, in one lean statement where the store can (LiveLister).
func (l *loader) live(ctx context.Context, p *Pool, fn func(netip.Prefix) error) error {
	if ll, ok := l.tx.(LiveLister); ok {
		// A page at a time, each used before the next is read: the store
		// answers one statement at a time, and fn writes.
		from := p.Prefix.Addr()
		for {
			ps, err := ll.LivePrefixes(ctx, p.ID, p.Prefix, from, DumpPage)
			if err != nil {
				return err
			}
			for _, a := range ps {
				if err := fn(a); err != nil {
					return err
				}
			}
			if len(ps) < DumpPage {
				return nil
			}
			from = prefix.Last(ps[len(ps)-1]).Next()
			if !from.IsValid() || !p.Prefix.Contains(from) {
				return nil
			}
		}
	}
	// A pool's live assignments come in address order, a page at a time.
	f := AssignmentFilter{PoolID: p.ID, States: []State{StateAssigned, StateQuarantined}, Limit: DumpPage}
	for {
		as, err := l.tx.Assignments(ctx, f)
		if err != nil {
			return err
		}
		for _, a := range as {
			if err := fn(a.Prefix); err != nil {
				return err
			}
		}
		if len(as) < DumpPage {
			return nil
		}
		f.AfterPrefix, f.AfterID = as[len(as)-1].Prefix, as[len(as)-1].ID
	}
}

// overlap names the record of the chunk that the store refused as
// overlapping: overlaps within the chunk were found before, so it is one
// with an assignment of an earlier chunk (or the register). A store
// whose transaction cannot be read after the refusal (PostgreSQL) gets
// the chunk's lines.
// named is the error of an overlap the store named as it wrote the chunk
// (PostgreSQL's LoadAssignments checks the rows it copied), with the
// lines of both assignments where the file has them; nil if the first
// is not the chunk's.
func (c *chunker) named(recs []AssignmentRecord, o *AssignmentOverlap) error {
	at, other := "", ""
	for i, a := range c.as {
		switch a.ID {
		case o.ID:
			at = recs[i].At
		case o.OtherID:
			other = recs[i].At
		}
	}
	if at == "" {
		return nil
	}
	return &LoadError{at, fmt.Errorf("assignment %s: overlaps assignment %s (%s): %w", o.Prefix, o.Other, cmp.Or(other, c.at(o.OtherID), "earlier in the file"), ErrOverlap)}
}

func (c *chunker) overlap(ctx context.Context, recs []AssignmentRecord, err error) error {
	for i, a := range recs {
		if a.State == StateReleased {
			continue
		}
		space := GlobalSpace
		if i < len(c.as) {
			space = c.as[i].Space
		}
		held, qerr := c.l.tx.AssignmentsAt(ctx, space, a.Prefix)
		if qerr != nil {
			break
		}
		for _, h := range held {
			if h.State != StateReleased {
				return &LoadError{a.At, fmt.Errorf("assignment %s: overlaps assignment %s (earlier in the file): %w", a.Prefix, h.Prefix, ErrOverlap)}
			}
		}
	}
	return &LoadError{recs[0].At + " to " + recs[len(recs)-1].At, fmt.Errorf("an assignment of these lines overlaps assignment earlier in the file: %w", err)}
}
