package server

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// Fairness under floods. Two limits, both per client network (an IPv4
// /24, an IPv6 /56: what one site or one customer usually holds, so that
// a flooder cannot escape by rotating addresses inside its own network):
//
//   - the online signing budget (signBudget): signatures made per query
//     for synthesised names, compact denial and NSEC3 white lies cost
//     CPU, so each client network may have only so many per second; past
//     it a UDP asker gets TC and comes back over TCP, a TCP asker gets
//     SERVFAIL. The zone's own budget (Options.OnlineRate) still bounds
//     all askers together.
//   - response-rate limiting (rrl), as BIND's RRL: UDP responses per
//     second per client network and answer class (one name and type; or
//     one zone for the denials and referrals a
//     random-subdomain flood makes; or errors). Past it, responses are
//     dropped, except every Slip-th, which becomes an empty reply with TC
//     set: a spoofed victim is not flooded, while an honest asker behind
//     the same network retries over TCP, which is not limited. Askers
//     that show a valid server cookie (cookie.go) are not limited either:
//     their address is proven.

// Defaults, from measured capacity (bench/README.md, "DNS under floods").
const (
	// DefaultOnlineRate is the zone-wide online signing budget, all
	// askers together (zone.DefaultOnlineRate).
	DefaultOnlineRate = zone.DefaultOnlineRate
	// DefaultClientSignRate is each client network's share: a tenth of
	// the zone's, so that ten flooding networks are needed to spend it,
	// and far above what a resolver asks of new synthesised names.
	DefaultClientSignRate = 1000
	// DefaultRRLRate is the CLI's response-rate limit: identical
	// responses a second to one client network (a resolver caches them;
	// BIND suggests 5 to 20).
	DefaultRRLRate = 20
)

// clientKey names the client network of a: its /24 or /56, packed into
// 64 bits (bit 63 tells the families apart).
func clientKey(a netip.Addr) uint64 {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return 1<<63 | uint64(b[0])<<16 | uint64(b[1])<<8 | uint64(b[2])
	}
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]) >> 8 // the first 56 bits
}

// mix is splitmix64's finaliser: a well-spread 64-bit hash of x.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// bucketShards and bucketSlots size a bucketTable: 64 shards of 1024
// token buckets, 64 Ki buckets in all (about 2 MiB).
const (
	bucketShards = 64
	bucketSlots  = 1024
)

// bucketTable holds token buckets by 64-bit key in a fixed number of
// slots, so that a flood of new keys (spoofed sources) costs no memory:
// a key that lands on a slot held by another key takes it over with a
// full bucket. Keys are hashed with a per-server seed, so that an
// attacker cannot pick keys that share an honest client's slot.
type bucketTable struct {
	seed   uint64
	rate   float64 // tokens per second
	burst  float64
	shards [bucketShards]bucketShard
}

type bucketShard struct {
	mu    sync.Mutex
	slots [bucketSlots]bucket
}

type bucket struct {
	key     uint64
	tokens  float64
	last    int64  // unix nanoseconds of the last refill
	limited uint32 // responses refused since the bucket was last full (for slip)
}

func newBucketTable(rate, burst float64) *bucketTable {
	return &bucketTable{seed: rand.Uint64(), rate: rate, burst: burst}
}

// slot returns the locked shard and bucket for key, refilled to now.
func (t *bucketTable) slot(key uint64, now int64) (*bucketShard, *bucket) {
	h := mix(key ^ t.seed)
	sh := &t.shards[h%bucketShards]
	sh.mu.Lock()
	b := &sh.slots[(h/bucketShards)%bucketSlots]
	if b.key != h || b.last == 0 {
		*b = bucket{key: h, tokens: t.burst, last: now}
		return sh, b
	}
	if now > b.last {
		b.tokens = min(t.burst, b.tokens+float64(now-b.last)/1e9*t.rate)
		b.last = now
	}
	return sh, b
}

// take takes n tokens from key's bucket if it has them.
func (t *bucketTable) take(key uint64, n float64, now int64) bool {
	sh, b := t.slot(key, now)
	ok := b.tokens >= n
	if ok {
		b.tokens -= n
	}
	sh.mu.Unlock()
	return ok
}

// rrlAction is what response-rate limiting does with one response.
type rrlAction uint8

const (
	rrlSend rrlAction = iota
	rrlDrop
	rrlSlip // send an empty reply with TC set instead
)

// rrl is response-rate limiting (see the top of this file).
type rrl struct {
	t    *bucketTable
	slip uint32
}

// newRRL limits to rate responses a second per client network and answer
// class, with a burst of one second's worth; every slip-th limited
// response slips (0: none do). rate 0 means no limit (nil).
func newRRL(rate float64, slip int) *rrl {
	if rate <= 0 {
		return nil
	}
	return &rrl{t: newBucketTable(rate, max(rate, 1)), slip: uint32(max(slip, 0))}
}

// check decides the fate of one UDP response of answer class cls to a.
func (l *rrl) check(a netip.Addr, cls uint64, now int64) rrlAction {
	if l == nil {
		return rrlSend
	}
	sh, b := l.t.slot(clientKey(a)^mix(cls), now)
	act := rrlSend
	if b.tokens >= 1 {
		b.tokens--
		b.limited = 0
	} else {
		b.limited++
		act = rrlDrop
		if l.slip > 0 && b.limited%l.slip == 0 {
			act = rrlSlip
		}
	}
	sh.mu.Unlock()
	return act
}

// signBudget is the online signing budget of every client network.
type signBudget struct{ t *bucketTable }

// newSignBudget lets each client network make rate signatures a second,
// with a burst of two seconds' worth; rate 0 means no per-client limit.
func newSignBudget(rate float64) *signBudget {
	if rate <= 0 {
		return nil
	}
	return &signBudget{t: newBucketTable(rate, 2*rate)}
}

// spender is one query's zone.Spender: its client network's budget.
type spender struct {
	b       *signBudget
	key     uint64
	now     int64
	refused bool // the client's budget said no (not the zone's)
}

func (s *spender) Spend(n int) bool {
	if s.b.t.take(s.key, float64(n), s.now) {
		return true
	}
	s.refused = true
	return false
}

// slipReply turns the query q (a plain one, header and question) into an
// empty reply with TC set, appended to dst.
func slipReply(dst, q []byte, qend int) []byte {
	b := append(dst, q[:qend+4]...)
	b[2] = b[2]&0x79 | 0x80 | 0x02 // QR and TC; opcode kept; AA clear; RD kept
	b[3] &= 0x10                   // CD kept; RA, AD clear; NOERROR
	binary.BigEndian.PutUint16(b[4:], 1)
	clear(b[6:12])
	return b
}

// nowNano is the clock of the limits: monotonic-enough wall time in
// nanoseconds. The limits measure rates, so they use the real clock even
// when Options.Now is a test's: a test that travels in time must not
// refill every bucket.
func nowNano() int64 { return time.Now().UnixNano() }

// answerClass is the response-rate limiting class of m (BIND's RRL
// classes): a positive answer is limited per name and type; the answers
// a random-subdomain flood makes (denials, referrals, and replies the
// signing budget truncated) per zone, so that new names do not make new
// classes; errors per response code.
func answerClass(m *dns.Msg, info answerInfo) uint64 {
	h := uint64(14695981039346656037) // FNV-1a
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
		h ^= 0xff // a separator
		h *= 1099511628211
	}
	switch {
	case info.overBudget:
		add("b")
		add(info.zone)
	case m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError || info.zone == "" || len(m.Question) != 1:
		add("e")
		add(strconv.Itoa(m.Rcode))
	case m.Rcode == dns.RcodeNameError || len(m.Answer) == 0 && !m.Authoritative:
		add("n") // NXDOMAIN, or a referral
		add(info.zone)
	case len(m.Answer) == 0:
		add("n") // NODATA
		add(info.zone)
	default:
		// A positive answer, synthesised ones included: their answers
		// are small, and the signed ones are bounded by the signing
		// budget, while a class per zone would limit a resolver that
		// looks up many addresses of one reverse zone.
		q := m.Question[0]
		return positiveClass(strings.ToLower(q.Name), q.Qtype)
	}
	return h
}

// positiveClass is answerClass of a positive answer to qname (lower
// case) and qtype, for the paths that pack answers themselves.
func positiveClass(qname string, qtype uint16) uint64 {
	h := uint64(14695981039346656037) // FNV-1a, as answerClass
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
		h ^= 0xff
		h *= 1099511628211
	}
	add("a")
	add(qname)
	add(strconv.Itoa(int(qtype)))
	return h
}
