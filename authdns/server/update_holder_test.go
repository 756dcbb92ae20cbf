package server_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
)

// TestUpdateRefusesALiveAssignmentsName{SQLite,PostgreSQL}: an RFC 2136
// update, signed by a key granted the whole zone, that adds a record at
// the name of a tenant's live assignment (vm1, acme's) is REFUSED and
// changes nothing, checked in the write transaction (issue 10): before,
// only the key's grants were checked, and the VM's name answered with
// both its address and the update's. An NS record whose target (the
// delegation's name server) is the VM's name is refused too. The same key
// still adds at a free name.
func TestUpdateRefusesALiveAssignmentsNameSQLite(t *testing.T) {
	updateHolder(t, newEnv(t, true))
}

func TestUpdateRefusesALiveAssignmentsNamePostgreSQL(t *testing.T) {
	updateHolder(t, newEnvOn(t, true, openPG(t, pgSchema(t))))
}

func updateHolder(t *testing.T, e *env) {
	const key = "ops.test."
	_, raw, err := e.mgr.AddTSIG(e.ctx, key, "hmac-sha256", nil, fwdZone)
	if err != nil {
		t.Fatal(err)
	}
	secret := base64.StdEncoding.EncodeToString(raw)
	e.start(server.Options{})
	send := func(rrs ...string) int {
		t.Helper()
		m := new(dns.Msg)
		m.SetUpdate(fwdZone)
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Fatal(err)
			}
			m.Ns = append(m.Ns, rr)
		}
		m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
		cl := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{key: secret}}
		r, _, err := cl.Exchange(m, e.addr)
		if err != nil {
			t.Fatal(err)
		}
		return r.Rcode
	}
	vm := "vm1." + fwdZone
	for _, c := range []struct {
		name string
		rrs  []string
	}{
		{"an A at the VM's name", []string{vm + " 60 IN A 10.1.2.99"}},
		{"an AAAA at the VM's name", []string{vm + " 60 IN AAAA fd12:3456:789a::99"}},
		{"a CNAME at the VM's name", []string{vm + " 60 IN CNAME www." + fwdZone}},
		{"a free name and the VM's, in one update", []string{"free1." + fwdZone + " 60 IN A 10.1.2.98", vm + " 60 IN TXT \"x\""}},
		// The VM's name as a delegation's name server (issue 10, audit).
		{"an NS delegation to the VM's name", []string{"sub." + fwdZone + " 60 IN NS " + vm}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n0 := e.records(t)
			if rc := send(c.rrs...); rc != dns.RcodeRefused {
				t.Fatalf("rcode %s, want REFUSED", dns.RcodeToString[rc])
			}
			if n := e.records(t); n != n0 {
				t.Fatalf("%d static records, want %d: the refused update changed the zone", n, n0)
			}
		})
	}
	a := e.query("udp", vm, dns.TypeA, false)
	if len(a.Answer) != 1 {
		t.Fatalf("%s A: %v, want the assignment's address alone", vm, a.Answer)
	}
	n0 := e.records(t)
	if rc := send("free2." + fwdZone + " 60 IN A 10.1.2.97"); rc != dns.RcodeSuccess {
		t.Fatalf("an update at a free name: rcode %s, want NOERROR", dns.RcodeToString[rc])
	}
	if n := e.records(t); n != n0+1 {
		t.Fatalf("%d static records, want %d", n, n0+1)
	}
}
