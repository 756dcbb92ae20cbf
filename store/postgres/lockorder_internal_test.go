package postgres

import (
	"slices"
	"testing"
)

// TestLearnLockOrderFromOwnLocksOnly: a job of a group commit starts with
// the locks of the jobs before it in the batch; a lower region it then
// fails to take (NOWAIT) is learnt for the regions it locked itself only,
// never for another caller's (a review's finding: region B's allocations
// would otherwise wait for A's writers ever after, borrowing or not).
func TestLearnLockOrderFromOwnLocksOnly(t *testing.T) {
	for _, tc := range []struct {
		name     string
		locked   []int64
		ownLocks int
		want     map[int64][]int64
	}{
		{"alone: every lock is its own", []int64{5, 9}, 0, map[int64][]int64{5: {3}, 9: {3}}},
		{"in a batch: the earlier jobs' lock 5 is not", []int64{5, 9}, 1, map[int64][]int64{9: {3}}},
		{"in a batch, holding none of its own", []int64{5, 9}, 2, map[int64][]int64{}},
		{"only higher regions learn a lower one", []int64{2, 9}, 0, map[int64][]int64{9: {3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Store{}
			x := &tx{s: s, locked: tc.locked, ownLocks: tc.ownLocks}
			x.learnLockOrder(3)
			x.learnLockOrder(3) // once only
			got := map[int64][]int64{}
			s.lockFirst.Range(func(k, v any) bool {
				got[k.(int64)] = v.([]int64)
				return true
			})
			if len(got) != len(tc.want) {
				t.Fatalf("learnt %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if !slices.Equal(got[k], v) {
					t.Errorf("learnt %v, want %v", got, tc.want)
				}
			}
		})
	}
}
