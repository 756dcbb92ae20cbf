package server_test

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// synthSub is a subtree of the forward zone that a reverse zone's
// template points into: no stored name lies below it.
const synthSub = "dyn." + fwdZone

// withSynthSubtree serves v4Pool2's reverse zone with a template whose
// names live in a subtree of the NSEC3-signed forward zone (not at a
// zone's apex, as dynZone's are), and signs it: the case whose transfer
// once carried an NSEC3 for the subtree's empty name.
func (e *env) withSynthSubtree() {
	e.t.Helper()
	if _, err := e.mgr.RemoveZones(e.ctx, v4Zone2); err != nil {
		e.t.Fatal(err)
	}
	acl := zone.Config{AllowTransfer: []string{"key:" + tsigName, "127.0.0.2/32"}}
	if _, err := e.mgr.AddZone(e.ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix(v4Pool2), Synthesize: "host-{addr}." + synthSub, Config: acl}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.sign(v4Zone2, manage.SignOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// TestEveryAXFRPassesValidators transfers every zone kind the test
// register has (forward NSEC3 holding a synthesised subtree, forward
// compact holding synthesised names at its apex, reverse KSK/ZSK
// Ed25519, RFC 2317 reverse synthesising into the subtree, IPv6 reverse
// compact with synthesis, unsigned, the catalog) and has four validators no one here
// wrote check each transfer.
func TestEveryAXFRPassesValidators(t *testing.T) {
	ldns := tool(t, "ldns-verify-zone")
	verify := tool(t, "dnssec-verify")
	kzc := tool(t, "kzonecheck")
	named := tool(t, "named-checkzone")
	e := newEnv(t, true)
	e.withSynthSubtree()
	const plain = "plain.test."
	if _, err := e.mgr.AddZone(e.ctx, manage.ZoneSpec{Name: plain, Config: zone.Config{AllowTransfer: []string{"key:" + tsigName}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mgr.AddZone(e.ctx, manage.ZoneSpec{Name: catalogZone, Config: zone.Config{Catalog: true, AllowTransfer: []string{"key:" + tsigName}}}); err != nil {
		t.Fatal(err)
	}
	zones := []struct {
		name   string
		signed bool
		csk    bool
	}{
		{fwdZone, true, true}, {dynZone, true, true}, {v4Zone, true, false},
		{v4Zone2, true, true}, {v6Zone, true, true}, {plain, false, false},
		{catalogZone, false, false},
	}
	e.start(server.Options{})
	// The synthesised name answers on the primary: the subtree exists.
	unnamed := e.allocIn("eu-west", 4, "")
	if r := e.query("udp", "host-"+strings.ReplaceAll(unnamed.String(), ".", "-")+"."+synthSub, dns.TypeA, true); len(r.Answer) == 0 {
		t.Fatalf("no synthesised A for %v in the subtree: %v", unnamed, r)
	}
	dir := t.TempDir()
	for _, z := range zones {
		t.Run(z.name, func(t *testing.T) {
			text := e.axfr(z.name)
			file := filepath.Join(dir, strings.ReplaceAll(z.name, "/", "_")+"zone")
			if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			run := func(name string, args ...string) {
				t.Helper()
				if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
					t.Errorf("%s %s: %v\n%s\n%s", filepath.Base(name), z.name, err, out, text)
				}
			}
			run(kzc, "-o", z.name, file)
			run(named, "-i", "full", z.name, file)
			if !z.signed {
				return
			}
			run(ldns, "-V", "2", file)
			args := []string{"-o", z.name, file}
			if z.csk {
				args = append([]string{"-z"}, args...)
			}
			run(verify, args...)
		})
	}
}
