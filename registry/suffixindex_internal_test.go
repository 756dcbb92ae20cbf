package registry

import (
	"slices"
	"strings"
	"testing"
)

// TestSuffixKey: the key of a suffix begins with the key of every suffix
// that holds it, and of no other; it gives the suffix back.
func TestSuffixKey(t *testing.T) {
	for _, c := range []struct{ suffix, key string }{
		{".", "."},
		{"example.", ".elpmaxe."},
		{"a.cloud.example.", ".elpmaxe.duolc.a."},
	} {
		if k := SuffixKey(c.suffix); k != c.key {
			t.Errorf("SuffixKey(%s) = %q, want %q", c.suffix, k, c.key)
		}
		if s := SuffixOfKey(c.key); s != c.suffix {
			t.Errorf("SuffixOfKey(%q) = %s, want %s", c.key, s, c.suffix)
		}
	}
	if a := SuffixAncestors(SuffixKey("a.cloud.example.")); !slices.Equal(a, []string{".", ".elpmaxe.", ".elpmaxe.duolc."}) {
		t.Errorf("SuffixAncestors = %q", a)
	}
	names := []string{".", "example.", "cloud.example.", "a.cloud.example.", "xa.cloud.example.", "b.example.", "example.a.", "a.", "ample.", "x-a.cloud.example.", "a_b.example."}
	for _, a := range names {
		for _, b := range names {
			ka, kb := SuffixKey(a), SuffixKey(b)
			byKey := strings.HasPrefix(ka, kb) && ka < SuffixKeyEnd(kb) && ka >= kb
			if byKey != suffixUnder(a, b) {
				t.Errorf("%s under %s: by key %v, by name %v", a, b, byKey, suffixUnder(a, b))
			}
		}
	}
}
