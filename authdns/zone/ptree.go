package zone

import (
	"hash/maphash"
	"iter"
)

// ptree is a persistent ordered map: a treap whose every version is
// immutable. Set and Delete return a new version that shares all but the
// O(log n) nodes on the changed path with the one they were called on, so
// that a zone version made from the one before by a change of a few names
// copies a few paths, not the zone (delta.go), while readers go on using
// the version before from any goroutine without locks.
//
// A node's priority is a hash of its key (with a seed fixed per tree
// family, see newPtree), so the shape depends on the set of keys alone
// (a treap with distinct priorities is unique), which keeps the expected
// depth logarithmic whatever the order of the edits.
//
// The zero ptree is not usable: make one with newPtree (or copy one).
type ptree[V any] struct {
	root *pnode[V]
	cmp  func(a, b string) int
	seed maphash.Seed
}

type pnode[V any] struct {
	key         string
	val         V
	prio        uint64
	size        int
	left, right *pnode[V]
}

func newPtree[V any](cmp func(a, b string) int, seed maphash.Seed) ptree[V] {
	return ptree[V]{cmp: cmp, seed: seed}
}

// empty is a tree with the same order and no key.
func (t ptree[V]) empty() ptree[V] { return ptree[V]{cmp: t.cmp, seed: t.seed} }

func (n *pnode[V]) sz() int {
	if n == nil {
		return 0
	}
	return n.size
}

// with is a copy of n with the children l and r.
func (n *pnode[V]) with(l, r *pnode[V]) *pnode[V] {
	c := *n
	c.left, c.right = l, r
	c.size = 1 + l.sz() + r.sz()
	return &c
}

// Len is the number of keys.
func (t ptree[V]) Len() int { return t.root.sz() }

// Get is the value at key.
func (t ptree[V]) Get(key string) (V, bool) {
	for n := t.root; n != nil; {
		switch c := t.cmp(key, n.key); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return n.val, true
		}
	}
	var zero V
	return zero, false
}

// Has says whether key is in t.
func (t ptree[V]) Has(key string) bool {
	_, ok := t.Get(key)
	return ok
}

// Set is t with val at key.
func (t ptree[V]) Set(key string, val V) ptree[V] {
	p := maphash.String(t.seed, key)
	t.root = t.set(t.root, key, val, p)
	return t
}

func (t ptree[V]) set(n *pnode[V], key string, val V, p uint64) *pnode[V] {
	if n == nil {
		return &pnode[V]{key: key, val: val, prio: p, size: 1}
	}
	c := t.cmp(key, n.key)
	if c == 0 {
		m := *n
		m.val = val
		return &m
	}
	if p > n.prio {
		// key goes above n: split n's subtree around it.
		l, r := t.split(n, key)
		return &pnode[V]{key: key, val: val, prio: p, size: 1 + l.sz() + r.sz(), left: l, right: r}
	}
	if c < 0 {
		return n.with(t.set(n.left, key, val, p), n.right)
	}
	return n.with(n.left, t.set(n.right, key, val, p))
}

// split is the keys of n below key and above it (key itself is not in n).
func (t ptree[V]) split(n *pnode[V], key string) (l, r *pnode[V]) {
	if n == nil {
		return nil, nil
	}
	if t.cmp(key, n.key) < 0 {
		ll, lr := t.split(n.left, key)
		return ll, n.with(lr, n.right)
	}
	rl, rr := t.split(n.right, key)
	return n.with(n.left, rl), rr
}

// Delete is t without key.
func (t ptree[V]) Delete(key string) ptree[V] {
	t.root = t.del(t.root, key)
	return t
}

func (t ptree[V]) del(n *pnode[V], key string) *pnode[V] {
	if n == nil {
		return nil
	}
	switch c := t.cmp(key, n.key); {
	case c < 0:
		l := t.del(n.left, key)
		if l == n.left {
			return n
		}
		return n.with(l, n.right)
	case c > 0:
		r := t.del(n.right, key)
		if r == n.right {
			return n
		}
		return n.with(n.left, r)
	}
	return merge(n.left, n.right)
}

// merge joins l and r, every key of l below every key of r.
func merge[V any](l, r *pnode[V]) *pnode[V] {
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	case l.prio > r.prio:
		return l.with(l.left, merge(l.right, r))
	default:
		return r.with(merge(l, r.left), r.right)
	}
}

// Ceil is the first key at or after key.
func (t ptree[V]) Ceil(key string) (string, V, bool) {
	var best *pnode[V]
	for n := t.root; n != nil; {
		if t.cmp(n.key, key) >= 0 {
			best, n = n, n.left
		} else {
			n = n.right
		}
	}
	return kv(best)
}

// After is the first key after key.
func (t ptree[V]) After(key string) (string, V, bool) {
	var best *pnode[V]
	for n := t.root; n != nil; {
		if t.cmp(n.key, key) > 0 {
			best, n = n, n.left
		} else {
			n = n.right
		}
	}
	return kv(best)
}

// Before is the last key before key.
func (t ptree[V]) Before(key string) (string, V, bool) {
	var best *pnode[V]
	for n := t.root; n != nil; {
		if t.cmp(n.key, key) < 0 {
			best, n = n, n.right
		} else {
			n = n.left
		}
	}
	return kv(best)
}

// First is the smallest key.
func (t ptree[V]) First() (string, V, bool) {
	n := t.root
	for n != nil && n.left != nil {
		n = n.left
	}
	return kv(n)
}

// Last is the largest key.
func (t ptree[V]) Last() (string, V, bool) {
	n := t.root
	for n != nil && n.right != nil {
		n = n.right
	}
	return kv(n)
}

func kv[V any](n *pnode[V]) (string, V, bool) {
	if n == nil {
		var zero V
		return "", zero, false
	}
	return n.key, n.val, true
}

// All yields every key and value in order.
func (t ptree[V]) All() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		// An explicit stack: the depth is logarithmic, but recursion
		// through yield costs a closure per level.
		stack := make([]*pnode[V], 0, 64)
		for n := t.root; n != nil || len(stack) > 0; {
			for n != nil {
				stack = append(stack, n)
				n = n.left
			}
			n = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !yield(n.key, n.val) {
				return
			}
			n = n.right
		}
	}
}

// fromSorted is a tree of the same order as t holding keys (sorted by its
// order, distinct) with vals: built in linear time (a Cartesian tree by
// priority, with a stack of the right spine), for full builds.
func (t ptree[V]) fromSorted(keys []string, vals []V) ptree[V] {
	nodes := make([]pnode[V], len(keys)) // one allocation for all
	var spine []*pnode[V]
	for i, k := range keys {
		n := &nodes[i]
		n.key, n.val, n.prio = k, vals[i], maphash.String(t.seed, k)
		var last *pnode[V]
		for len(spine) > 0 && spine[len(spine)-1].prio < n.prio {
			last = spine[len(spine)-1]
			spine = spine[:len(spine)-1]
		}
		n.left = last
		if len(spine) > 0 {
			spine[len(spine)-1].right = n
		}
		spine = append(spine, n)
	}
	out := t.empty()
	if len(spine) > 0 {
		out.root = spine[0]
		fixSizes(out.root)
	}
	return out
}

// fixSizes sets the sizes of a tree just built (fromSorted).
func fixSizes[V any](n *pnode[V]) int {
	if n == nil {
		return 0
	}
	n.size = 1 + fixSizes(n.left) + fixSizes(n.right)
	return n.size
}

// canonicalCompare orders names as RFC 4034 §6.1 does, as sortCanonical
// does: label by label from the right, each label compared as the bytes
// of its presentation form, a name before the names below it. It makes
// no copy: it is the order of the trees of names looked up per query.
func canonicalCompare(a, b string) int {
	a, b = trimDot(a), trimDot(b)
	for {
		if a == "" || b == "" {
			return len(a) - len(b) // "" (fewer labels) first; both "": equal
		}
		ia, ib := lastLabel(a), lastLabel(b)
		la, lb := a[ia:], b[ib:]
		if c := compareLabels(la, lb); c != 0 {
			return c
		}
		a, b = trimDot(a[:ia]), trimDot(b[:ib])
	}
}

// compareLabels compares two labels as sortCanonical's keys do: a label
// that is a prefix of the other comes first.
func compareLabels(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// trimDot drops the dot that ends a name (or what is left of it), unless
// escaped.
func trimDot(s string) string {
	if n := len(s); n > 0 && s[n-1] == '.' && !escaped(s, n-1) {
		return s[:n-1]
	}
	return s
}

// lastLabel is where the last label of s (no final dot) starts.
func lastLabel(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' && !escaped(s, i) {
			return i + 1
		}
	}
	return 0
}

// escaped says whether s[i] is escaped: an odd number of backslashes
// before it.
func escaped(s string, i int) bool {
	k := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		k++
	}
	return k%2 == 1
}
