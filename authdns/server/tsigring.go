package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// tsigRing is the server's TSIG keys: replaced whole when the register's
// keys change, read by every query without a lock. A published map is
// never written.
type tsigRing struct {
	keys atomic.Pointer[map[string]zone.TSIGSecret]
}

func (r *tsigRing) set(ks []zone.TSIGSecret) {
	m := make(map[string]zone.TSIGSecret, len(ks))
	for _, k := range ks {
		m[k.Name] = k
	}
	r.keys.Store(&m)
}

// Generate implements dns.TsigProvider. A request naming a key with
// another algorithm than the key's is refused (RFC 8945 §5.2.2: BADKEY).
func (r *tsigRing) Generate(msg []byte, t *dns.TSIG) ([]byte, error) {
	m := r.keys.Load()
	if m == nil {
		return nil, dns.ErrSecret
	}
	k, ok := (*m)[strings.ToLower(t.Hdr.Name)]
	if !ok {
		return nil, dns.ErrSecret
	}
	var h func() hash.Hash
	switch strings.TrimSuffix(strings.ToLower(t.Algorithm), ".") {
	case "hmac-sha256":
		h = sha256.New
	case "hmac-sha384":
		h = sha512.New384
	case "hmac-sha512":
		h = sha512.New
	default:
		return nil, dns.ErrKeyAlg
	}
	if strings.TrimSuffix(strings.ToLower(t.Algorithm), ".") != k.Algorithm {
		return nil, dns.ErrKeyAlg
	}
	mac := hmac.New(h, k.Secret)
	mac.Write(msg)
	return mac.Sum(nil), nil
}

// Verify implements dns.TsigProvider.
func (r *tsigRing) Verify(msg []byte, t *dns.TSIG) error {
	b, err := r.Generate(msg, t)
	if err != nil {
		return err
	}
	mac, err := hex.DecodeString(t.MAC)
	if err != nil {
		return err
	}
	if !hmac.Equal(b, mac) {
		return dns.ErrSig
	}
	return nil
}

// tsigRefusal is the reply to a request whose TSIG is misplaced or fails
// verification (status is the network server's verdict), or nil when the
// request is unsigned or verified. RFC 8945:
//   - §5.1: a TSIG that is not the last record, or a second one, is FORMERR;
//   - §5.2: a TSIG that cannot be read (no algorithm name: empty RDATA) is
//     FORMERR too: an error TSIG echoing it would not pack as a name, and
//     the reply would not unpack at the asker;
//   - §5.2.1: an unknown key, or a known key under another algorithm than
//     its own, is NOTAUTH with TSIG error BADKEY;
//   - §5.2.2: a wrong MAC is NOTAUTH with BADSIG;
//   - these two are unsigned (§5.3.2: MAC empty), with the server's time;
//   - §5.2.3: a time outside the fudge is NOTAUTH with BADTIME, signed
//     (ServeDNS's writer signs it: the key and MAC were good), with the
//     request's Time Signed and now, the server's time, in Other Data.
//
// The question and the OPT record are kept, so the asker can match it.
func tsigRefusal(r *dns.Msg, status error, now time.Time) *dns.Msg {
	t := r.IsTsig()
	misplaced := 0
	for _, rr := range r.Extra {
		if rr.Header().Rrtype == dns.TypeTSIG {
			misplaced++
		}
	}
	if t != nil {
		misplaced--
	}
	for _, sec := range [][]dns.RR{r.Answer, r.Ns} {
		for _, rr := range sec {
			if rr.Header().Rrtype == dns.TypeTSIG {
				misplaced++
			}
		}
	}
	if misplaced == 0 && (t == nil || status == nil) {
		return nil
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable, m.AuthenticatedData = false, false
	if o := r.IsEdns0(); o != nil {
		m.SetEdns0(MaxUDPSize, o.Do())
	}
	if misplaced > 0 || t.Algorithm == "" || t.Hdr.Name == "" {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	m.Rcode = dns.RcodeNotAuth
	e := &dns.TSIG{Hdr: dns.RR_Header{Name: t.Hdr.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm: t.Algorithm, Fudge: t.Fudge, OrigId: r.Id, TimeSigned: t.TimeSigned}
	switch {
	case errors.Is(status, dns.ErrSecret), errors.Is(status, dns.ErrKeyAlg):
		e.Error = dns.RcodeBadKey
	case errors.Is(status, dns.ErrTime):
		e.Error = dns.RcodeBadTime
		var b [6]byte
		u := uint64(now.Unix())
		for i := range b {
			b[5-i] = byte(u >> (8 * i))
		}
		e.OtherLen, e.OtherData = 6, hex.EncodeToString(b[:])
	default:
		// A MAC that does not match, or one that cannot be read.
		e.Error = dns.RcodeBadSig
	}
	if e.Error != dns.RcodeBadTime {
		// The server's time, as BIND's named sends: a zero time made dig
		// and nsupdate report "clocks are unsynchronized" before the
		// BADKEY or BADSIG, sending operators to check their clocks
		// (found by an operator's walk-through, session 24).
		e.TimeSigned = uint64(now.Unix())
	}
	m.Extra = append(m.Extra, e)
	return m
}
