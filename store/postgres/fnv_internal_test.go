package postgres

import (
	"hash/fnv"
	"testing"
)

// fnv32a must be hash/fnv's FNV-1a: a name's lock key is the same
// whichever writer takes it (a replica of an older build included).
func TestFNV32aIsHashFNV(t *testing.T) {
	for _, s := range []string{"", "a", "vm1.t.example.", "Ünïcode.example.", "a-very-long-name-under-a-tenant-suffix.customers.cloud.example."} {
		h := fnv.New32a()
		h.Write([]byte(s))
		if got, want := fnv32a(s), h.Sum32(); got != want {
			t.Errorf("fnv32a(%q) = %#x, hash/fnv %#x", s, got, want)
		}
	}
}
