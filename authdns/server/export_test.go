package server

import (
	"net/netip"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// FastReply is the UDP fast path's answer to q, for tests.
func (s *Server) FastReply(q []byte) ([]byte, bool) {
	return s.fastReply(s.snap.Load(), q, netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil, nil)
}

// CheckHashes recomputes the content hash of every zone served from all
// its records and compares it with the one kept up to date build by
// build, for tests of incremental builds.
func (s *Server) CheckHashes() error { return s.snap.Load().CheckHashes() }

// BuiltAt is the event-log position of the build that made the version
// of zone served now: a zone not built again keeps its old one.
func (s *Server) BuiltAt(zoneName string) int64 {
	if zd := s.snap.Load().Zone(zoneName); zd != nil {
		return zd.Seq()
	}
	return -1
}

// BuiltThrough is the event-log position the snapshot served now was
// built at (every zone of it reflects the log up to there).
func (s *Server) BuiltThrough() int64 { return s.snap.Load().Seq() }

// BuildStats counts the zone versions built in full and from the change.
func (s *Server) BuildStats() zone.BuildStats { return s.build.Stats() }

// SynthReply is the fast path's own packing of a synthesised answer to
// q (synthReply), from 127.0.0.1: false when it leaves q to the general
// path.
func (s *Server) SynthReply(q []byte) ([]byte, bool) {
	fq, ok := parseFast(q, nil)
	if !ok {
		return nil, false
	}
	b, _, ok := s.synthReply(s.snap.Load(), q, fq, netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil)
	return b, ok
}

// ZoneRecords is every record of a zone served now, SOA first, in
// canonical order (zone.Data.Transfer): what an AXFR must carry.
func (s *Server) ZoneRecords(zoneName string) []dns.RR {
	if zd := s.snap.Load().Zone(zoneName); zd != nil {
		return zd.Transfer()
	}
	return nil
}
