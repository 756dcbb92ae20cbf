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
// change since) and for at most memoTTL (quarantines end with time, not
// with an event).
type memo struct {
	mu sync.Mutex
	m  map[string]memoEntry
}

type memoEntry struct {
	pos registry.Position
	at  time.Time
	v   any
}

// memoTTL bounds how old a reused answer may be.
const memoTTL = 10 * time.Second

// maxMemo bounds the entries kept (one per region, pool, ...).
const maxMemo = 4096

// cached returns fn's answer for key, reused while the log stands at the
// same position and the answer is younger than memoTTL. Errors are never
// kept.
func cached[T any](s *Server, ctx context.Context, key string, fn func() (T, error)) (T, error) {
	pos, err := s.reg.Position(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	now := s.cfg.Now()
	s.memo.mu.Lock()
	e, ok := s.memo.m[key]
	s.memo.mu.Unlock()
	if ok && e.pos == pos && now.Sub(e.at) < memoTTL && !now.Before(e.at) {
		return e.v.(T), nil
	}
	v, err := fn()
	if err != nil {
		return v, err
	}
	s.memo.mu.Lock()
	if s.memo.m == nil || len(s.memo.m) >= maxMemo {
		s.memo.m = map[string]memoEntry{}
	}
	s.memo.m[key] = memoEntry{pos: pos, at: now, v: v}
	s.memo.mu.Unlock()
	return v, nil
}

// report is Registry.Report through the memo.
func (s *Server) report(ctx context.Context, region string) ([]registry.ReportRow, error) {
	return cached(s, ctx, "report\x00"+region, func() ([]registry.ReportRow, error) { return s.reg.Report(ctx, region) })
}

// pools is Registry.Pools through the memo.
func (s *Server) pools(ctx context.Context, region string) ([]registry.PoolUsage, error) {
	return cached(s, ctx, "pools\x00"+region, func() ([]registry.PoolUsage, error) { return s.reg.Pools(ctx, region) })
}

// blocks is Registry.Blocks through the memo: /tree reads every block
// (1,205 in a cloud register: half of the page's CPU once its rows were
// written directly).
func (s *Server) blocks(ctx context.Context) ([]registry.Block, error) {
	return cached(s, ctx, "blocks", func() ([]registry.Block, error) { return s.reg.Blocks(ctx) })
}

// poolDetail is what Registry.PoolDetail answers.
type poolDetail struct {
	u    registry.PoolUsage
	free []netip.Prefix
}

// poolDetail is Registry.PoolDetail through the memo.
func (s *Server) poolDetail(ctx context.Context, id int64) (registry.PoolUsage, []netip.Prefix, error) {
	d, err := cached(s, ctx, "pool\x00"+strconv.FormatInt(id, 10), func() (poolDetail, error) {
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
	c, err := cached(s, ctx, fmt.Sprintf("audit\x00%p", t), func() (auditCounts, error) {
		rep, err := geo.AuditRegisterWith(ctx, t, s.reg, geo.AuditOptions{}, s.cfg.Now())
		return auditCounts{t: t, findings: len(rep.Findings), checked: rep.Checked}, err
	})
	return c.findings, c.checked, err
}
