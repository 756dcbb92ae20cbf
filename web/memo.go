package web

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/registry"
)

// memo keeps the answers of the registry's counting calls (Report, Pools,
// PoolDetail). They read the stores' per-pool counters (issue 16), so
// the first view after a change costs what the register's pools cost, not
// its assignments (at a million assignments and 1,260 pools: about 0.1 s
// of CPU for every region's report, 10-15 ms for one region's, where
// counting the rows took 1 s and 55 ms); the memo spares the views after
// it even that. An answer is reused while the event log has not moved (no
// change since): after a change, the next view counts again, so an
// operator who just allocated sees the count move. An answer older than
// memoTTL (quarantines end with time, not with an event) is still given,
// once, while a refresh runs in the background: no view waits for a count
// that only time may have changed (at 10M assignments the region page's
// p99 was 19 ms and its max 138 ms, the view that found its answers
// expired every 10 s). Past memoStale, or if refreshes fail, the view
// counts itself.
type memo struct {
	mu sync.Mutex
	m  map[string]memoEntry
	// bg counts the refreshes running (tests wait for them).
	bg sync.WaitGroup
}

type memoEntry struct {
	pos registry.Position
	at  time.Time
	v   any
	// refreshing says a background refresh of the entry runs.
	refreshing bool
}

// memoTTL bounds how old a reused answer may be before it is refreshed.
const memoTTL = 10 * time.Second

// memoStale bounds how old an answer may be given while it is refreshed
// in the background; an older one (its refreshes failed, or the server
// was idle) is counted again by the view.
const memoStale = 3 * memoTTL

// maxMemo bounds the entries kept (one per region, pool, ...).
const maxMemo = 4096

// cached returns fn's answer for key, reused while the log stands at the
// same position and the answer is younger than memoTTL; one younger than
// memoStale is given and refreshed in the background, one refresh at a
// time, with ctx's values but not its end (the view that started it may
// be answered first). Errors are never kept.
func cached[T any](s *Server, ctx context.Context, key string, fn func(context.Context) (T, error)) (T, error) {
	pos, err := s.reg.Position(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	now := s.cfg.Now()
	s.memo.mu.Lock()
	e, ok := s.memo.m[key]
	same := ok && e.pos == pos && !now.Before(e.at)
	if same && now.Sub(e.at) >= memoTTL {
		same = now.Sub(e.at) < memoStale
		if same && !e.refreshing {
			e.refreshing = true
			s.memo.m[key] = e
			s.memo.bg.Add(1)
			go refresh(s, context.WithoutCancel(ctx), key, e, fn)
		}
	}
	s.memo.mu.Unlock()
	if same {
		return e.v.(T), nil
	}
	v, err := fn(ctx)
	if err != nil {
		return v, err
	}
	s.memo.put(key, memoEntry{pos: pos, at: now, v: v})
	return v, nil
}

// refresh answers key again in the background, in place of old unless a
// view counted it meanwhile.
func refresh[T any](s *Server, ctx context.Context, key string, old memoEntry, fn func(context.Context) (T, error)) {
	defer s.memo.bg.Done()
	now := s.cfg.Now()
	pos, err := s.reg.Position(ctx)
	var v T
	if err == nil {
		v, err = fn(ctx)
	}
	s.memo.mu.Lock()
	defer s.memo.mu.Unlock()
	cur, ok := s.memo.m[key]
	if !ok || cur.pos != old.pos || !cur.at.Equal(old.at) {
		return
	}
	if err != nil {
		// Kept as it was: the next view past memoTTL tries again, and
		// past memoStale counts itself.
		s.log.Warn("web: refresh of a count failed", "key", key, "err", err)
		cur.refreshing = false
		s.memo.m[key] = cur
		return
	}
	s.memo.m[key] = memoEntry{pos: pos, at: now, v: v}
}

// put keeps an answer.
func (m *memo) put(key string, e memoEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil || len(m.m) >= maxMemo {
		m.m = map[string]memoEntry{}
	}
	m.m[key] = e
}

// report is Registry.Report through the memo.
func (s *Server) report(ctx context.Context, region string) ([]registry.ReportRow, error) {
	return cached(s, ctx, "report\x00"+region, func(ctx context.Context) ([]registry.ReportRow, error) { return s.reg.Report(ctx, region) })
}

// pools is Registry.Pools through the memo.
func (s *Server) pools(ctx context.Context, region string) ([]registry.PoolUsage, error) {
	return cached(s, ctx, "pools\x00"+region, func(ctx context.Context) ([]registry.PoolUsage, error) { return s.reg.Pools(ctx, region) })
}

// blocks is Registry.Blocks through the memo: /tree reads every block
// (1,205 in a cloud register: half of the page's CPU once its rows were
// written directly).
func (s *Server) blocks(ctx context.Context) ([]registry.Block, error) {
	return cached(s, ctx, "blocks", func(ctx context.Context) ([]registry.Block, error) { return s.reg.Blocks(ctx) })
}

// poolDetail is what Registry.PoolDetail answers.
type poolDetail struct {
	u    registry.PoolUsage
	free []netip.Prefix
}

// poolDetail is Registry.PoolDetail through the memo.
func (s *Server) poolDetail(ctx context.Context, id int64) (registry.PoolUsage, []netip.Prefix, error) {
	d, err := cached(s, ctx, "pool\x00"+strconv.FormatInt(id, 10), func(ctx context.Context) (poolDetail, error) {
		u, free, err := s.reg.PoolDetail(ctx, id)
		return poolDetail{u, free}, err
	})
	return d.u, d.free, err
}

// auditCounts is what the overview shows of the geolocation audit.
type auditCounts struct {
	t                 *geo.Table // kept so that its address, in the key, is not reused
	findings, checked int
}

// audit is the overview's audit of the register against the table t
// (findings, addresses checked) through the memo: it reads every block and
// pool (Placements), 56 % of the overview's CPU at a million assignments
// when it was made on every view (bench/README.md, session 9). The key
// holds t, so a reloaded table is audited afresh.
func (s *Server) audit(ctx context.Context, t *geo.Table) (findings, checked int, err error) {
	c, err := cached(s, ctx, fmt.Sprintf("audit\x00%p", t), func(ctx context.Context) (auditCounts, error) {
		rep, err := geo.AuditRegisterWith(ctx, t, s.reg, geo.AuditOptions{}, s.cfg.Now())
		return auditCounts{t: t, findings: len(rep.Findings), checked: rep.Checked}, err
	})
	return c.findings, c.checked, err
}
