package main

import (
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dchest/siphash"
	"github.com/miekg/dns"
)

// `serve --dns` with the flood flags: server cookies are made with the
// secret of --dns-cookie-secret-file (RFC 9018, so another server given
// the file accepts them), and the DNS metrics are on --metrics-listen.
func TestServeDNSCookieSecretAndMetrics(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	mustCLI(t, db, "zone", "add", "example.net", "--ns", "ns1.example.org")
	const secret = "00112233445566778899aabbccddeeff"
	secretFile := filepath.Join(dir, "cookie-secret")
	if err := os.WriteFile(secretFile, []byte("# current\n"+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dnsAddr, metricsAddr := freePort(t, "udp"), freePort(t, "tcp")
	srv := startServe(t, db, "--dns", dnsAddr, "--metrics-listen", metricsAddr, "--dns-cookie-secret-file", secretFile,
		"--dns-rrl-rate", "50", "--dns-sign-budget", "500", "--dns-query-log-sample", "1")
	waitTCP(t, dnsAddr)

	const client = "0102030405060708"
	m := new(dns.Msg)
	m.SetQuestion("example.net.", dns.TypeSOA)
	m.SetEdns0(1232, false)
	o := m.IsEdns0()
	o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: client})
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, dnsAddr)
	if err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("SOA with a client cookie: %v %v\n%s", r, err, srv.logs)
	}
	var got string
	for _, x := range r.IsEdns0().Option {
		if c, ok := x.(*dns.EDNS0_COOKIE); ok {
			got = c.Cookie
		}
	}
	if len(got) != 48 {
		t.Fatalf("no server cookie in %v", r)
	}
	// RFC 9018 §4.4 with the file's secret, from the cookie's timestamp.
	raw, _ := hex.DecodeString(got)
	key, _ := hex.DecodeString(secret)
	h := siphash.New(key)
	h.Write(raw[:16])
	h.Write(net.ParseIP("127.0.0.1").To4())
	if want := hex.EncodeToString(h.Sum(nil)); got[32:] != want || binary.BigEndian.Uint32(raw[8:12]) != 0x01000000 {
		t.Fatalf("server cookie %s: hash %s, want %s (SipHash-2-4 with the file's secret)", got, got[32:], want)
	}

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`cadastre_dns_queries_total{qtype="SOA",rcode="NOERROR",zone="example.net."} 1`,
		`cadastre_dns_cookies_total{cookie="client_only"} 1`,
		`cadastre_dns_rrl_total{action="drop"} 0`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
