package server

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// Synthesised answers straight to wire. A reverse zone with synthesis
// answers a new name with every query (a resolver walking a /64 never
// asks the same PTR twice), so the packed-answer cache does not help and
// the answer is made each time. Through miekg/dns that costs an unpacked
// query, a message, a compressed length (for truncation) and a
// compressed pack, each with its own compression map: about a third of
// the CPU of an answer besides its signature (bench/README.md,
// "Synthesised answers"). synthReply packs the few shapes such an answer
// has (header, the question as asked, the record, its signatures, OPT)
// itself, byte for byte as the general path would
// (TestSynthReplyMatchesGeneralPath), and leaves everything else to that
// path, questions asked with capitals included.

// synthReply answers the plain query q (fq from parseFast) when its
// answer is one synthesised record; ok is false, with nothing signed or
// spent, when it is not or when the answer needs what only the general
// path does (truncation). It appends the answer to dst.
func (s *Server) synthReply(snap *snapshot, q []byte, fq fastQuery, a netip.Addr, dst []byte) (b []byte, info answerInfo, ok bool) {
	if len(fq.key) < 6 || len(q) < fq.qend+4 {
		return nil, info, false
	}
	qtype := binary.BigEndian.Uint16(q[fq.qend:])
	switch qtype {
	case dns.TypePTR, dns.TypeA, dns.TypeAAAA:
	default:
		return nil, info, false
	}
	tail := fq.key[len(fq.key)-3:]
	edns, do := tail[0] != 0, tail[0] == 2
	size := int(binary.BigEndian.Uint16(tail[1:]))
	lname := fq.key[:len(fq.key)-5]
	if !bytes.Equal(q[12:fq.qend], lname) {
		// Asked in capitals (a resolver's 0x20 bits): the general path
		// answers with the owners in lower case, which then cannot point
		// at the question; its bytes are the ones to give.
		return nil, info, false
	}
	qname, ok := presentName(lname)
	if !ok {
		return nil, info, false
	}
	zd := snap.Find(qname)
	if zd == nil {
		return nil, info, false
	}
	var sp zone.Spender
	if s.budget != nil && a.IsValid() {
		sp = &spender{b: s.budget, key: clientKey(a), now: nowNano()}
	}
	res, ok := zd.LookupSynthesised(qname, qtype, do, sp)
	if !ok || res.OverBudget {
		// Over a budget the general path answers (TC, and its metrics):
		// a refused spend took nothing, so it is refused there again.
		return nil, info, false
	}

	b = append(dst, q[:fq.qend+4]...) // ID and the question as asked
	b[2] = 0x80 | 0x04 | q[2]&0x01    // QR, AA; opcode QUERY; RD kept
	b[3] = q[3] & 0x10                // CD kept; RA, AD clear; NOERROR
	binary.BigEndian.PutUint16(b[4:], 1)
	binary.BigEndian.PutUint16(b[6:], uint16(len(res.Answer)))
	binary.BigEndian.PutUint16(b[8:], 0)
	binary.BigEndian.PutUint16(b[10:], 0)
	if edns {
		binary.BigEndian.PutUint16(b[10:], 1)
	}
	for _, rr := range res.Answer {
		if b, ok = appendSynthRR(b, rr, q[12:fq.qend]); !ok {
			return nil, info, false
		}
	}
	if edns {
		// RFC 6891 §6.1.2: the OPT record, root owner, our UDP size, DO
		// echoed, version 0, no options (the query had none).
		var doBit byte
		if do {
			doBit = 0x80
		}
		b = append(b, 0, byte(dns.TypeOPT>>8), byte(dns.TypeOPT), byte(MaxUDPSize>>8), byte(MaxUDPSize&0xff), 0, 0, doBit, 0, 0, 0)
	}
	if len(b)-len(dst) > size {
		return nil, info, false // truncation: the general path's
	}
	info = answerInfo{cacheable: true, zone: zd.Name(), cls: positiveClass(qname, qtype)}
	return b, info, true
}

// presentName is the presentation form of a lower-case wire name (as
// parseFast keys it) whose labels need no escapes: letters, digits, '-'
// and '_'. Others, and the root, are left to the general path.
func presentName(w []byte) (string, bool) {
	if len(w) < 2 || w[len(w)-1] != 0 {
		return "", false
	}
	for off := 0; w[off] != 0; off += 1 + int(w[off]) {
		l := int(w[off])
		if off+1+l >= len(w) {
			return "", false
		}
		for _, c := range w[off+1 : off+1+l] {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	var out strings.Builder // one allocation: the string itself
	out.Grow(len(w) - 1)
	for off := 0; w[off] != 0; off += 1 + int(w[off]) {
		out.Write(w[off+1 : off+1+int(w[off])])
		out.WriteByte('.')
	}
	return out.String(), true
}

// appendSynthRR appends rr, one record of a synthesised answer whose owner
// is the question's name (qwire, at offset 12), compressed as miekg/dns
// compresses: owner and PTR target against the question's name, the
// RRSIG signer never (RFC 4034 §3.1.7).
func appendSynthRR(b []byte, rr dns.RR, qwire []byte) ([]byte, bool) {
	h := rr.Header()
	b = append(b, 0xc0, 12) // the owner: the question's name
	b = binary.BigEndian.AppendUint16(b, h.Rrtype)
	b = binary.BigEndian.AppendUint16(b, h.Class)
	b = binary.BigEndian.AppendUint32(b, h.Ttl)
	lenAt := len(b)
	b = append(b, 0, 0)
	ok := true
	switch rr := rr.(type) {
	case *dns.PTR:
		b, ok = appendCompressed(b, rr.Ptr, qwire)
	case *dns.A:
		ip := rr.A.To4()
		if ip == nil {
			return b, false
		}
		b = append(b, ip...)
	case *dns.AAAA:
		if len(rr.AAAA) != 16 {
			return b, false
		}
		b = append(b, rr.AAAA...)
	case *dns.RRSIG:
		b = binary.BigEndian.AppendUint16(b, rr.TypeCovered)
		b = append(b, rr.Algorithm, rr.Labels)
		b = binary.BigEndian.AppendUint32(b, rr.OrigTtl)
		b = binary.BigEndian.AppendUint32(b, rr.Expiration)
		b = binary.BigEndian.AppendUint32(b, rr.Inception)
		b = binary.BigEndian.AppendUint16(b, rr.KeyTag)
		if b, ok = appendCompressed(b, rr.SignerName, nil); !ok {
			return b, false
		}
		n := base64.StdEncoding.DecodedLen(len(rr.Signature))
		b = append(b, make([]byte, n)...)
		m, err := base64.StdEncoding.Decode(b[len(b)-n:], []byte(rr.Signature))
		if err != nil {
			return b, false
		}
		b = b[:len(b)-n+m]
	default:
		return b, false
	}
	if !ok || len(b)-lenAt-2 > 0xffff {
		return b, false
	}
	binary.BigEndian.PutUint16(b[lenAt:], uint16(len(b)-lenAt-2))
	return b, true
}

// appendCompressed appends name (presentation form, fully qualified, no
// escapes) in wire form, its longest suffix equal to a suffix of qwire
// (the question's name at offset 12) as a pointer, the way miekg/dns
// compresses (byte for byte: case matters). qwire nil: no compression.
func appendCompressed(b []byte, name string, qwire []byte) ([]byte, bool) {
	if name == "" || name[len(name)-1] != '.' {
		return b, false
	}
	if name == "." {
		return append(b, 0), true
	}
	for start := 0; start < len(name); {
		if qwire != nil {
			if off, ok := suffixIn(qwire, name[start:]); ok {
				return append(b, 0xc0|byte((12+off)>>8), byte(12+off)), true
			}
		}
		end := start
		for name[end] != '.' {
			if name[end] == '\\' {
				return b, false
			}
			end++
		}
		l := end - start
		if l == 0 || l > 63 {
			return b, false
		}
		b = append(append(b, byte(l)), name[start:end]...)
		start = end + 1
	}
	return append(b, 0), true
}

// suffixIn finds name (presentation, no escapes, ends with a dot) as a
// suffix of the wire name w (which ends with its root label), returning
// its offset in w. Only the suffix of w as long as name in wire form
// (len(name)+1) can be it.
func suffixIn(w []byte, name string) (int, bool) {
	want := len(name) + 1
	for off := 0; off < len(w) && w[off] != 0; off += 1 + int(w[off]) {
		switch rest := len(w) - off; {
		case rest == want:
			return off, wireEquals(w[off:], name)
		case rest < want:
			return 0, false
		}
	}
	return 0, false
}

// wireEquals says whether the wire name w spells name exactly.
func wireEquals(w []byte, name string) bool {
	i := 0
	for off := 0; off < len(w); {
		l := int(w[off])
		if l == 0 {
			return i == len(name)
		}
		if off+1+l > len(w) || i+l >= len(name) || string(w[off+1:off+1+l]) != name[i:i+l] || name[i+l] != '.' {
			return false
		}
		i += l + 1
		off += 1 + l
	}
	return false
}

// synthMiss is missReply for a synthesised answer (synthReply): the
// answer is kept, counted, rate-limited and logged as the general path
// does; ok is false when synthReply leaves q to that path.
func (s *Server) synthMiss(snap *snapshot, q, key []byte, a netip.Addr) (wire []byte, done, ok bool) {
	// key holds the question's name as q does (lower-cased), then the
	// type, EDNS state and size (parseFast).
	fq := fastQuery{key: key, qstart: 12, qend: 12 + len(key) - 5}
	var scratch [512]byte
	b, info, ok := s.synthReply(snap, q, fq, a, scratch[:0])
	if !ok {
		return nil, false, false
	}
	wire = append([]byte(nil), b...) // kept and sent: never written again
	qtype := binary.BigEndian.Uint16(q[fq.qend:])
	count := s.met.counter(info.zone, qtype, dns.RcodeSuccess)
	snap.wire.put(key, &wireEntry{wire: wire, cls: info.cls, count: count})
	count.Add(1)
	if s.rrl != nil {
		switch s.rrl.check(a, info.cls, nowNano()) {
		case rrlDrop:
			s.met.rrlDropped.Add(1)
			return nil, true, true
		case rrlSlip:
			s.met.rrlSlipped.Add(1)
			s.met.truncated[tcSlip].Add(1)
			return slipReply(nil, q, fq.qend), true, true
		}
	}
	if n := s.opt.QueryLogSample; n > 0 && s.qlogSeen.Add(1)%uint64(n) == 0 {
		if name, _, err := dns.UnpackDomainName(q, 12); err == nil {
			do := key[len(key)-3] == 2
			s.logQuery(asker{addr: a}, name, qtype, dns.RcodeSuccess, len(wire),
				flagString(true, false, q[2]&0x01 != 0, q[3]&0x10 != 0, do, cookieMissing))
		}
	}
	return wire, true, true
}
