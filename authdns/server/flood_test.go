package server_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/internal/testenv"
)

// The two askers of the flood tests. Budgets and rate limits are per
// client network (IPv4 /24), so they sit in different /24s of loopback
// (127.0.0.1 and 127.0.0.2 would be one client network).
const (
	honestAddr  = "127.0.0.1"
	flooderAddr = "127.1.0.1"
)

// client asks the server from the loopback address from.
func udpClient(from string) *dns.Client {
	return &dns.Client{Net: "udp", Timeout: 2 * time.Second, UDPSize: 1232,
		Dialer: &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}}}
}

// synthName is a synthesised name of the IPv6 reverse zone, new for each i.
func synthName(prefix, i int) string {
	return fmt.Sprintf("%x.%x.%x.%x.%x.0.0.0.0.0.0.0.0.0.0.0.%s", i&15, i>>4&15, i>>8&15, i>>12&15, prefix&15, v6Zone)
}

// blast sends every query at once from one UDP socket bound to from and
// collects the replies until none came for a while (dropped queries get
// none): the replies, by ID.
func blast(t *testing.T, from, to string, qs []*dns.Msg) map[uint16]*dns.Msg {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadBuffer(4 << 20)
	got := map[uint16]*dns.Msg{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for len(got) < len(qs) {
			conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) == nil {
				got[m.Id] = m
			}
		}
	}()
	for i, q := range qs {
		q.Id = uint16(i)
		b, err := q.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			time.Sleep(time.Millisecond) // let the socket buffers drain
		}
	}
	<-done
	return got
}

// An honest client's queries for synthesised signed names are answered
// whole over UDP (at least 99 %) while a client of another network
// floods new synthesised names at ten times its signing budget: the
// flooder spends its own budget, not the zone's (issue 14: with one
// budget per zone, 86 % of the honest client's answers were TC).
func TestHonestClientWhileAnotherFloods(t *testing.T) {
	e := newEnv(t, true)
	const budget = 100 // signatures a second per client network
	e.start(server.Options{ClientSignRate: budget, OnlineRate: 20 * budget, RRLRate: 20})
	// The flood: ten times the budget's burst (two seconds' worth) of
	// new names at once, then as many again while the honest client asks.
	const flood = 10 * 2 * budget
	mk := func(prefix, n int) []*dns.Msg {
		var qs []*dns.Msg
		for i := range n {
			m := new(dns.Msg)
			m.SetQuestion(synthName(prefix, i), dns.TypePTR)
			m.SetEdns0(1232, true)
			qs = append(qs, m)
		}
		return qs
	}
	floodDone := make(chan map[uint16]*dns.Msg, 2)
	go func() {
		floodDone <- blast(t, flooderAddr, e.addr, mk(1, flood))
		floodDone <- blast(t, flooderAddr, e.addr, mk(2, flood))
	}()
	first := <-floodDone
	// The honest client: a resolver asking new names one at a time,
	// within its own budget's burst.
	c := udpClient(honestAddr)
	const honest = 150
	whole := 0
	var bad []string
	for i := range honest {
		m := new(dns.Msg)
		m.SetQuestion(synthName(3, i), dns.TypePTR)
		m.SetEdns0(1232, true)
		r, _, err := c.Exchange(m, e.addr)
		switch {
		case err != nil:
			bad = append(bad, err.Error())
		case r.Truncated || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2:
			bad = append(bad, fmt.Sprintf("tc=%v rcode=%s answers=%d", r.Truncated, dns.RcodeToString[r.Rcode], len(r.Answer)))
		default:
			whole++
		}
	}
	second := <-floodDone
	flooderWhole, flooderTC := 0, 0
	for _, got := range []map[uint16]*dns.Msg{first, second} {
		for _, r := range got {
			if r.Truncated {
				flooderTC++
			} else if len(r.Answer) == 2 {
				flooderWhole++
			}
		}
	}
	t.Logf("honest: %d of %d whole over UDP; flooder: %d queries, %d whole, %d TC, the rest dropped", whole, honest, 2*flood, flooderWhole, flooderTC)
	if whole*100 < honest*99 {
		t.Fatalf("honest client: %d of %d answers whole (want 99 %%): %v", whole, honest, bad)
	}
	// The flooder got no more signatures than its budget allows over the
	// test's run (a burst of two seconds' worth, then the rate): far
	// fewer than it asked for.
	if flooderWhole >= flood {
		t.Fatalf("flooder: %d of %d answers whole: its budget did not hold", flooderWhole, 2*flood)
	}
	if flooderTC == 0 {
		t.Fatal("flooder: no TC reply, though past its budget")
	}
	scraped := scrape(t, e.srv)
	if v := metric(t, scraped, `cadastre_dns_sign_budget_refusals_total{budget="client"}`); v == 0 {
		t.Fatal("no refusal by the client budget counted")
	}
	if v := metric(t, scraped, `cadastre_dns_sign_budget_refusals_total{budget="zone"}`); v != 0 {
		t.Fatalf("%v refusals by the zone budget: the flooder spent the zone's", v)
	}
}

// Response-rate limiting: a client network asking one question over and
// over gets it answered at the rate, then every second limited response
// as an empty TC reply (slip) and the others dropped; another network
// asking at the same time is not limited; over TCP nothing is.
func TestRRLSlipsToTheFlooderOnly(t *testing.T) {
	e := newEnv(t, true)
	const rate = 10
	e.start(server.Options{RRLRate: rate, RRLSlip: 2})
	q := func(n int) []*dns.Msg {
		var qs []*dns.Msg
		for range n {
			m := new(dns.Msg)
			m.SetQuestion("www."+fwdZone, dns.TypeA)
			m.SetEdns0(1232, true)
			qs = append(qs, m)
		}
		return qs
	}
	const flood = 300
	got := blast(t, flooderAddr, e.addr, q(flood))
	answered, tc := 0, 0
	for _, r := range got {
		switch {
		case r.Truncated && len(r.Answer) == 0 && len(r.Question) == 1:
			tc++
		case len(r.Answer) > 0:
			answered++
		default:
			t.Fatalf("flooder got %v", r)
		}
	}
	dropped := flood - len(got)
	t.Logf("flooder: %d answered, %d TC, %d dropped", answered, tc, dropped)
	if answered > flood/4 || tc == 0 || dropped == 0 {
		t.Fatalf("flooder of %d: %d answered, %d TC, %d dropped; want about %d answered, the rest half TC, half dropped", flood, answered, tc, dropped, 2*rate)
	}
	// The honest network asks the same question a few times: answered.
	c := udpClient(honestAddr)
	for i := range rate / 2 {
		r, _, err := c.Exchange(q(1)[0], e.addr)
		if err != nil || r.Truncated || len(r.Answer) == 0 {
			t.Fatalf("honest query %d: %v %v", i, r, err)
		}
	}
	// The flooder's retry over TCP is answered.
	tcp := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(flooderAddr)}}}
	for i := range 3 {
		r, _, err := tcp.Exchange(q(1)[0], e.addr)
		if err != nil || r.Truncated || len(r.Answer) == 0 {
			t.Fatalf("flooder over TCP %d: %v %v", i, r, err)
		}
	}
	scraped := scrape(t, e.srv)
	if metric(t, scraped, `cadastre_dns_rrl_total{action="slip"}`) != float64(tc) || metric(t, scraped, `cadastre_dns_rrl_total{action="drop"}`) < float64(dropped) {
		t.Fatalf("RRL counters do not match %d TC and %d dropped:\n%s", tc, dropped, grep(scraped, "rrl"))
	}
}

// cookieQuery is a query for www with a COOKIE option of hex c.
func cookieQuery(c string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion("www."+fwdZone, dns.TypeA)
	m.SetEdns0(1232, true)
	o := m.IsEdns0()
	o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: c})
	return m
}

// cookieOf is the COOKIE option of r in hex, or "".
func cookieOf(r *dns.Msg) string {
	if o := r.IsEdns0(); o != nil {
		for _, x := range o.Option {
			if c, ok := x.(*dns.EDNS0_COOKIE); ok {
				return c.Cookie
			}
		}
	}
	return ""
}

// DNS cookies (RFC 7873, RFC 9018): a client cookie gets a server cookie
// back; the pair is valid from that address and exempts it from
// response-rate limiting; a server cookie not ours gets BADCOOKIE with a
// fresh cookie over UDP and an answer over TCP; malformed ones FORMERR.
func TestCookies(t *testing.T) {
	e := newEnv(t, true)
	e.start(server.Options{RRLRate: 1, RRLSlip: -1})
	const client = "0102030405060708"
	c := udpClient(honestAddr)
	ask := func(c *dns.Client, cookie string) *dns.Msg {
		t.Helper()
		r, _, err := c.Exchange(cookieQuery(cookie), e.addr)
		if err != nil {
			t.Fatalf("cookie %q: %v", cookie, err)
		}
		return r
	}
	r := ask(c, client)
	got := cookieOf(r)
	if r.Rcode != dns.RcodeSuccess || len(got) != 48 || got[:16] != client || got[16:24] != "01000000" {
		t.Fatalf("client cookie alone: rcode %s, cookie %q; want the client cookie, then a 16-byte version 1 server cookie", dns.RcodeToString[r.Rcode], got)
	}
	full := got

	// With a valid cookie, 30 queries at once are all answered though the
	// limit is one a second; the same without a server cookie are not.
	withCookie, without := []*dns.Msg{}, []*dns.Msg{}
	for range 30 {
		withCookie = append(withCookie, cookieQuery(full))
		without = append(without, cookieQuery("1112131415161718"))
	}
	if n := len(blast(t, honestAddr, e.addr, withCookie)); n != 30 {
		t.Fatalf("valid cookie: %d of 30 answered, want all (cookies bypass RRL)", n)
	}
	if n := len(blast(t, "127.0.0.3", e.addr, without)); n >= 30 {
		t.Fatalf("client cookie only: %d of 30 answered, want them rate limited", n)
	}

	tcp := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.2.1")}}}
	tests := []struct {
		name      string
		c         *dns.Client
		cookie    string
		rcode     int
		newCookie bool
	}{
		{"a valid server cookie is answered", udpClient(honestAddr), full, dns.RcodeSuccess, true},
		{"a server cookie made for another address is BADCOOKIE over UDP", udpClient("127.0.2.1"), full, dns.RcodeBadCookie, true},
		{"a server cookie of another secret is BADCOOKIE over UDP", udpClient("127.0.4.1"), client + "01000000" + full[24:32] + "0000000000000000", dns.RcodeBadCookie, true},
		{"a server cookie not of RFC 9018's form is BADCOOKIE over UDP", udpClient("127.0.5.1"), client + "aabbccddeeff0011", dns.RcodeBadCookie, true},
		{"a bad server cookie over TCP is answered (TCP proves the address)", tcp, full, dns.RcodeSuccess, true},
		{"a short client cookie is FORMERR (RFC 7873 §5.2.2)", udpClient("127.0.6.1"), "0102030405", dns.RcodeFormatError, false},
		{"a server cookie shorter than 8 bytes is FORMERR", udpClient("127.0.7.1"), client + "0102", dns.RcodeFormatError, false},
		{"a cookie longer than 40 bytes is FORMERR", udpClient("127.0.8.1"), client + strings.Repeat("00", 33), dns.RcodeFormatError, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ask(tc.c, tc.cookie)
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s: %v", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode], r)
			}
			got := cookieOf(r)
			if tc.newCookie != (len(got) == 48 && got[:16] == tc.cookie[:16]) {
				t.Fatalf("cookie in the reply %q", got)
			}
			if tc.rcode == dns.RcodeBadCookie {
				// The fresh cookie is valid from that address.
				if r := ask(tc.c, got); r.Rcode != dns.RcodeSuccess {
					t.Fatalf("the cookie BADCOOKIE gave: %v", r)
				}
			}
		})
	}
	scraped := scrape(t, e.srv)
	for _, state := range []string{"valid", "bad", "client_only", "malformed"} {
		if metric(t, scraped, fmt.Sprintf(`cadastre_dns_cookies_total{cookie=%q}`, state)) == 0 {
			t.Errorf("no %s cookie counted:\n%s", state, grep(scraped, "cookie"))
		}
	}
}

// kdig (Knot's dig) with +cookie learns a server cookie from cadastre,
// and a second query with it is answered (RFC 7873 interoperability).
func TestCookieKdig(t *testing.T) {
	kdig := testenv.Program(t, "kdig", "knot-dnsutils")
	e := newEnv(t, true)
	e.start(server.Options{})
	host, port, _ := net.SplitHostPort(e.addr)
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(kdig, append([]string{"@" + host, "-p", port, "+noall", "+comments", "+opt", "www." + fwdZone, "A"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kdig %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := run("+cookie") // kdig makes up a client cookie
	m := regexp.MustCompile(`COOKIE: ([0-9A-Fa-f]+)`).FindStringSubmatch(out)
	if m == nil || len(m[1]) != 48 || !strings.Contains(out, "NOERROR") {
		t.Fatalf("kdig +cookie: no server cookie in the reply:\n%s", out)
	}
	before := metric(t, scrape(t, e.srv), `cadastre_dns_cookies_total{cookie="valid"}`)
	out = run("+cookie=" + m[1])
	if !strings.Contains(out, "NOERROR") || !strings.Contains(strings.ToLower(out), strings.ToLower(m[1][:16])) {
		t.Fatalf("kdig with the server cookie:\n%s", out)
	}
	if after := metric(t, scrape(t, e.srv), `cadastre_dns_cookies_total{cookie="valid"}`); after != before+1 {
		t.Fatalf("valid cookies counted: %v then %v, want one more", before, after)
	}
	t.Logf("kdig:\n%s", out)
}

// The DNS metrics, as Prometheus scrapes them: queries by zone, type and
// rcode (fast path and full path), transfers, NOTIFY, truncations; zones
// not ours are "other".
func TestDNSMetrics(t *testing.T) {
	e := newEnv(t, true)
	// A secondary that acknowledges NOTIFY.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sec := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		w.WriteMsg(m)
	})}
	go sec.ActivateAndServe()
	t.Cleanup(func() { sec.Shutdown() })
	if _, err := e.mgr.UpdateZone(e.ctx, fwdZone, func(c *zone.Config) error {
		c.Notify = []string{pc.LocalAddr().String()}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.start(server.Options{})
	for range 3 {
		e.query("udp", "www."+fwdZone, dns.TypeA, true) // first a miss, then fast-path hits
	}
	e.query("tcp", "nope."+fwdZone, dns.TypeA, true)
	e.query("udp", "example.org.", dns.TypeA, false)
	e.query("udp", "www."+fwdZone, dns.TypeHINFO, false)
	big := new(dns.Msg)
	big.SetQuestion("nope2."+fwdZone, dns.TypeA) // NSEC3 proofs: over 512 bytes
	big.SetEdns0(512, true)
	if r, _, err := udpClient(honestAddr).Exchange(big, e.addr); err != nil || !r.Truncated {
		t.Fatalf("an NXDOMAIN with proofs in 512 bytes: %v %v", r, err)
	}
	x := new(dns.Msg)
	x.SetAxfr(fwdZone)
	if _, _, err := (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).Exchange(x, e.addr); err != nil {
		t.Fatal(err)
	}
	// With the key: a whole AXFR, then an IXFR from the current serial.
	tr := &dns.Transfer{TsigSecret: map[string]string{tsigName: tsigValue}}
	x = new(dns.Msg)
	x.SetAxfr(fwdZone)
	x.SetTsig(tsigName, dns.HmacSHA256, 300, time.Now().Unix())
	ch, err := tr.In(x, e.addr)
	if err != nil {
		t.Fatal(err)
	}
	for env := range ch {
		if env.Error != nil {
			t.Fatal(env.Error)
		}
	}
	x = new(dns.Msg)
	x.SetIxfr(fwdZone, e.srv.Serial(fwdZone), "ns.", "mbox.")
	x.SetTsig(tsigName, dns.HmacSHA256, 300, time.Now().Unix())
	if r, _, err := (&dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{tsigName: tsigValue}}).Exchange(x, e.addr); err != nil || len(r.Answer) != 1 {
		t.Fatalf("IXFR from the current serial: %v %v", r, err)
	}
	e.waitFor("the NOTIFY acknowledged", func() bool {
		return metric(t, scrape(t, e.srv), `cadastre_dns_notifies_total{outcome="acked"}`) >= 1
	})
	scraped := scrape(t, e.srv)
	for _, want := range []struct {
		series string
		min    float64
	}{
		{`cadastre_dns_queries_total{qtype="A",rcode="NOERROR",zone="example.test."}`, 3},
		{`cadastre_dns_queries_total{qtype="A",rcode="NXDOMAIN",zone="example.test."}`, 1},
		{`cadastre_dns_queries_total{qtype="A",rcode="REFUSED",zone="other"}`, 1},
		{`cadastre_dns_queries_total{qtype="other",rcode="NOERROR",zone="example.test."}`, 1},
		{`cadastre_dns_truncated_total{reason="size"}`, 1},
		{`cadastre_dns_transfers_total{kind="AXFR",outcome="refused"}`, 1},
		{`cadastre_dns_transfers_total{kind="AXFR",outcome="ok"}`, 1},
		{`cadastre_dns_transfers_total{kind="IXFR",outcome="up_to_date"}`, 1},
		{`cadastre_dns_cookies_total{cookie="missing"}`, 7},
		{`cadastre_dns_fast_answers_total`, 2},
	} {
		if v := metric(t, scraped, want.series); v < want.min {
			t.Errorf("%s = %v, want at least %v", want.series, v, want.min)
		}
	}
	if t.Failed() {
		t.Log(grep(scraped, "cadastre_dns"))
	}
}

// scrape is the server's metrics as Prometheus reads them over HTTP.
func scrape(t *testing.T, s *server.Server) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	hs := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer hs.Close()
	resp, err := http.Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// metric is the value of one series in scraped text (0 if absent).
func metric(t *testing.T, scraped, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(scraped, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
