package server

import (
	"context"
	"iter"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// transfer answers AXFR and IXFR (RFC 5936, RFC 1995). It streams the
// answer itself and returns nil, or returns a refusal. Only the real
// records transfer: synthesised names are made by cadastre per query and
// a secondary cannot serve them (for ip6.arpa zones with --synthesize,
// point the parent's NS at cadastre's servers, not only at secondaries).
func (s *Server) transfer(w dns.ResponseWriter, r *dns.Msg, tcp bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	q := r.Question[0]
	kind := 0 // AXFR, as in metrics.transfers
	if q.Qtype == dns.TypeIXFR {
		kind = 1
	}
	zd := s.snap.Load().Zone(strings.ToLower(q.Name))
	if zd == nil {
		s.met.transfers[kind][xfrRefused].Add(1)
		m.Rcode = dns.RcodeRefused // not a zone apex we serve: RFC 5936 §2.2.1
		return m
	}
	var key string
	if t := r.IsTsig(); t != nil {
		// Verified: ServeDNS answers a failed TSIG before any transfer.
		key = strings.ToLower(t.Hdr.Name)
	}
	addr := remoteAddr(w)
	if z := zd.Zone(); !allowed(&z, addr, key) {
		s.log.Warn("dns transfer refused", "zone", zd.Name(), "from", addr.String(), "tsig", key)
		s.met.transfers[kind][xfrRefused].Add(1)
		m.Rcode = dns.RcodeRefused
		return m
	}
	soa := zd.SOA()
	if q.Qtype == dns.TypeIXFR {
		var have uint32
		ok := false
		if len(r.Ns) == 1 {
			if c, isSOA := r.Ns[0].(*dns.SOA); isSOA {
				have, ok = c.Serial, true
			}
		}
		if !ok {
			s.met.transfers[kind][xfrFailed].Add(1)
			m.Rcode = dns.RcodeFormatError // RFC 1995 §3: the client's SOA is required
			return m
		}
		if !serialLess(have, zd.Serial()) {
			// Up to date (or ahead of us): the current SOA alone.
			s.met.transfers[kind][xfrUpToDate].Add(1)
			m.Authoritative = true
			m.Answer = []dns.RR{soa}
			return m
		}
		if !tcp {
			// RFC 1995 §2: over UDP, a reply that does not fit is just the SOA.
			s.met.transfers[kind][xfrUDPSOA].Add(1)
			m.Authoritative = true
			m.Answer = []dns.RR{soa}
			return m
		}
		if x := s.incremental(zd, have); x != nil {
			if s.stream(w, r, x.Records()) && x.Err() == nil {
				s.met.transfers[1][xfrOK].Add(1)
				s.xfrs.record(Transfer{Zone: zd.Name(), Secondary: addr, Key: key, Kind: "IXFR", Serial: zd.Serial(), At: s.opt.Now()})
			} else {
				if x.Err() != nil {
					s.log.Warn("dns journal", "zone", zd.Name(), "err", x.Err())
				}
				s.met.transfers[1][xfrFailed].Add(1)
			}
			return nil
		}
	}
	if !tcp {
		s.met.transfers[kind][xfrRefused].Add(1)
		m.Rcode = dns.RcodeRefused // RFC 5936 §4.2: AXFR only over TCP
		return m
	}
	// AXFR, or IXFR falling back to it when the client's version is no
	// longer in the journal (RFC 1995 §4).
	if s.stream(w, r, zd.TransferSets()) {
		s.met.transfers[0][xfrOK].Add(1)
		s.xfrs.record(Transfer{Zone: zd.Name(), Secondary: addr, Key: key, Kind: "AXFR", Serial: zd.Serial(), At: s.opt.Now()})
	} else {
		s.met.transfers[0][xfrFailed].Add(1)
	}
	return nil
}

func remoteAddr(w dns.ResponseWriter) netip.Addr {
	switch a := w.RemoteAddr().(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// serialLess is RFC 1982 §3.2 comparison: a < b.
func serialLess(a, b uint32) bool {
	return a != b && (a < b && b-a < 1<<31 || a > b && a-b > 1<<31)
}

// incremental is the IXFR answer from serial have to the current
// version, read from the store's journal as it is sent, or nil if the
// journal does not lead from have to the current serial (the caller
// falls back to AXFR).
func (s *Server) incremental(zd *zone.Data, have uint32) *zone.IXFR {
	x, err := zd.IncrementalTransfer(context.Background(), s.store, have)
	if err != nil {
		s.log.Warn("dns journal", "zone", zd.Name(), "err", err)
		return nil
	}
	return x
}

// stream writes the records of parts, in order, in messages of at most
// about 16 KiB each as they come (the first part in a message of its
// own), and reports whether the whole transfer reached the peer.
func (s *Server) stream(w dns.ResponseWriter, r *dns.Msg, parts iter.Seq[[]dns.RR]) bool {
	ch := make(chan *dns.Envelope)
	tr := new(dns.Transfer)
	errc := make(chan error, 1)
	go func() { errc <- tr.Out(w, r, ch) }()
	// send hands one message's records to the transfer, or says it has
	// ended (the peer went away).
	send := func(batch []dns.RR) bool {
		select {
		case ch <- &dns.Envelope{RR: batch}:
			return true
		case err := <-errc:
			s.log.Warn("dns transfer", "err", err)
			close(ch)
			return false
		}
	}
	var batch []dns.RR
	size := 0
	first := true
	for rrs := range parts {
		for _, rr := range rrs {
			l := dns.Len(rr)
			if size+l > 16000 && len(batch) > 0 {
				if !send(batch) {
					return false
				}
				batch, size = nil, 0
			}
			batch = append(batch, rr)
			size += l
		}
		if first && len(batch) > 0 {
			// The first part goes at once: a secondary waits for each
			// message with a timeout (Knot's tcp-remote-io-timeout, 5 s),
			// and the next part may take a while (an IXFR of several
			// steps reads them all once before it sends their records).
			if !send(batch) {
				return false
			}
			batch, size, first = nil, 0, false
		}
	}
	if len(batch) > 0 && !send(batch) {
		return false
	}
	close(ch)
	err := <-errc
	if err != nil {
		s.log.Warn("dns transfer", "err", err)
	}
	w.Close()
	return err == nil
}

// notify tells zd's secondaries of its new serial (RFC 1996), in the
// background, a few times until each answers. catalogNotify are the
// catalog zone's NOTIFY targets: a zone the catalog lists tells them too,
// as they serve it once they have read the catalog (RFC 9432 §5), and
// would otherwise learn of its changes only at the SOA refresh.
func (s *Server) notify(zd *zone.Data, catalogNotify []string) {
	key := s.notifyKey(zd.Zone())
	for _, target := range notifyTargets(zd.Zone(), catalogNotify) {
		s.notifies.Add(1)
		go func() {
			defer s.notifies.Done()
			m := new(dns.Msg)
			m.SetNotify(zd.Name())
			m.Authoritative = true
			m.Answer = []dns.RR{zd.SOA()}
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			if key != nil {
				c.TsigProvider = &s.tsig
			}
			for try := 0; try < 3; try++ {
				if key != nil {
					// A new time signed each try (RFC 8945 §5.2.3 fudge).
					m.Extra = nil
					m.SetTsig(key.Name, key.Algorithm+".", 300, time.Now().Unix())
				}
				if _, _, err := c.Exchange(m, target); err == nil {
					s.met.notifies[notifyAcked].Add(1)
					return
				}
				select {
				case <-s.stop:
					return
				case <-time.After(time.Duration(try+1) * time.Second):
				}
			}
			s.met.notifies[notifyUnanswered].Add(1)
			s.log.Warn("dns notify unanswered", "zone", zd.Name(), "to", target)
		}()
	}
}

// notifyTargets are the addresses NOTIFY for z goes to: its own, then
// the catalog's (catalogNotify) if the catalog lists z, each once.
func notifyTargets(z zone.Zone, catalogNotify []string) []string {
	out := slices.Clone(z.Config.Notify)
	if zone.InCatalog(z) {
		for _, t := range catalogNotify {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// notifyKey is the key NOTIFY for z is signed with: the first TSIG key
// its transfer ACL names that the server holds, so that a secondary that
// takes transfers only with the key (Knot's acl with key, as
// secondary-config writes it) takes NOTIFY the same way; nil signs
// nothing (an ACL of addresses).
func (s *Server) notifyKey(z zone.Zone) *zone.TSIGSecret {
	m := s.tsig.keys.Load()
	if m == nil {
		return nil
	}
	for _, a := range z.Config.AllowTransfer {
		if n, ok := strings.CutPrefix(a, "key:"); ok {
			if k, ok := (*m)[dns.CanonicalName(n)]; ok {
				return &k
			}
		}
	}
	return nil
}
