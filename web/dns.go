package web

import (
	"context"
	"net/http"
	"time"
)

// The DNS page (issue 13 item 7): the zones cadastre serves, their
// signing state, keys and rollover stage, the DS to give the parent, the
// serial, and the secondaries' last transfer where it is recorded. It is
// an operator's page: zones hold every tenant's names.
//
// The page depends on ZoneLister, not on the DNS package: cmd/cadastre
// adapts the authoritative DNS's zone manager to it, so the UI does not
// follow that package's layout.

// ZoneLister lists the authoritative zones with their DNSSEC state, for
// the DNS page.
type ZoneLister interface {
	ZoneStatuses(ctx context.Context) ([]ZoneStatus, error)
}

// ZoneStatus is one zone as the DNS page shows it.
type ZoneStatus struct {
	Name   string // fully qualified
	Kind   string // forward or reverse
	Prefix string // a reverse zone's address space, "" otherwise
	// Serial is the SOA serial last published, 0 before the DNS server
	// first served the zone.
	Serial uint32
	Signed bool
	// Algorithm and Denial are the signing algorithm and the
	// authenticated denial (nsec, nsec3); "" when unsigned.
	Algorithm, Denial string
	// Rollover says the rollover policy in words ("ZSK every 720h0m0s;
	// KSK by hand"), "" when unsigned.
	Rollover string
	Keys     []ZoneKey
	// DS are the DS records to give the parent, in presentation format;
	// none when unsigned.
	DS []string
	// Notify are the secondaries told of each new serial.
	Notify []string
	// Transfers are the secondaries' last transfers. TransfersRecorded
	// is false when the server keeps no such record: the page says so
	// rather than showing an empty list as "never".
	Transfers         []Transfer
	TransfersRecorded bool
}

// ZoneKey is one DNSSEC key of a zone with its RFC 7583 timeline.
type ZoneKey struct {
	Role      string // csk, ksk or zsk
	Tag       uint16
	Algorithm string
	State     string // active, published or retired
	// Stage is the key's place in a rollover, in words (for example
	// "published, waiting to sign" or "waiting for the parent's DS").
	Stage                                string
	Created, Published, Active, Inactive time.Time
	Removed, DSConfirmed                 time.Time
}

// Transfer is a secondary's last zone transfer.
type Transfer struct {
	Secondary string
	Kind      string // AXFR or IXFR
	Serial    uint32
	At        time.Time
}

// dnsView is the data of templates/pages/dns.html.
type dnsView struct {
	Served bool // this process has a ZoneLister
	Zones  []ZoneStatus
}

func (s *Server) pageDNS(w http.ResponseWriter, r *http.Request) error {
	v := dnsView{}
	if s.cfg.DNS != nil {
		zs, err := s.cfg.DNS.ZoneStatuses(r.Context())
		if err != nil {
			return err
		}
		v.Served, v.Zones = true, zs
	}
	return s.render(w, r, http.StatusOK, "dns", v)
}
