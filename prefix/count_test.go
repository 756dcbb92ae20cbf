package prefix

import (
	"encoding/json"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func (c Count) big() *big.Int {
	b := new(big.Int).SetUint64(c.hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(c.lo))
}

func TestCountSaturates(t *testing.T) {
	if got := MaxCount.Add(CountOf(1)); got != MaxCount {
		t.Errorf("MaxCount+1 = %v; want MaxCount", got)
	}
	if got := CountOf(1).Sub(CountOf(2)); !got.IsZero() {
		t.Errorf("1-2 = %v; want 0 (saturated)", got)
	}
	if got := Pow2(127).Mul(2); got != MaxCount {
		t.Errorf("2^127*2 = %v; want MaxCount", got)
	}
	if got := Pow2(128); got != MaxCount {
		t.Errorf("Pow2(128) = %v; want MaxCount", got)
	}
	if got := Size(mp("::/0")); got != MaxCount {
		t.Errorf("Size(::/0) = %v; want MaxCount", got)
	}
}

func TestCountString(t *testing.T) {
	tests := []struct {
		name string
		c    Count
		want string
	}{
		{"zero", Count{}, "0"},
		{"2^64-1 fits one word", CountOf(math.MaxUint64), "18446744073709551615"},
		{"2^64 needs the high word", Pow2(64), "18446744073709551616"},
		{"2^96, an IPv6 /32", Pow2(96), "79228162514264337593543950336"},
		{"max", MaxCount, "340282366920938463463374607431768211455"},
		{"10^19 boundary keeps zero padding", CountOf(1e19).Mul(1e19), "100000000000000000000000000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.String(); got != tt.want {
				t.Errorf("String = %s; want %s", got, tt.want)
			}
			back, err := ParseCount(tt.want)
			if err != nil || back != tt.c {
				t.Errorf("ParseCount(%s) = %v, %v", tt.want, back, err)
			}
		})
	}
}

func TestCountMatchesBigInt(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	max := MaxCount.big()
	randCount := func() Count {
		switch r.IntN(3) {
		case 0:
			return CountOf(r.Uint64() >> r.IntN(64))
		case 1:
			return Pow2(r.IntN(129))
		}
		return Count{r.Uint64() >> r.IntN(64), r.Uint64()}
	}
	clamp := func(b *big.Int) *big.Int {
		if b.Sign() < 0 {
			return new(big.Int)
		}
		if b.Cmp(max) > 0 {
			return max
		}
		return b
	}
	for range 20000 {
		a, b := randCount(), randCount()
		n := r.Uint64() >> r.IntN(64)
		if got, want := a.Add(b).big(), clamp(new(big.Int).Add(a.big(), b.big())); got.Cmp(want) != 0 {
			t.Fatalf("%v + %v = %v; want %v", a, b, got, want)
		}
		if got, want := a.Sub(b).big(), clamp(new(big.Int).Sub(a.big(), b.big())); got.Cmp(want) != 0 {
			t.Fatalf("%v - %v = %v; want %v", a, b, got, want)
		}
		if got, want := a.Mul(n).big(), clamp(new(big.Int).Mul(a.big(), new(big.Int).SetUint64(n))); got.Cmp(want) != 0 {
			t.Fatalf("%v * %d = %v; want %v", a, n, got, want)
		}
		if got, want := a.Cmp(b), a.big().Cmp(b.big()); got != want {
			t.Fatalf("Cmp(%v, %v) = %d; want %d", a, b, got, want)
		}
		if got, want := a.String(), a.big().String(); got != want {
			t.Fatalf("String = %s; want %s", got, want)
		}
		f, _ := new(big.Float).SetInt(a.big()).Float64()
		if got := a.Float64(); math.Abs(got-f) > f*1e-15 {
			t.Fatalf("Float64(%v) = %g; want %g", a, got, f)
		}
	}
}

func TestCountJSON(t *testing.T) {
	type doc struct {
		Size Count `json:"size"`
	}
	b, err := json.Marshal(doc{Pow2(96)})
	if err != nil || string(b) != `{"size":"79228162514264337593543950336"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	// JSON's safe integers stay numbers; 2^53 + 1 is a string.
	for c, want := range map[Count]string{Pow2(53): `9007199254740992`, Pow2(53).Add(CountOf(1)): `"9007199254740993"`, CountOf(0): `0`} {
		if b, err := json.Marshal(c); err != nil || string(b) != want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", c, b, err, want)
		}
	}
	for _, tc := range []struct {
		c    Count
		n    int
		want Count
	}{{Pow2(96), 64, Pow2(32)}, {Pow2(96), 32, Pow2(64)}, {Pow2(70).Add(CountOf(5)), 3, Pow2(67)}, {CountOf(7), 1, CountOf(3)}, {MaxCount, 128, Count{}}} {
		if got := tc.c.Rsh(tc.n); got != tc.want {
			t.Errorf("%v.Rsh(%d) = %v, want %v", tc.c, tc.n, got, tc.want)
		}
	}
	tests := []struct {
		name, in string
		want     Count
		ok       bool
	}{
		{"exact number", `{"size":79228162514264337593543950336}`, Pow2(96), true},
		{"quoted digits for float-only clients", `{"size":"256"}`, CountOf(256), true},
		{"max fits", `{"size":340282366920938463463374607431768211455}`, MaxCount, true},
		{"2^128 overflows", `{"size":340282366920938463463374607431768211456}`, Count{}, false},
		{"negative rejected", `{"size":-1}`, Count{}, false},
		{"fraction rejected", `{"size":1.5}`, Count{}, false},
		{"exponent rejected", `{"size":1e3}`, Count{}, false},
		{"leading zero rejected", `{"size":"01"}`, Count{}, false},
		{"null leaves zero", `{"size":null}`, Count{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			err := json.Unmarshal([]byte(tt.in), &d)
			if (err == nil) != tt.ok {
				t.Fatalf("Unmarshal(%s) err = %v; want ok=%v", tt.in, err, tt.ok)
			}
			if tt.ok && d.Size != tt.want {
				t.Errorf("Unmarshal(%s) = %v; want %v", tt.in, d.Size, tt.want)
			}
		})
	}
}

func TestPow2PanicsOutOfRange(t *testing.T) {
	for _, n := range []int{-1, 129} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Pow2(%d) did not panic", n)
				}
			}()
			Pow2(n)
		}()
	}
}
