package web

import (
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

type treeView struct {
	Region string
	Blocks []treeBlock
}

type treeBlock struct {
	registry.Block
	Pools []poolRow
}

// pageTree is /tree: every block with its provenance, its pools and child
// pools with their use; each pool opens on its own page (lazy: a block
// never loads assignments). ?region= keeps one region's pools.
func (s *Server) pageTree(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	region := r.URL.Query().Get("region")
	blocks, err := s.reg.Blocks(ctx)
	if err != nil {
		return err
	}
	pools, err := s.pools(ctx, region)
	if err != nil {
		return err
	}
	byBlock := map[int64][]registry.PoolUsage{}
	for _, p := range pools {
		byBlock[p.BlockID] = append(byBlock[p.BlockID], p)
	}
	v := treeView{Region: region}
	for _, b := range blocks {
		if region != "" && len(byBlock[b.ID]) == 0 {
			continue
		}
		v.Blocks = append(v.Blocks, treeBlock{Block: b, Pools: poolTree(byBlock[b.ID])})
	}
	return s.render(w, r, http.StatusOK, "tree", v)
}

// assignmentsPage is how many assignments one page lists.
const assignmentsPage = 100

// maxFreeShown bounds the free prefixes a pool page lists.
const maxFreeShown = 256

type poolView struct {
	Pool     registry.PoolUsage
	Bar      barView
	Free     []netip.Prefix
	MoreFree int
	Map      fragMap
	List     assignmentList
	Within   string
	// Reserved is the reservations in force in the pool.
	Reserved []registry.Reservation
	// Tags are the pool's (PoolDetail does not read them).
	Tags registry.Tags
}

// pagePool is /tree/pool/{id}: the pool's use, its free prefixes, the
// fragmentation map, and its assignments a page at a time (?after=, and
// ?within= a part of it): a pool of a million assignments opens as fast as
// one of ten.
func (s *Server) pagePool(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return fmt.Errorf("pool %q: not a pool number: %w", r.PathValue("id"), registry.ErrNotFound)
	}
	pu, free, err := s.poolDetail(ctx, id)
	if err != nil {
		return err
	}
	v := poolView{Pool: pu, Bar: utilBar(pu.Size, pu.Assigned, pu.Quarantined, pu.Reserved), Map: buildFragMap(pu.Pool, free)}
	if len(free) > maxFreeShown {
		v.Free, v.MoreFree = free[:maxFreeShown], len(free)-maxFreeShown
	} else {
		v.Free = free
	}
	f := registry.AssignmentFilter{PoolID: id, States: []registry.State{registry.StateAssigned, registry.StateQuarantined}}
	if w := r.URL.Query().Get("within"); w != "" {
		p, err := prefix.Parse(w)
		if err != nil {
			return fmt.Errorf("within %q: %w: %w", w, err, registry.ErrInvalid)
		}
		f.Within, v.Within = p, p.String()
	}
	if v.List, err = s.listAssignments(r, f, "/tree/pool/"+strconv.FormatInt(id, 10)); err != nil {
		return err
	}
	if v.Reserved, err = s.reservationsIn(ctx, pu.Prefix); err != nil {
		return err
	}
	pool, err := s.reg.Pool(ctx, id)
	if err != nil {
		return err
	}
	v.Tags = pool.Tags
	return s.render(w, r, http.StatusOK, "pool", v)
}

// fragMap is a pool drawn as a grid of equal cells (its /24s or /64s, or
// larger cells so there are at most maxCells), each coloured by state.
type fragMap struct {
	CellBits int
	Cells    []fragCell
	Columns  int
}

type fragCell struct {
	Prefix netip.Prefix
	State  string // free, partial (some free), assigned (none free)
}

// maxCells bounds the fragmentation map (2^10 cells).
const maxCellBits = 10

// buildFragMap colours each cell from the pool's free prefixes alone: a
// cell inside one free prefix is free, one with some free prefix inside
// is partial, one with none is in use (assigned or quarantined). Free
// prefixes are maximal and aligned, so a wholly free cell is always inside
// a single one.
func buildFragMap(p registry.Pool, free []netip.Prefix) fragMap {
	pb := p.Prefix.Bits()
	cell := 24
	if p.Prefix.Addr().Is6() {
		cell = 64
	}
	cell = max(cell, pb)
	cell = min(cell, pb+maxCellBits)
	n := 1 << (cell - pb)
	m := fragMap{CellBits: cell, Cells: make([]fragCell, n), Columns: min(n, 32)}
	for i := range m.Cells {
		m.Cells[i] = fragCell{Prefix: nthSubnet(p.Prefix, cell, i), State: "assigned"}
	}
	for _, f := range free {
		if !p.Prefix.Contains(f.Addr()) {
			continue
		}
		first := bitsAfter(f.Addr(), pb, cell-pb)
		if f.Bits() <= cell {
			count := 1 << (cell - f.Bits())
			for i := first; i < first+count && i < n; i++ {
				m.Cells[i].State = "free"
			}
		} else if m.Cells[first].State != "free" {
			m.Cells[first].State = "partial"
		}
	}
	return m
}

// HTML is the map's cells as links, built here rather than by a
// template range: html/template escapes each of the 1,024 cells' three
// values through reflection, which was most of a big pool page's time.
// Every value is escaped here: a prefix's text and the cell's state (one
// of three fixed words) go through html.EscapeString, the link's query
// through url.QueryEscape.
func (m fragMap) HTML(poolID int64) template.HTML {
	var b strings.Builder
	b.Grow(len(m.Cells) * 160)
	base := "/tree/pool/" + strconv.FormatInt(poolID, 10) + "?within="
	for _, c := range m.Cells {
		p, st := html.EscapeString(c.Prefix.String()), html.EscapeString(c.State)
		fmt.Fprintf(&b, `<a class="s-%s" href="%s" title="%s: %s"><span class="vh">%s %s</span></a>`,
			st, html.EscapeString(base+url.QueryEscape(c.Prefix.String())), p, st, p, st)
	}
	return template.HTML(b.String())
}

// bitsAfter reads n bits of a starting at bit from (0 = most significant).
func bitsAfter(a netip.Addr, from, n int) int {
	b := a.AsSlice()
	v := 0
	for i := from; i < from+n; i++ {
		v = v<<1 | int(b[i/8]>>(7-i%8)&1)
	}
	return v
}

// nthSubnet is the i-th /bits inside p.
func nthSubnet(p netip.Prefix, bits, i int) netip.Prefix {
	b := p.Addr().AsSlice()
	for k := 0; k < bits-p.Bits(); k++ {
		bit := p.Bits() + k
		if i>>(bits-p.Bits()-1-k)&1 == 1 {
			b[bit/8] |= 1 << (7 - bit%8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, bits)
}
