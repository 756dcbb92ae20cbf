package zone

import (
	"fmt"
	"hash/maphash"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// checkTree compares t with the model m (a map and a sort): the same keys
// in the order cmp gives, the same values, sizes and heap order right, and
// every look-up (Get, Ceil, After, Before, First, Last) as the model's.
func checkTree(t *testing.T, tr ptree[int], m map[string]int, cmp func(a, b string) int, probes []string) {
	t.Helper()
	keys := slices.SortedFunc(maps.Keys(m), cmp)
	if tr.Len() != len(keys) {
		t.Fatalf("Len %d, model %d", tr.Len(), len(keys))
	}
	var got []string
	for k, v := range tr.All() {
		got = append(got, k)
		if v != m[k] {
			t.Fatalf("%q: %d, model %d", k, v, m[k])
		}
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("order %q, model %q", got, keys)
	}
	var walk func(n *pnode[int]) int
	walk = func(n *pnode[int]) int {
		if n == nil {
			return 0
		}
		for _, c := range []*pnode[int]{n.left, n.right} {
			if c != nil && c.prio > n.prio {
				t.Fatalf("heap order broken at %q", n.key)
			}
		}
		if s := 1 + walk(n.left) + walk(n.right); s != n.size {
			t.Fatalf("size at %q: %d, counted %d", n.key, n.size, s)
		}
		return n.size
	}
	walk(tr.root)
	for _, p := range append(probes, keys...) {
		i, found := slices.BinarySearchFunc(keys, p, cmp)
		v, ok := tr.Get(p)
		if ok != found || found && v != m[p] {
			t.Fatalf("Get %q: %d %v, model %v", p, v, ok, found)
		}
		check := func(what string, k string, ok bool, j int) {
			t.Helper()
			if want := j >= 0 && j < len(keys); ok != want || want && k != keys[j] {
				t.Fatalf("%s %q: %q %v, model index %d of %d", what, p, k, ok, j, len(keys))
			}
		}
		k, _, ok := tr.Ceil(p)
		check("Ceil", k, ok, i)
		k, _, ok = tr.After(p)
		if found {
			check("After", k, ok, i+1)
		} else {
			check("After", k, ok, i)
		}
		k, _, ok = tr.Before(p)
		check("Before", k, ok, i-1)
	}
	k, _, ok := tr.First()
	if ok != (len(keys) > 0) || ok && k != keys[0] {
		t.Fatalf("First %q", k)
	}
	k, _, ok = tr.Last()
	if ok != (len(keys) > 0) || ok && k != keys[len(keys)-1] {
		t.Fatalf("Last %q", k)
	}
}

// randomName is a name of a few labels from a small alphabet, so that
// names share labels, are prefixes of each other's labels, and are below
// each other.
func randomName(r *rand.Rand) string {
	labels := []string{"a", "b", "ab", "ba", "a-b", "*", "0", "xn--z", `a\.b`, "bb", "a0"}
	var b strings.Builder
	for range 1 + r.IntN(4) {
		b.WriteString(labels[r.IntN(len(labels))])
		b.WriteByte('.')
	}
	b.WriteString("example.")
	return b.String()
}

// TestPtreeMatchesModel edits persistent trees at random and checks after
// each step that every version, the new one and all before it, still
// holds what a map and a sort say it should: an edit never writes into a
// version already made.
func TestPtreeMatchesModel(t *testing.T) {
	for _, c := range []struct {
		name string
		cmp  func(a, b string) int
	}{{"bytes", strings.Compare}, {"canonical", canonicalCompare}} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			type version struct {
				tr ptree[int]
				m  map[string]int
			}
			tr := newPtree[int](c.cmp, maphash.MakeSeed())
			m := map[string]int{}
			var versions []version
			var probes []string
			for step := range 600 {
				k := randomName(r)
				probes = append(probes, k)
				switch r.IntN(3) {
				case 0, 1:
					tr, m = tr.Set(k, step), maps.Clone(m)
					m[k] = step
				default:
					if len(m) > 0 && r.IntN(2) == 0 {
						k = slices.Sorted(maps.Keys(m))[r.IntN(len(m))] // one that is there
					}
					tr, m = tr.Delete(k), maps.Clone(m)
					delete(m, k)
				}
				versions = append(versions, version{tr, m})
				checkTree(t, tr, m, c.cmp, probes[max(0, len(probes)-20):])
			}
			for i, v := range versions {
				if i%37 == 0 {
					checkTree(t, v.tr, v.m, c.cmp, probes[:20])
				}
			}
			// fromSorted makes the tree Set makes, key by key.
			keys := slices.SortedFunc(maps.Keys(m), c.cmp)
			vals := make([]int, len(keys))
			for i, k := range keys {
				vals[i] = m[k]
			}
			checkTree(t, tr.fromSorted(keys, vals), m, c.cmp, probes[:50])
		})
	}
}

// TestCanonicalCompareMatchesSort checks the comparison the tree of names
// uses against sortCanonical (which the zone's transfers were ordered by)
// and miekg/dns's label split.
func TestCanonicalCompareMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	names := []string{".", "example.", "a.example.", "z.example.", "*.z.example.", "a.z.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.", "\\001.z.example.", "*.z.example.", "\\200.z.example."}
	for range 300 {
		names = append(names, randomName(r))
	}
	want := slices.Clone(names)
	sortCanonical(want)
	got := slices.Clone(names)
	slices.SortStableFunc(got, canonicalCompare)
	if !slices.Equal(got, want) {
		t.Fatalf("canonicalCompare orders\n%q\nsortCanonical\n%q", got, want)
	}
	for i := 1; i < len(got); i++ {
		if c := canonicalCompare(got[i-1], got[i]); c > 0 || (c == 0) != (got[i-1] == got[i]) {
			t.Fatalf("compare %q %q = %d", got[i-1], got[i], c)
		}
	}
}

// FuzzPtree applies a sequence of edits read from the input to a tree and
// to a map, and compares them (with every earlier version) at the end.
func FuzzPtree(f *testing.F) {
	f.Add([]byte("a\x01b\x02a\x81c\x03"))
	f.Add([]byte("\x00\x01\x02\x03\x04\x05\x85\x84\x83"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 400 {
			ops = ops[:400]
		}
		tr := newPtree[int](canonicalCompare, maphash.MakeSeed())
		m := map[string]int{}
		type version struct {
			tr ptree[int]
			m  map[string]int
		}
		var versions []version
		var probes []string
		for i, op := range ops {
			k := fmt.Sprintf("%c.%c.example.", 'a'+op%7, 'a'+(op/7)%5)
			if op%13 == 0 {
				k = dns.Fqdn(fmt.Sprintf("%d", op%5)) // names above others
			}
			probes = append(probes, k)
			m = maps.Clone(m)
			if op&0x80 == 0 {
				tr = tr.Set(k, i)
				m[k] = i
			} else {
				tr = tr.Delete(k)
				delete(m, k)
			}
			versions = append(versions, version{tr, m})
		}
		for _, v := range versions {
			checkTree(t, v.tr, v.m, canonicalCompare, probes)
		}
	})
}
