package web

import (
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// treeInline is how many pools /tree draws on one page: up to it, every
// block with its pool tree (a small register reads best whole); past it,
// one line per block, each opening on its own page (/tree/block/{id}),
// and an index of the regions (/tree?region=): an operator of 1,200
// blocks in 60 regions looks for one of them, and a page of every pool
// of them (1,260 pools: 1 MB of HTML, 100 ms of server CPU through
// html/template) serves nobody.
const treeInline = 200

type treeView struct {
	Title string
	Intro string
	// Legend: the page draws utilization bars.
	Legend bool
	// Body is the page's rows, written by treeWriter (every value
	// escaped there).
	Body template.HTML
}

// pageTree is /tree: every block with its provenance, its pools and child
// pools with their use; each pool opens on its own page (lazy: a block
// never loads assignments). ?region= keeps one region's pools. Past
// treeInline pools, blocks are listed one a line instead (see treeInline).
func (s *Server) pageTree(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	region := r.URL.Query().Get("region")
	blocks, err := s.blocks(ctx)
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
	v := treeView{Title: "Prefix tree"}
	if region != "" {
		v.Title += " of " + region
	}
	var tw treeWriter
	tw.Grow(256 * len(blocks))
	if int64(len(pools)) > s.treeInline.Load() {
		v.Intro = "Block → pool → child pool. " + groupDigits(strconv.Itoa(len(blocks))) + " blocks and " + groupDigits(strconv.Itoa(len(pools))) +
			" pools: open a block for its pools, or a region for its own, then a pool for its free prefixes, its fragmentation map and its assignments."
		if region == "" {
			tw.regionIndex(pools)
		}
		tw.blockTable(blocks, byBlock, region)
		v.Body = template.HTML(tw.String())
		return s.render(w, r, http.StatusOK, "tree", v)
	}
	v.Intro = "Block → pool → child pool. Open a pool for its free prefixes, its fragmentation map and its assignments, a page at a time."
	v.Legend = true
	n := 0
	for _, b := range blocks {
		if region != "" && len(byBlock[b.ID]) == 0 {
			continue
		}
		tw.block(b, poolTree(byBlock[b.ID]), true)
		n++
	}
	if n == 0 {
		tw.raw("<p>No blocks")
		if region != "" {
			tw.raw(" with pools of ")
			tw.text(region)
		}
		tw.raw(".</p>")
	}
	v.Body = template.HTML(tw.String())
	return s.render(w, r, http.StatusOK, "tree", v)
}

// pageBlock is /tree/block/{id}: one block's provenance and its pool tree,
// as /tree draws each block of a small register.
func (s *Server) pageBlock(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return fmt.Errorf("block %q: not a block number: %w", r.PathValue("id"), registry.ErrNotFound)
	}
	b, err := s.reg.Block(ctx, id)
	if err != nil {
		return err
	}
	pools, err := s.pools(ctx, "")
	if err != nil {
		return err
	}
	var mine []registry.PoolUsage
	for _, p := range pools {
		if p.BlockID == id {
			mine = append(mine, p)
		}
	}
	var tw treeWriter
	tw.block(b, poolTree(mine), false)
	tw.raw(`<p><a href="/tree">Every block</a></p>`)
	return s.render(w, r, http.StatusOK, "tree", treeView{
		Title:  "Block " + b.Prefix.String(),
		Intro:  "Block → pool → child pool. Open a pool for its free prefixes, its fragmentation map and its assignments, a page at a time.",
		Legend: true,
		Body:   template.HTML(tw.String()),
	})
}

// treeWriter writes the tree's rows as HTML without html/template: the
// template escaped each of a big register's thousands of rows' dozen
// values through reflection (78 % of /tree's time at 1,260 pools). Every
// value from the register goes through text (html.EscapeString) and every
// one in a URL through url.PathEscape or url.QueryEscape first; raw takes
// only the markup written here.
type treeWriter struct{ strings.Builder }

func (w *treeWriter) raw(s string)  { w.WriteString(s) }
func (w *treeWriter) text(s string) { w.WriteString(html.EscapeString(s)) }

// provenance is a block's "came by" line, as /tree has always shown it.
func (w *treeWriter) provenance(b registry.Block) {
	w.text(string(b.Source))
	for _, f := range []struct{ pre, v string }{
		{" · ", b.Registry}, {" · registered in ", b.RegisteredCountry}, {" · from ", b.From}, {" · ", priceOf(b.Price)}, {" · ", b.Note}, {" · space ", b.Space},
	} {
		if f.v != "" {
			w.raw(f.pre)
			w.text(f.v)
		}
	}
	w.tags(b.Tags)
}

func priceOf(m *registry.Money) string {
	if m == nil {
		return ""
	}
	return m.String()
}

// tags writes " · <code>k=v</code>" for each tag, by key (as a template's
// range over a map does).
func (w *treeWriter) tags(t registry.Tags) {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		w.raw(" · <code>")
		w.text(k + "=" + t[k])
		w.raw("</code>")
	}
}

// block writes a block's card: its prefix (a link to its own page when
// link), provenance and pool tree.
func (w *treeWriter) block(b registry.Block, pools []poolRow, link bool) {
	w.raw(`<section class="card">` + "\n" + `<h2 class="prefix">`)
	if link {
		w.raw(`<a href="/tree/block/` + strconv.FormatInt(b.ID, 10) + `">`)
		w.text(b.Prefix.String())
		w.raw(`</a>`)
	} else {
		w.text(b.Prefix.String())
	}
	w.raw("</h2>\n<p>")
	w.provenance(b)
	w.raw("</p>\n")
	if len(pools) == 0 {
		w.raw(`<p class="muted">No pools: the whole block is unallocated.</p>` + "\n</section>\n")
		return
	}
	w.raw(`<ul class="tree">` + "\n")
	for _, p := range pools {
		w.pool(p)
	}
	w.raw("</ul>\n</section>\n")
}

// pool writes one pool's line of the tree.
func (w *treeWriter) pool(p poolRow) {
	w.raw(`<li class="depth-` + strconv.Itoa(p.Depth) + `">`)
	if p.Depth > 0 {
		w.raw("└ ")
	}
	w.raw(`<a class="prefix" href="/tree/pool/` + strconv.FormatInt(p.ID, 10) + `">`)
	w.text(p.Prefix.String())
	w.raw(`</a> <a href="/region/`)
	w.text(url.PathEscape(p.Region))
	w.raw(`">`)
	w.text(p.Region)
	w.raw("</a>")
	if p.Purpose != "" {
		w.raw(" · ")
		w.text(p.Purpose)
	}
	if p.Relocation != nil {
		w.raw(" · borrowed from ")
		w.text(p.Relocation.FromRegion)
	}
	w.raw(" ")
	w.bar(p.Bar)
	w.raw(" ")
	w.text(fmtPct(100 * p.Utilization))
	w.raw(" used, ")
	w.text(fmtAmount(p.Free, famOf(p.Prefix), 0))
	w.raw(" free")
	w.tags(p.Tags)
	w.raw("</li>\n")
}

// bar is the "bar" template of partials/common.html, written here.
func (w *treeWriter) bar(b barView) {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	w.raw(`<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" width="160" height="12" role="img" aria-label="`)
	w.text(b.Label)
	w.raw(`">` + "\n" + `<rect class="b-free" x="0" y="0" width="100" height="10"/>` + "\n" +
		`<rect class="b-assigned" x="0" y="0" width="` + f(b.Assigned) + `" height="10"/>` + "\n" +
		`<rect class="b-quarantined" x="` + f(b.Assigned) + `" y="0" width="` + f(b.Quarantined) + `" height="10"/>` + "\n" +
		`<rect class="b-reserved" x="` + f(b.ReservedX) + `" y="0" width="` + f(b.Reserved) + `" height="10"/>` + "\n</svg>")
}

// regionIndex writes the regions that hold pools, each a link to its
// part of the tree, with its pool count.
func (w *treeWriter) regionIndex(pools []registry.PoolUsage) {
	count := map[string]int{}
	for _, p := range pools {
		count[p.Region]++
	}
	names := make([]string, 0, len(count))
	for n := range count {
		names = append(names, n)
	}
	slices.Sort(names)
	w.raw(`<section class="card">` + "\n<h2>By region</h2>\n<p>")
	for i, n := range names {
		if i > 0 {
			w.raw(" · ")
		}
		w.raw(`<a href="/tree?region=`)
		w.text(url.QueryEscape(n))
		w.raw(`">`)
		w.text(n)
		w.raw("</a> (" + strconv.Itoa(count[n]) + ")")
	}
	w.raw("</p>\n</section>\n")
}

// blockTable writes one row per block (of region's pools, when given):
// its prefix as a link to its page, how it came, its pools and their
// use.
func (w *treeWriter) blockTable(blocks []registry.Block, byBlock map[int64][]registry.PoolUsage, region string) {
	w.raw(`<section class="card">` + "\n<h2>Blocks</h2>\n<table>\n" +
		`<thead><tr><th scope="col">Block</th><th scope="col">Came by</th><th scope="col">Pools</th><th scope="col">Used</th><th scope="col">Free in pools</th></tr></thead>` + "\n<tbody>")
	for _, b := range blocks {
		ps := byBlock[b.ID]
		if region != "" && len(ps) == 0 {
			continue
		}
		var size, used, free prefix.Count
		n := 0
		for _, p := range ps {
			if p.ParentID != 0 {
				continue // a child pool's space is its parent's
			}
			n++
			size, used, free = size.Add(p.Size), used.Add(p.Assigned).Add(p.Quarantined).Add(p.Reserved), free.Add(p.Free)
		}
		w.raw(`<tr><td class="prefix"><a href="/tree/block/` + strconv.FormatInt(b.ID, 10) + `">`)
		w.text(b.Prefix.String())
		w.raw("</a></td><td>")
		w.provenance(b)
		w.raw("</td><td>" + strconv.Itoa(n) + "</td><td>")
		if n > 0 {
			pc := 0.0
			if !size.IsZero() {
				pc = 100 * used.Float64() / size.Float64()
			}
			w.text(fmtPct(pc))
			w.raw("</td><td>")
			w.text(fmtAmount(free, famOf(b.Prefix), 0))
		} else {
			w.raw("—</td><td>—")
		}
		w.raw("</td></tr>\n")
	}
	w.raw("</tbody>\n</table>\n</section>\n")
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
//
// Each cell's text is written piece by piece, its prefix's text made
// once: fmt.Fprintf and two texts of the prefix a cell were a quarter of
// a pool page's CPU (bench/README.md, session 16, webpool).
func (m fragMap) HTML(poolID int64) template.HTML {
	var b strings.Builder
	b.Grow(len(m.Cells) * 160)
	base := "/tree/pool/" + strconv.FormatInt(poolID, 10) + "?within="
	for _, c := range m.Cells {
		text := c.Prefix.String()
		p, st := html.EscapeString(text), html.EscapeString(c.State)
		for _, s := range [...]string{`<a class="s-`, st, `" href="`, html.EscapeString(base + url.QueryEscape(text)), `" title="`, p, `: `, st,
			`"><span class="vh">`, p, ` `, st, `</span></a>`} {
			b.WriteString(s)
		}
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
