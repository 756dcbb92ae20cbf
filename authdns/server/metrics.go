package server

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// DNS metrics. Counters are plain atomics, read when Prometheus scrapes
// (Collector): the UDP fast path adds to a counter it found once, when it
// kept the answer, so a query costs one atomic add and no label look-up.
// Labels are bounded: the zone is a configured zone's name or "other",
// the query type one of metricTypes or "other", the rcode one of DNS's.

// metricTypes are the query types counted under their own name.
var metricTypes = map[uint16]bool{
	dns.TypeA: true, dns.TypeAAAA: true, dns.TypePTR: true, dns.TypeNS: true, dns.TypeSOA: true, dns.TypeMX: true,
	dns.TypeTXT: true, dns.TypeSRV: true, dns.TypeCNAME: true, dns.TypeDNAME: true, dns.TypeDS: true, dns.TypeDNSKEY: true,
	dns.TypeNSEC: true, dns.TypeNSEC3: true, dns.TypeNSEC3PARAM: true, dns.TypeRRSIG: true, dns.TypeCAA: true,
	dns.TypeHTTPS: true, dns.TypeSVCB: true, dns.TypeNAPTR: true, dns.TypeTLSA: true, dns.TypeCDS: true,
	dns.TypeCDNSKEY: true, dns.TypeANY: true, dns.TypeAXFR: true, dns.TypeIXFR: true,
}

// queryKey is one series of cadastre_dns_queries_total.
type queryKey struct {
	zone  string
	qtype string
	rcode string
}

// Reasons for a truncated (TC) UDP reply.
const (
	tcSize   = iota // the answer did not fit
	tcBudget        // the online signing budget was spent
	tcSlip          // response-rate limiting slipped it
	tcReasons
)

var tcNames = [tcReasons]string{"size", "sign_budget", "rrl_slip"}

// Outcomes of transfers and NOTIFY.
const (
	xfrOK       = iota // streamed whole
	xfrUpToDate        // IXFR answered with the current SOA alone
	xfrUDPSOA          // IXFR over UDP answered with the SOA alone (RFC 1995 §2): retry over TCP
	xfrRefused         // not allowed, not a zone, or AXFR over UDP
	xfrFailed          // the stream broke, or a bad request
	xfrOutcomes
)

var xfrNames = [xfrOutcomes]string{"ok", "up_to_date", "udp_soa", "refused", "failed"}

const (
	notifyAcked = iota
	notifyUnanswered
	notifyOutcomes
)

var notifyNames = [notifyOutcomes]string{"acked", "unanswered"}

// metrics are a server's DNS counters.
type metrics struct {
	queries sync.Map // queryKey -> *atomic.Uint64

	truncated     [tcReasons]atomic.Uint64
	budgetClient  atomic.Uint64 // refused by the client network's signing budget
	budgetZone    atomic.Uint64 // refused by the zone's signing budget
	rrlDropped    atomic.Uint64
	rrlSlipped    atomic.Uint64
	cookies       [cookieStates]atomic.Uint64
	badCookieSent atomic.Uint64
	transfers     [2][xfrOutcomes]atomic.Uint64 // [0] AXFR, [1] IXFR
	notifies      [notifyOutcomes]atomic.Uint64
}

// counter is the query counter of a zone ("" for none of ours), query
// type and rcode.
func (m *metrics) counter(zone string, qtype uint16, rcode int) *atomic.Uint64 {
	k := queryKey{zone: zone, qtype: "other", rcode: strconv.Itoa(rcode)}
	if k.zone == "" {
		k.zone = "other"
	}
	if metricTypes[qtype] {
		k.qtype = dns.TypeToString[qtype]
	}
	if s, ok := dns.RcodeToString[rcode]; ok {
		k.rcode = s
	}
	if c, ok := m.queries.Load(k); ok {
		return c.(*atomic.Uint64)
	}
	c, _ := m.queries.LoadOrStore(k, new(atomic.Uint64))
	return c.(*atomic.Uint64)
}

var (
	descQueries   = prometheus.NewDesc("cadastre_dns_queries_total", "DNS queries answered (UDP and TCP, transfers apart), by zone (a configured zone, or other), query type and response code.", []string{"zone", "qtype", "rcode"}, nil)
	descTruncated = prometheus.NewDesc("cadastre_dns_truncated_total", "UDP replies sent with TC set, by reason: size (the answer did not fit), sign_budget (an online signature was past a budget), rrl_slip (response-rate limiting).", []string{"reason"}, nil)
	descSigs      = prometheus.NewDesc("cadastre_dns_online_signatures_total", "Signatures made per query (synthesised names, compact denial, NSEC3 white lies).", nil, nil)
	descBudget    = prometheus.NewDesc("cadastre_dns_sign_budget_refusals_total", "Answers that needed an online signature past a budget, by whose budget: client (the asker's /24 or /56) or zone (all askers of the zone).", []string{"budget"}, nil)
	descRRL       = prometheus.NewDesc("cadastre_dns_rrl_total", "UDP responses response-rate limiting held back, by action: drop (not sent) or slip (sent empty with TC, or BADCOOKIE to a cookie client).", []string{"action"}, nil)
	descCookies   = prometheus.NewDesc("cadastre_dns_cookies_total", "Queries by their DNS cookie (RFC 7873): missing, client_only, valid (a server cookie of ours), bad (a server cookie not ours or out of date), malformed.", []string{"cookie"}, nil)
	descBadCookie = prometheus.NewDesc("cadastre_dns_badcookie_sent_total", "BADCOOKIE replies sent (each with a new server cookie).", nil, nil)
	descTransfers = prometheus.NewDesc("cadastre_dns_transfers_total", "Zone transfer requests by kind (AXFR, IXFR; an IXFR that falls back to a full transfer counts as AXFR) and outcome (ok, up_to_date, udp_soa, refused, failed).", []string{"kind", "outcome"}, nil)
	descNotifies  = prometheus.NewDesc("cadastre_dns_notifies_total", "NOTIFY messages sent to secondaries, by outcome: acked, unanswered (after every retry).", []string{"outcome"}, nil)
	descFast      = prometheus.NewDesc("cadastre_dns_fast_answers_total", "UDP answers sent by the fast path (packed answers kept per zone version).", nil, nil)
)

// Collector is the server's DNS metrics, to register with a Prometheus
// registry (serve does, on --metrics-listen).
func (s *Server) Collector() prometheus.Collector { return (*collector)(s) }

type collector Server

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueries, descTruncated, descSigs, descBudget, descRRL, descCookies, descBadCookie, descTransfers, descNotifies, descFast} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := &c.met
	cnt := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	var total uint64
	m.queries.Range(func(k, v any) bool {
		q := k.(queryKey)
		n := v.(*atomic.Uint64).Load()
		total += n
		cnt(descQueries, n, q.zone, q.qtype, q.rcode)
		return true
	})
	for i := range m.truncated {
		cnt(descTruncated, m.truncated[i].Load(), tcNames[i])
	}
	cnt(descSigs, (*Server)(c).OnlineSignatures())
	cnt(descBudget, m.budgetClient.Load(), "client")
	cnt(descBudget, m.budgetZone.Load(), "zone")
	cnt(descRRL, m.rrlDropped.Load(), "drop")
	cnt(descRRL, m.rrlSlipped.Load(), "slip")
	// The fast path counts a query once, in queries: every query it
	// answers had no cookie (it takes no EDNS options), so missing is
	// what the other states leave of the total.
	var withCookie uint64
	for i := range m.cookies {
		if i != int(cookieMissing) {
			n := m.cookies[i].Load()
			withCookie += n
			cnt(descCookies, n, cookieStateNames[i])
		}
	}
	cnt(descCookies, total-min(total, withCookie), cookieStateNames[cookieMissing])
	cnt(descBadCookie, m.badCookieSent.Load())
	for k, kind := range []string{"AXFR", "IXFR"} {
		for o := range xfrOutcomes {
			cnt(descTransfers, m.transfers[k][o].Load(), kind, xfrNames[o])
		}
	}
	for o := range notifyOutcomes {
		cnt(descNotifies, m.notifies[o].Load(), notifyNames[o])
	}
	cnt(descFast, c.fastAnswers.Load())
}

// account counts an answer the full path made, logs it if sampled, and
// applies response-rate limiting to it over UDP (askers with a valid
// server cookie apart). It returns what to send: m, a slipped reply in
// its place, or nil to drop it.
func (s *Server) account(r, m *dns.Msg, c asker, info answerInfo) *dns.Msg {
	qtype := uint16(0)
	if len(r.Question) == 1 {
		qtype = r.Question[0].Qtype
	}
	s.met.counter(info.zone, qtype, m.Rcode).Add(1)
	if info.cookie != cookieMissing {
		s.met.cookies[info.cookie].Add(1)
	}
	tc := tcSize
	if info.overBudget {
		tc = tcBudget
	}
	if !c.tcp && s.rrl != nil && info.cookie != cookieValid {
		switch s.rrl.check(c.addr, info.cls, nowNano()) {
		case rrlDrop:
			s.met.rrlDropped.Add(1)
			return nil
		case rrlSlip:
			s.met.rrlSlipped.Add(1)
			m, tc = slipMsg(r, info), tcSlip
		}
	}
	if m.Rcode == dns.RcodeBadCookie {
		s.met.badCookieSent.Add(1)
	}
	if !c.tcp && m.Truncated {
		s.met.truncated[tc].Add(1)
	}
	if n := s.opt.QueryLogSample; n > 0 && s.qlogSeen.Add(1)%uint64(n) == 0 {
		name := ""
		if len(r.Question) == 1 {
			name = r.Question[0].Name
		}
		do := false
		if o := r.IsEdns0(); o != nil {
			do = o.Do()
		}
		s.logQuery(c, name, qtype, m.Rcode, m.Len(), flagString(m.Authoritative, m.Truncated, m.RecursionDesired, m.CheckingDisabled, do, info.cookie))
	}
	return m
}

// slipMsg is what a rate-limited response slips to: BADCOOKIE with a
// new server cookie for an asker that sent a client cookie (it retries
// with the cookie and is no longer limited), else an empty reply with TC
// set (it retries over TCP).
func slipMsg(r *dns.Msg, info answerInfo) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable, m.AuthenticatedData = false, false
	if info.cookieOpt != nil {
		m.SetEdns0(MaxUDPSize, false)
		o := m.IsEdns0()
		o.Option = append(o.Option, info.cookieOpt)
		m.Rcode = dns.RcodeBadCookie
		return m
	}
	m.Truncated = true
	return m
}

// logQuery writes one sampled query to the log.
func (s *Server) logQuery(c asker, qname string, qtype uint16, rcode, size int, flags string) {
	proto := "udp"
	if c.tcp {
		proto = "tcp"
	}
	rc, ok := dns.RcodeToString[rcode]
	if !ok {
		rc = strconv.Itoa(rcode)
	}
	s.log.Info("dns query", "client", c.addr.String(), "proto", proto, "qname", qname, "qtype", dns.Type(qtype).String(), "rcode", rc, "size", size, "flags", flags)
}

// flagString names the flags of a logged query and its answer, as dig
// does ("aa tc rd cd do cookie=valid").
func flagString(aa, tc, rd, cd, do bool, ck cookieState) string {
	var b []byte
	for _, f := range []struct {
		on   bool
		name string
	}{{aa, "aa"}, {tc, "tc"}, {rd, "rd"}, {cd, "cd"}, {do, "do"}} {
		if f.on {
			if len(b) > 0 {
				b = append(b, ' ')
			}
			b = append(b, f.name...)
		}
	}
	if ck != cookieMissing {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, "cookie="+cookieStateNames[ck]...)
	}
	return string(b)
}
