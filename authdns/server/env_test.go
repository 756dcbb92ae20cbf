package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

// The test register: one region with IPv4 and IPv6 pools in private
// space, and zones over them.
const (
	fwdZone   = "example.test."
	dynZone   = "dyn.test."
	v4Pool    = "10.1.2.0/24"
	v4Zone    = "2.1.10.in-addr.arpa."
	v4Pool2   = "10.1.3.64/26" // RFC 2317
	v4Zone2   = "64/26.3.1.10.in-addr.arpa."
	v6Pool    = "fd12:3456:789a:1::/64"
	v6Zone    = "1.0.0.0.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa."
	nsHost    = "ns1." + fwdZone // the server identity
	nsAddr    = "10.1.2.53"
	tsigName  = "xfr.test."
	tsigValue = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="
)

type env struct {
	t      testing.TB
	ctx    context.Context
	store  envStore
	reg    *registry.Registry
	mgr    *manage.Manager
	srv    *server.Server
	addr   string
	sealer *zone.Sealer
}

// envStore is what a test environment keeps its register and zones in.
type envStore interface {
	zone.Store
	registry.Store
}

// newEnv builds the register and the zones in a new SQLite file; signed
// says whether the zones are signed. The server is not started: call start.
func newEnv(t testing.TB, signed bool) *env {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlitetest.Path(t, "dns.db"), sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return newEnvOn(t, signed, s)
}

// newEnvOn is newEnv on the store s.
func newEnvOn(t testing.TB, signed bool, s envStore) *env {
	t.Helper()
	ctx := registry.WithActor(context.Background(), "test")
	key := make([]byte, zone.SealKeySize)
	rand.Read(key)
	sealer, err := zone.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	// The server identity: ns1 of the forward zone, with its address,
	// serves every zone (kzonecheck and named-checkzone want in-zone name
	// servers to have one, and the Manager refuses them without).
	mgr := manage.NewManager(s, sealer, nil).WithNameServers([]manage.Glue{{Host: nsHost, Addr: netip.MustParseAddr(nsAddr)}})
	e := &env{t: t, ctx: ctx, store: s, reg: registry.New(s), mgr: mgr, sealer: sealer}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US"}}))
	must(e.reg.AddRegion(ctx, registry.RegionSpec{Name: "eu-west", Location: location.Location{Country: "IE"}}))
	must(e.reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Source: registry.SourcePrivate}))
	must(e.reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("fd12:3456:789a::/48"), Source: registry.SourcePrivate}))
	for _, p := range []string{v4Pool, v6Pool} {
		must(e.reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix(p), Region: "us-east", UseAll: true}))
	}
	must(e.reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix(v4Pool2), Region: "eu-west", UseAll: true}))
	// The transfer key lives in the register, sealed, as `cadastre tsig
	// add` keeps it: every transfer test (Knot's included) uses it.
	secret, err := base64.StdEncoding.DecodeString(tsigValue)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.mgr.AddTSIG(ctx, tsigName, "hmac-sha256", secret); err != nil {
		t.Fatal(err)
	}
	acl := zone.Config{AllowTransfer: []string{"key:" + tsigName, "127.0.0.2/32"}}
	must(e.mgr.AddZone(ctx, manage.ZoneSpec{Name: fwdZone, Config: acl}))
	must(e.mgr.AddZone(ctx, manage.ZoneSpec{Name: dynZone, Config: acl}))
	must(e.mgr.AddZone(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix(v4Pool), Config: acl}))
	must(e.mgr.AddZone(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix(v4Pool2)}))
	must(e.mgr.AddZone(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix(v6Pool), Synthesize: "ip-{addr}." + dynZone, Config: acl}))
	must(e.mgr.AddRecord(ctx, fwdZone, "www", "A", "10.1.2.200", 0))
	must(e.mgr.AddRecord(ctx, fwdZone, "deep.a.b", "TXT", `"below empty non-terminals"`, 0))
	must(e.mgr.AddRecord(ctx, fwdZone, "@", "MX", "10 mail.example.test.", 0))
	if signed {
		must(e.sign(fwdZone, manage.SignOptions{}))
		must(e.sign(v4Zone, manage.SignOptions{Algorithm: zone.Ed25519, SplitKeys: true}))
		must(e.sign(v6Zone, manage.SignOptions{Denial: zone.Compact}))
		must(e.sign(dynZone, manage.SignOptions{Denial: zone.Compact}))
	}
	e.alloc(4, "vm1."+fwdZone)
	e.alloc(6, "vm1."+fwdZone)
	e.alloc(6, "")
	return e
}

func (e *env) sign(zoneName string, o manage.SignOptions) (any, error) {
	_, _, err := e.mgr.Sign(e.ctx, zoneName, o)
	return nil, err
}

// alloc assigns one address of the family with name.
func (e *env) alloc(family int, name string) netip.Addr {
	e.t.Helper()
	return e.allocIn("us-east", family, name)
}

// allocMany assigns n IPv6 addresses of us-east to tenant acme, the i-th
// named name(i), a thousand to a batch.
func (e *env) allocMany(n int, name func(i int) string) {
	e.t.Helper()
	for i := 0; i < n; i += 1000 {
		reqs := make([]registry.Request, 0, 1000)
		for j := i; j < min(i+1000, n); j++ {
			reqs = append(reqs, registry.Request{Region: "us-east", Family: 6, Name: name(j), Tenant: "acme"})
		}
		if _, err := e.reg.AllocateAll(e.ctx, registry.Batch{Requests: reqs}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) allocIn(region string, family int, name string) netip.Addr {
	e.t.Helper()
	as, err := e.reg.Allocate(e.ctx, registry.Request{Region: region, Family: family, Name: name, Tenant: "acme"})
	if err != nil {
		e.t.Fatalf("allocate %s: %v", name, err)
	}
	return as[0].Prefix.Addr()
}

// start runs the server on a free loopback port (or opt.Listen) until
// the test ends.
func (e *env) start(opt server.Options) {
	e.t.Helper()
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:0"
	}
	if opt.Poll == 0 {
		opt.Poll = 20 * time.Millisecond
	}
	e.srv = server.NewServer(e.reg, e.store, e.sealer, opt)
	if err := e.srv.Start(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.addr = e.srv.Addr()
	srv := e.srv
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
}

// query asks the server over net ("udp" or "tcp"); do sets EDNS0 with DO.
func (e *env) query(net, name string, qtype uint16, do bool) *dns.Msg {
	e.t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	if do {
		m.SetEdns0(1232, true)
	}
	c := &dns.Client{Net: net, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, e.addr)
	if err != nil {
		e.t.Fatalf("%s %s %s: %v", net, name, dns.TypeToString[qtype], err)
	}
	return r
}

// waitFor polls until cond holds for the answer, at most 30 s: a hang
// guard, far above the milliseconds a change takes to be served on a quiet
// machine (seconds under -race on a loaded one).
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	e.t.Fatalf("timed out waiting for %s", what)
}

// waitForState is waitFor with a description of what was last seen, so
// that a timeout says which part of the condition never held.
func (e *env) waitForState(what string, cond func() (bool, string)) {
	e.t.Helper()
	last := ""
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
	}
	e.t.Fatalf("timed out waiting for %s; last seen: %s", what, last)
}

func ptrOf(a netip.Addr) string {
	n, _ := dns.ReverseAddr(a.String())
	return n
}

func types(rrs []dns.RR) string {
	var out []string
	for _, rr := range rrs {
		out = append(out, dns.TypeToString[rr.Header().Rrtype])
	}
	return strings.Join(out, " ")
}
