package jsonkeys

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// slowDuplicateKey is duplicateKey without its fast path: the walk with
// json.Decoder that decides whenever noDuplicateKey gives up.
func slowDuplicateKey(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if dup, ok := walkValue(dec, "").(*dupKeyError); ok {
		return dup
	}
	return nil
}

// keyCases are bodies with and without duplicate keys, well-formed or not.
var keyCases = []struct {
	body string
	dup  bool // the walk refuses it
	fast bool // the fast path passes it alone
}{
	{`[{"region":"us-east","family":4,"tenant":"acme","name":"vm1.acme.example","resource":"vm-1"}]`, false, true},
	{`{"name":"ap-south","country":"IN","name":"ap-east"}`, true, false},
	{`{"name":"ap-south","country":"IN","Country":"US"}`, true, false},
	{`[{"region":"us-east"},{"region":"us-east","region":"eu-west"}]`, true, false},
	{`{"a":{"b":1,"B":2}}`, true, false},
	{`{"a":{"b":1},"b":{"a":2}}`, false, true},
	{`{"a":[{"x":1},{"x":2}],"x":[1,2,3]}`, false, true},
	{` { "a" : 1 , "b" : [ ] , "c" : { } , "d" : "x\"y\\" , "e" : null , "f" : true , "g" : -1.5E+3 } `, false, true},
	{`{"a":1,"\u0061":2}`, true, false},    // an escaped key: the walk decides
	{`{"k":1,"\u212a":2}`, true, false},    // the Kelvin sign: the walk decides (ToLower)
	{`{"é":1,"É":2}`, true, false},         // non-ASCII keys: the walk decides
	{`{"a":1,"a":2`, true, false},          // cut short after a duplicate
	{`{"a":1 "a":2}`, false, false},        // no comma: not JSON
	{`{"a":tru,"a":1}`, false, false},      // not JSON before the duplicate
	{`{"a":1}{"a":1,"a":2}`, false, false}, // two values: the walk reads the first
	{`[1,2,`, false, false},
	{``, false, false},
	{`"just a string"`, false, true},
	{`12`, false, true},
	{strings.Repeat(`[`, 100) + strings.Repeat(`]`, 100), false, false}, // deep: the walk decides
}

// TestNoDuplicateKeyAgreesWithTheWalk: the fast path passes only bodies
// the walk passes, and passes the usual ones on its own.
func TestNoDuplicateKeyAgreesWithTheWalk(t *testing.T) {
	var wide strings.Builder
	wide.WriteString("{")
	for i := range fastMaxKeys + 1 {
		if i > 0 {
			wide.WriteString(",")
		}
		wide.WriteString(`"k` + strings.Repeat("x", i) + `":1`)
	}
	wide.WriteString("}")
	cases := append(keyCases[:len(keyCases):len(keyCases)], struct {
		body      string
		dup, fast bool
	}{wide.String(), false, false})
	for _, tc := range cases {
		slow := slowDuplicateKey([]byte(tc.body))
		if (slow != nil) != tc.dup {
			t.Errorf("%.60s: the walk says %v, want duplicate %v", tc.body, slow, tc.dup)
		}
		fast := noDuplicateKey([]byte(tc.body))
		if fast != tc.fast {
			t.Errorf("%.60s: noDuplicateKey = %v, want %v", tc.body, fast, tc.fast)
		}
		if fast && slow != nil {
			t.Errorf("%.60s: the fast path passes a body the walk refuses: %v", tc.body, slow)
		}
		if got := Check([]byte(tc.body)); (got == nil) != (slow == nil) || got != nil && got.Error() != slow.Error() {
			t.Errorf("%.60s: duplicateKey = %v, the walk %v", tc.body, got, slow)
		}
	}
}

// FuzzNoDuplicateKey: whatever the body, the fast path never passes one
// the walk refuses.
func FuzzNoDuplicateKey(f *testing.F) {
	for _, tc := range keyCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if noDuplicateKey(data) {
			if err := slowDuplicateKey(data); err != nil {
				t.Fatalf("%q: the fast path passes a body the walk refuses: %v", data, err)
			}
		}
	})
}

// TestNoDuplicateKeyMutated: 20,000 bodies made from the cases by
// random edits (a byte changed, inserted, removed, a span repeated), with
// a fixed seed; the fast path never passes one the walk refuses.
func TestNoDuplicateKeyMutated(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`{}[]:,"\\ aAbBkK01e-.\u00e9`)
	passed := 0
	for range 20000 {
		b := []byte(keyCases[rng.IntN(len(keyCases))].body)
		for range 1 + rng.IntN(4) {
			if len(b) == 0 {
				b = append(b, alphabet[rng.IntN(len(alphabet))])
				continue
			}
			i := rng.IntN(len(b))
			switch rng.IntN(4) {
			case 0:
				b[i] = alphabet[rng.IntN(len(alphabet))]
			case 1:
				b = append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
			case 2:
				b = append(b[:i], b[i+1:]...)
			case 3:
				j := i + rng.IntN(len(b)-i)
				b = append(b[:j], append(slices.Clone(b[i:j]), b[j:]...)...)
			}
		}
		if noDuplicateKey(b) {
			passed++
			if err := slowDuplicateKey(b); err != nil {
				t.Fatalf("%q: the fast path passes a body the walk refuses: %v", b, err)
			}
		}
	}
	if passed == 0 {
		t.Fatal("the fast path passed none of the edited bodies: the test checks nothing")
	}
}

// BenchmarkDuplicateKey: the check of one allocation's body.
func BenchmarkDuplicateKey(b *testing.B) {
	body := []byte(keyCases[0].body)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if err := Check(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			if err := slowDuplicateKey(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
