package server

import (
	"net/netip"
	"testing"
)

// Budgets and limits are per client network: an IPv4 /24, an IPv6 /56,
// an IPv4-mapped address as its IPv4 form, and the families apart.
func TestClientKeyIsTheClientNetwork(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"two addresses of one IPv4 /24", "192.0.2.1", "192.0.2.254", true},
		{"neighbouring IPv4 /24s", "192.0.2.1", "192.0.3.1", false},
		{"127.0.0.1 and 127.0.0.2 are one network", "127.0.0.1", "127.0.0.2", true},
		{"two addresses of one IPv6 /56", "2001:db8:0:ff::1", "2001:db8:0:1::2", true},
		{"neighbouring IPv6 /56s", "2001:db8:0:ff::1", "2001:db8:0:100::1", false},
		{"an IPv4-mapped address is its IPv4 form", "::ffff:192.0.2.7", "192.0.2.9", true},
		{"the families apart", "0.0.0.1", "::1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := clientKey(netip.MustParseAddr(tc.a)), clientKey(netip.MustParseAddr(tc.b))
			if (a == b) != tc.same {
				t.Fatalf("%s -> %x, %s -> %x: same %v, want %v", tc.a, a, tc.b, b, a == b, tc.same)
			}
		})
	}
}

// A token bucket gives its burst at once, then the rate; RRL slips every
// slip-th limited response and drops the others; each class and each
// client network has its own bucket.
func TestRRLBuckets(t *testing.T) {
	l := newRRL(10, 2)
	a, other := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.1")
	now := int64(1e18)
	count := func(a netip.Addr, cls uint64, n int, at int64) (send, drop, slip int) {
		for range n {
			switch l.check(a, cls, at) {
			case rrlSend:
				send++
			case rrlDrop:
				drop++
			case rrlSlip:
				slip++
			}
		}
		return
	}
	if s, d, sl := count(a, 1, 30, now); s != 10 || d != 10 || sl != 10 {
		t.Fatalf("30 at once at 10/s: %d sent, %d dropped, %d slipped; want 10, 10, 10", s, d, sl)
	}
	if s, _, _ := count(other, 1, 10, now); s != 10 {
		t.Fatalf("another network: %d of 10 sent", s)
	}
	if s, _, _ := count(a, 2, 10, now); s != 10 {
		t.Fatalf("another class: %d of 10 sent", s)
	}
	if s, _, _ := count(a, 1, 10, now+int64(5e8)); s != 5 {
		t.Fatalf("half a second later: %d sent, want 5", s)
	}
	if newRRL(0, 2) != nil {
		t.Fatal("rate 0 is no limit")
	}
	b := newSignBudget(100)
	sp := &spender{b: b, key: clientKey(a), now: now}
	for i := range 100 {
		if !sp.Spend(2) {
			t.Fatalf("signature %d of a burst of 200 refused", 2*i)
		}
	}
	if sp.Spend(1) || !sp.refused {
		t.Fatal("past the burst: not refused")
	}
	if other := (&spender{b: b, key: clientKey(other), now: now}); !other.Spend(2) {
		t.Fatal("another network's budget is spent too")
	}
}

// slipReply is the query's header and question with QR and TC set, the
// ID, opcode, RD and CD kept, and nothing else.
func TestSlipReply(t *testing.T) {
	q := []byte{0x12, 0x34, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 1, 3, 'w', 'w', 'w', 0, 0, 1, 0, 1, 0, 0, 41, 4, 0xd0, 0, 0, 0x80, 0, 0, 0}
	got := slipReply(nil, q, 17)
	want := []byte{0x12, 0x34, 0x83, 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 0, 0, 1, 0, 1}
	if string(got) != string(want) {
		t.Fatalf("got % x\nwant % x", got, want)
	}
}
