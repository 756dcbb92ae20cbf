package server_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

// eachDNSStore runs fn on a fresh SQLite file and a fresh PostgreSQL schema.
func eachDNSStore(t *testing.T, fn func(t *testing.T, st envStore)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlite.Open(context.Background(), sqlitetest.Path(t, "t.db"), sqlite.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, openPG(t, pgSchema(t)))
	})
}

func sealer(t *testing.T, b byte) *zone.Sealer {
	t.Helper()
	s, err := zone.NewSealer(bytes.Repeat([]byte{b}, zone.SealKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTSIGKeysInTheRegister: the rules of TSIG keys kept in the register,
// on both stores.
func TestTSIGKeysInTheRegister(t *testing.T) {
	eachDNSStore(t, func(t *testing.T, st envStore) {
		ctx := registry.WithActor(context.Background(), "tester")
		m := manage.NewManager(st, sealer(t, 1), nil)
		secret := bytes.Repeat([]byte{0x5a}, 32)
		k, got, err := m.AddTSIG(ctx, "XFR.Example.NET", "HMAC-SHA512.", secret)
		if err != nil || k.Name != "xfr.example.net." || k.Algorithm != "hmac-sha512" || !bytes.Equal(got, secret) {
			t.Fatalf("AddTSIG = %+v, %v", k, err)
		}
		_, gen, err := m.AddTSIG(ctx, "gen.example.net", "hmac-sha256", nil)
		if err != nil || len(gen) != 32 {
			t.Fatalf("AddTSIG without a secret = %d bytes, %v; want a generated 32-byte secret", len(gen), err)
		}
		before, _ := st.TSIGKeys(ctx)
		for _, tc := range []struct {
			name         string
			key, alg     string
			secret       []byte
			want         error
			wantInDetail string
		}{
			{"a second key of one name is a conflict", "xfr.example.net.", "hmac-sha256", secret, registry.ErrExists, "exists"},
			{"HMAC-MD5 is refused", "md5.example.net", "hmac-md5", secret, registry.ErrInvalid, "hmac-sha256"},
			{"an unknown algorithm is refused", "x.example.net", "sha256", secret, registry.ErrInvalid, "sha256"},
			{"a short secret is refused", "short.example.net", "hmac-sha256", []byte("short"), registry.ErrInvalid, "5 bytes"},
			{"a bad name is refused", "bad..name", "hmac-sha256", secret, registry.ErrInvalid, "bad..name"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := m.AddTSIG(ctx, tc.key, tc.alg, tc.secret)
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantInDetail) {
					t.Fatalf("AddTSIG(%s, %s) = %v; want %v naming %q", tc.key, tc.alg, err, tc.want, tc.wantInDetail)
				}
			})
		}
		after, _ := st.TSIGKeys(ctx)
		if len(after) != len(before) {
			t.Fatalf("refused adds changed the keys: %d, then %d", len(before), len(after))
		}
		secrets, err := m.TSIGSecrets(ctx)
		if err != nil || len(secrets) != 2 || secrets[1].Name != "xfr.example.net." || !bytes.Equal(secrets[1].Secret, secret) {
			t.Fatalf("TSIGSecrets = %+v, %v", secrets, err)
		}
		if _, err := manage.NewManager(st, sealer(t, 2), nil).TSIGSecrets(ctx); !errors.Is(err, zone.ErrSealed) {
			t.Fatalf("TSIGSecrets with another sealing key = %v, want ErrSealed", err)
		}
		if err := m.RemoveTSIG(ctx, "nosuch.example.net"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("RemoveTSIG(missing) = %v, want ErrNotFound", err)
		}
		if err := m.RemoveTSIG(ctx, "XFR.example.net"); err != nil {
			t.Fatal(err)
		}
		if ks, _ := m.TSIGKeys(ctx); len(ks) != 1 || ks[0].Name != "gen.example.net." {
			t.Fatalf("after remove: %+v", ks)
		}
		// On PostgreSQL the log shows an event once no older transaction
		// is still in flight in the cluster (registry.Position): other
		// packages' tests may hold one open for a moment, so wait for it.
		var evs []registry.Event
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var err error
			evs, err = registry.New(st).Events(ctx, registry.EventFilter{SubjectKind: zone.SubjectTSIG})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) >= 3 || time.Now().After(deadline) {
				break
			}
		}
		var actions []string
		for _, e := range evs {
			actions = append(actions, e.Action+" "+e.Subject)
			b64 := base64.StdEncoding.EncodeToString(secret)
			if strings.Contains(string(e.After)+string(e.Before), b64) || bytes.Contains(e.After, secret) {
				t.Errorf("event %s holds the secret", e.Action)
			}
		}
		if want := "tsig.add xfr.example.net.|tsig.add gen.example.net.|tsig.remove xfr.example.net."; strings.Join(actions, "|") != want {
			t.Fatalf("events = %v, want %s", actions, want)
		}
	})
}

// TestServerFollowsRegisterTSIGKeys: the server serves the register's keys,
// picks up an added key and drops a removed one as the event log moves,
// and refuses a key used with another algorithm than its own.
func TestServerFollowsRegisterTSIGKeys(t *testing.T) {
	e := newEnv(t, false)
	e.start(server.Options{})
	secret := bytes.Repeat([]byte{0x33}, 32)
	b64 := base64.StdEncoding.EncodeToString(secret)
	const name = "late.test."
	try := func(alg string) (int, error) {
		m := new(dns.Msg)
		m.SetAxfr(fwdZone)
		m.SetTsig(name, alg, 300, time.Now().Unix())
		c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{name: b64}}
		r, _, err := c.Exchange(m, e.addr)
		if r == nil {
			return 0, err
		}
		return r.Rcode, nil
	}
	axfr := func(alg string) int {
		rc, err := try(alg)
		if err != nil {
			t.Fatalf("AXFR: %v", err)
		}
		return rc
	}
	// While the server swaps its keys, a request verified under the old
	// set can find its key gone when the reply is signed, and the
	// connection is closed unanswered (seen once in CI as EOF): the waits
	// below count that as "not yet"; every assertion uses axfr.
	settled := func(alg string, want int) bool {
		rc, err := try(alg)
		if err != nil {
			t.Logf("AXFR while keys change: %v", err)
			return false
		}
		return rc == want
	}
	if rc := axfr(dns.HmacSHA256); rc != dns.RcodeNotAuth {
		t.Fatalf("AXFR with a key the register does not hold: %s, want NOTAUTH", dns.RcodeToString[rc])
	}
	if _, _, err := e.mgr.AddTSIG(e.ctx, name, "hmac-sha256", secret); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mgr.UpdateZone(e.ctx, fwdZone, func(c *zone.Config) error {
		c.AllowTransfer = append(c.AllowTransfer, "key:"+name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the added key to be served", func() bool { return settled(dns.HmacSHA256, dns.RcodeSuccess) })
	if rc := axfr(dns.HmacSHA512); rc != dns.RcodeNotAuth {
		t.Errorf("AXFR signed with HMAC-SHA512 under an HMAC-SHA256 key: %s, want NOTAUTH", dns.RcodeToString[rc])
	}
	if err := e.mgr.RemoveTSIG(e.ctx, name); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the removed key to be refused", func() bool { return settled(dns.HmacSHA256, dns.RcodeNotAuth) })
}

// TestReadTSIGFile: the key file's lines, and the errors that name the
// line.
func TestReadTSIGFile(t *testing.T) {
	good := "# transfer keys\n\nxfr.example.net hmac-sha256 " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)) + "\n"
	ks, err := zone.ReadTSIGFile(strings.NewReader(good), "keys")
	if err != nil || len(ks) != 1 || ks[0].Name != "xfr.example.net." || ks[0].Algorithm != "hmac-sha256" {
		t.Fatalf("ReadTSIGFile = %+v, %v", ks, err)
	}
	sec := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	for _, tc := range []struct{ name, text, want string }{
		{"two fields are refused", "xfr.example.net " + sec, "keys:1: want NAME ALGORITHM BASE64-SECRET"},
		{"bad base64 is refused", "xfr.example.net hmac-sha256 not!base64", "keys:1: secret is not base64"},
		{"a wrong algorithm is refused", "# c\nxfr.example.net hmac-md5 " + sec, "keys:2: TSIG key xfr.example.net.: TSIG algorithm \"hmac-md5\""},
		{"a name given twice is refused", "a.example hmac-sha256 " + sec + "\nA.example. hmac-sha512 " + sec, "keys:2: TSIG key a.example. given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := zone.ReadTSIGFile(strings.NewReader(tc.text), "keys")
			if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadTSIGFile = %v, want ErrInvalid with %q", err, tc.want)
			}
		})
	}
}

// signedWire packs m signed with key name and secret (base64) under alg,
// at time at: wire bytes as a client that got the algorithm or the clock
// wrong would send them.
func signedWire(t *testing.T, m *dns.Msg, name, alg, secret string, at time.Time) ([]byte, string) {
	t.Helper()
	m.SetTsig(name, alg, 300, at.Unix())
	b, mac, err := dns.TsigGenerate(m, secret, "", false)
	if err != nil {
		t.Fatal(err)
	}
	return b, mac
}

// rawTCP sends b over TCP and returns the first reply.
func rawTCP(t *testing.T, addr string, b []byte) []byte {
	t.Helper()
	c, err := dns.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	reply, err := c.ReadMsgHeader(nil)
	if err != nil {
		t.Fatalf("TCP reply: %v", err)
	}
	return reply
}

// TestTSIGErrors: RFC 8945 §5.2 for every kind of request: a key has one
// algorithm, and a request under another (the right secret, the wrong
// HMAC), an unknown key or a bad MAC gets NOTAUTH with an unsigned TSIG
// naming the error; a time outside the fudge gets BADTIME, signed, with
// the server's time; none is answered as if unsigned.
func TestTSIGErrors(t *testing.T) {
	e := newEnv(t, false)
	e.start(server.Options{})
	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x77}, 32))
	kinds := []struct {
		name string
		tcp  bool
		msg  func() *dns.Msg
	}{
		{"query", false, func() *dns.Msg {
			m := new(dns.Msg)
			m.SetQuestion("www."+fwdZone, dns.TypeA)
			m.SetEdns0(1232, false)
			return m
		}},
		{"AXFR", true, func() *dns.Msg { m := new(dns.Msg); m.SetAxfr(fwdZone); return m }},
		{"NOTIFY", false, func() *dns.Msg { m := new(dns.Msg); m.SetNotify(fwdZone); return m }},
	}
	now := time.Now()
	cases := []struct {
		name, key, alg, secret string
		at                     time.Time
		want                   uint16
	}{
		{"HMAC-SHA1 under an HMAC-SHA256 key is BADKEY", tsigName, dns.HmacSHA1, tsigValue, now, dns.RcodeBadKey},
		{"HMAC-SHA224 under an HMAC-SHA256 key is BADKEY", tsigName, dns.HmacSHA224, tsigValue, now, dns.RcodeBadKey},
		{"HMAC-SHA384 under an HMAC-SHA256 key is BADKEY", tsigName, dns.HmacSHA384, tsigValue, now, dns.RcodeBadKey},
		{"HMAC-SHA512 under an HMAC-SHA256 key is BADKEY", tsigName, dns.HmacSHA512, tsigValue, now, dns.RcodeBadKey},
		{"an unknown key is BADKEY", "nosuch.test.", dns.HmacSHA256, tsigValue, now, dns.RcodeBadKey},
		{"a wrong secret is BADSIG", tsigName, dns.HmacSHA256, other, now, dns.RcodeBadSig},
		{"a time 20 minutes off is BADTIME", tsigName, dns.HmacSHA256, tsigValue, now.Add(-20 * time.Minute), dns.RcodeBadTime},
	}
	for _, k := range kinds {
		for _, c := range cases {
			t.Run(k.name+": "+c.name, func(t *testing.T) {
				q := k.msg()
				wire, mac := signedWire(t, q, c.key, c.alg, c.secret, c.at)
				var reply []byte
				if k.tcp {
					reply = rawTCP(t, e.addr, wire)
				} else if reply = rawUDP(t, e.addr, wire); reply == nil {
					t.Fatal("no reply")
				}
				r := new(dns.Msg)
				if err := r.Unpack(reply); err != nil {
					t.Fatal(err)
				}
				rt := r.IsTsig()
				if r.Rcode != dns.RcodeNotAuth || rt == nil || rt.Error != c.want || len(r.Answer) != 0 {
					t.Fatalf("reply rcode %s, TSIG %v; want NOTAUTH with TSIG error %s and no answer\n%v", dns.RcodeToString[r.Rcode], rt, dns.RcodeToString[int(c.want)], r)
				}
				if len(r.Question) != 1 || r.Question[0] != q.Question[0] || r.Id != q.Id {
					t.Fatalf("reply does not keep the question and ID:\n%v", r)
				}
				if rt.Hdr.Name != c.key || dns.CanonicalName(rt.Algorithm) != c.alg {
					t.Fatalf("TSIG error names key %s alg %s, want %s %s", rt.Hdr.Name, rt.Algorithm, c.key, c.alg)
				}
				if c.want != dns.RcodeBadTime {
					if rt.MACSize != 0 {
						t.Fatalf("BADKEY/BADSIG must be unsigned (RFC 8945 §5.3.2): MAC %d bytes", rt.MACSize)
					}
					// The server's time, as named sends: a zero time made
					// dig report unsynchronised clocks first.
					if d := time.Since(time.Unix(int64(rt.TimeSigned), 0)); d < -5*time.Second || d > 5*time.Second {
						t.Fatalf("BADKEY/BADSIG time signed %d: %s from now, want the server's time", rt.TimeSigned, d)
					}
					return
				}
				// §5.2.3: signed with the key, the request's time, and
				// the server's own time in Other Data.
				if rt.TimeSigned != uint64(c.at.Unix()) || rt.OtherLen != 6 {
					t.Fatalf("BADTIME: time signed %d (request %d), other data %q", rt.TimeSigned, c.at.Unix(), rt.OtherData)
				}
				srvTime, _ := strconv.ParseUint(rt.OtherData, 16, 64)
				if d := time.Since(time.Unix(int64(srvTime), 0)); d < -5*time.Second || d > 5*time.Second {
					t.Fatalf("BADTIME: server time %d is not now", srvTime)
				}
				// The MAC verifies (the error left is the time: RFC 8945
				// §5.3.2 has the request's time in the reply).
				if !errorMACVerifies(t, reply, rt, tsigValue, mac) {
					t.Fatal("BADTIME reply's MAC does not verify with the key")
				}
			})
		}
	}
	t.Run("a TSIG that is not the last record is FORMERR", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("www."+fwdZone, dns.TypeA)
		m.SetTsig(tsigName, dns.HmacSHA256, 300, now.Unix())
		m.SetEdns0(1232, false)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		r := new(dns.Msg)
		if err := r.Unpack(rawUDP(t, e.addr, b)); err != nil || r.Rcode != dns.RcodeFormatError || len(r.Answer) != 0 {
			t.Fatalf("misplaced TSIG: %v %v", r, err)
		}
	})
	t.Run("a well signed query is answered and signed", func(t *testing.T) {
		q := new(dns.Msg)
		q.SetQuestion("www."+fwdZone, dns.TypeA)
		wire, mac := signedWire(t, q, tsigName, dns.HmacSHA256, tsigValue, time.Now())
		reply := rawUDP(t, e.addr, wire)
		if err := dns.TsigVerify(reply, tsigValue, mac, false); err != nil {
			t.Fatalf("reply's TSIG: %v", err)
		}
		r := new(dns.Msg)
		if err := r.Unpack(reply); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("signed query: %v %v", r, err)
		}
	})
}

// errorMACVerifies checks the MAC of a signed error reply (RFC 8945
// §4.3.3: request MAC, the reply without its TSIG, the TSIG variables),
// which dns.TsigVerify refuses to read as its RCODE is NOTAUTH.
func errorMACVerifies(t *testing.T, reply []byte, rt *dns.TSIG, secret, requestMAC string) bool {
	t.Helper()
	rtLen := dns.Len(rt)
	msg := append([]byte(nil), reply[:len(reply)-rtLen]...)
	binary.BigEndian.PutUint16(msg[10:], binary.BigEndian.Uint16(msg[10:])-1)
	binary.BigEndian.PutUint16(msg[0:], rt.OrigId)
	req, _ := hex.DecodeString(requestMAC)
	buf := binary.BigEndian.AppendUint16(nil, uint16(len(req)))
	buf = append(append(buf, req...), msg...)
	name := make([]byte, 256)
	n, _ := dns.PackDomainName(dns.CanonicalName(rt.Hdr.Name), name, 0, nil, false)
	buf = append(buf, name[:n]...)
	buf = binary.BigEndian.AppendUint16(buf, dns.ClassANY)
	buf = binary.BigEndian.AppendUint32(buf, 0)
	n, _ = dns.PackDomainName(dns.CanonicalName(rt.Algorithm), name, 0, nil, false)
	buf = append(buf, name[:n]...)
	buf = append(buf, byte(rt.TimeSigned>>40), byte(rt.TimeSigned>>32), byte(rt.TimeSigned>>24), byte(rt.TimeSigned>>16), byte(rt.TimeSigned>>8), byte(rt.TimeSigned))
	buf = binary.BigEndian.AppendUint16(buf, rt.Fudge)
	buf = binary.BigEndian.AppendUint16(buf, rt.Error)
	other, _ := hex.DecodeString(rt.OtherData)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(other)))
	buf = append(buf, other...)
	key, _ := base64.StdEncoding.DecodeString(secret)
	h := hmac.New(sha256.New, key)
	h.Write(buf)
	got, _ := hex.DecodeString(rt.MAC)
	return hmac.Equal(h.Sum(nil), got)
}

// TestTSIGWrongAlgorithmWithDigAndKdig: BIND's dig and Knot's kdig, given
// the right secret under another algorithm than the key's, get NOTAUTH
// with BADKEY; under the key's own algorithm, the answer, verified.
func TestTSIGWrongAlgorithmWithDigAndKdig(t *testing.T) {
	e := newEnv(t, false)
	e.start(server.Options{})
	host, port, _ := net.SplitHostPort(e.addr)
	for _, prog := range []string{"dig", "kdig"} {
		bin := tool(t, prog)
		for _, c := range []struct {
			alg  string
			want []string
		}{
			// dig shows status NOTAUTH, kdig the TSIG error as the status.
			{"hmac-sha1", []string{"BADKEY", "ANSWER: 0"}},
			{"hmac-sha512", []string{"BADKEY", "ANSWER: 0"}},
			{"hmac-sha256", []string{"NOERROR", "10.1.2.200"}},
		} {
			t.Run(prog+" "+c.alg, func(t *testing.T) {
				out, _ := exec.Command(bin, "@"+host, "-p", port, "+retry=0", "+timeout=3", "-y", c.alg+":"+tsigName+":"+tsigValue, "www."+fwdZone, "A").CombinedOutput()
				for _, w := range c.want {
					if !strings.Contains(string(out), w) {
						t.Fatalf("%s -y %s: want %q in\n%s", prog, c.alg, w, out)
					}
				}
				// A refusal carries the server's time: with time zero
				// dig said the clocks were out of step, which they are not.
				if strings.Contains(string(out), "unsynchronized") {
					t.Errorf("%s -y %s: blames the clocks:\n%s", prog, c.alg, out)
				}
			})
		}
	}
}

// TestTSIGRefusalsUnpack: a TSIG the server cannot use still gets a reply
// the asker can read. With no algorithm at all (a TSIG with empty RDATA)
// it is FORMERR without a TSIG (RFC 8945 §5.2: a TSIG that cannot be
// interpreted makes the message corrupt); the error TSIG echoing an empty
// algorithm name packed to a record that did not unpack. An algorithm
// the server does not know, or the root name, is BADKEY naming it.
func TestTSIGRefusalsUnpack(t *testing.T) {
	e := newEnv(t, false)
	e.start(server.Options{})
	q := new(dns.Msg)
	q.SetQuestion("www."+fwdZone, dns.TypeA)
	plain, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	// withTSIG is the query with one TSIG record for key whose RDATA is
	// rdata (nil: none, RDLENGTH 0).
	withTSIG := func(key string, rdata []byte) []byte {
		b := append([]byte(nil), plain...)
		b[11] = 1 // ARCOUNT
		owner := make([]byte, 256)
		n, err := dns.PackDomainName(key, owner, 0, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, owner[:n]...)
		b = append(b, 0, byte(dns.TypeTSIG), 0, byte(dns.ClassANY), 0, 0, 0, 0, byte(len(rdata)>>8), byte(len(rdata)))
		return append(b, rdata...)
	}
	// tsigRdata is TSIG RDATA under alg with a 2-byte MAC that is wrong.
	tsigRdata := func(alg string) []byte {
		b := make([]byte, 256)
		n, err := dns.PackDomainName(alg, b, 0, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		now := uint64(time.Now().Unix())
		b = append(b[:n], byte(now>>40), byte(now>>32), byte(now>>24), byte(now>>16), byte(now>>8), byte(now), 1, 44, 0, 2, 0xab, 0xcd)
		return append(b, byte(q.Id>>8), byte(q.Id), 0, 0, 0, 0)
	}
	cases := []struct {
		name     string
		wire     []byte
		rcode    int
		tsigErr  uint16
		wantTSIG bool
	}{
		{"no algorithm (empty RDATA), known key", withTSIG(tsigName, nil), dns.RcodeFormatError, 0, false},
		{"no algorithm (empty RDATA), root owner", withTSIG(".", nil), dns.RcodeFormatError, 0, false},
		{"an algorithm nobody knows", withTSIG(tsigName, tsigRdata("hmac-md5.sig-alg.reg.int.")), dns.RcodeNotAuth, dns.RcodeBadKey, true},
		{"the root as algorithm", withTSIG(tsigName, tsigRdata(".")), dns.RcodeNotAuth, dns.RcodeBadKey, true},
	}
	for _, c := range cases {
		for _, tcp := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s tcp=%v", c.name, tcp), func(t *testing.T) {
				var reply []byte
				if tcp {
					reply = rawTCP(t, e.addr, c.wire)
				} else {
					reply = rawUDP(t, e.addr, c.wire)
				}
				if reply == nil {
					t.Fatal("no reply")
				}
				r := new(dns.Msg)
				if err := r.Unpack(reply); err != nil {
					t.Fatalf("reply does not unpack: %v (%x)", err, reply)
				}
				if r.Rcode != c.rcode || r.Id != q.Id || len(r.Question) != 1 || r.Question[0] != q.Question[0] || len(r.Answer) != 0 {
					t.Fatalf("reply rcode %s, want %s with the question and no answer:\n%v", dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode], r)
				}
				rt := r.IsTsig()
				if (rt != nil) != c.wantTSIG || (rt != nil && rt.Error != c.tsigErr) {
					t.Fatalf("reply TSIG %v, want TSIG %v with error %s", rt, c.wantTSIG, dns.RcodeToString[int(c.tsigErr)])
				}
			})
		}
	}
}

// TestTSIGUpdate: a key changes in place on both stores: a new secret
// (generated, shown once, or given), another algorithm (keeping the
// secret unless one is given), new grants; bad changes are refused and
// change nothing; each change is a tsig.update event with the secrets'
// fingerprints, never a secret.
func TestTSIGUpdate(t *testing.T) {
	eachDNSStore(t, func(t *testing.T, st envStore) {
		ctx := registry.WithActor(context.Background(), "tester")
		m := manage.NewManager(st, sealer(t, 1), nil)
		secret := bytes.Repeat([]byte{0x5a}, 32)
		if _, _, err := m.AddTSIG(ctx, "acme.example.net", "hmac-sha256", secret, "_acme-challenge.example.net"); err != nil {
			t.Fatal(err)
		}
		current := func() (zone.TSIGKey, zone.TSIGSecret) {
			t.Helper()
			ks, err := m.TSIGKeys(ctx)
			if err != nil || len(ks) != 1 {
				t.Fatalf("keys %+v, %v", ks, err)
			}
			ss, err := m.TSIGSecrets(ctx)
			if err != nil || len(ss) != 1 {
				t.Fatalf("secrets %+v, %v", ss, err)
			}
			return ks[0], ss[0]
		}
		for _, tc := range []struct {
			name string
			ch   manage.TSIGChange
			want error
			says string
		}{
			{"a missing key is not found", manage.TSIGChange{NewSecret: true}, registry.ErrNotFound, "nosuch"},
			{"a secret both generated and given", manage.TSIGChange{NewSecret: true, Secret: secret}, registry.ErrInvalid, "not both"},
			{"HMAC-MD5", manage.TSIGChange{Algorithm: "hmac-md5"}, registry.ErrInvalid, "hmac-sha256"},
			{"a short secret", manage.TSIGChange{Secret: []byte("short")}, registry.ErrInvalid, "5 bytes"},
			{"a bad grant", manage.TSIGChange{Grants: &[]string{"bad..name"}}, registry.ErrInvalid, "bad..name"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				k0, s0 := current()
				name := "acme.example.net"
				if tc.want == registry.ErrNotFound {
					name = "nosuch.example.net"
				}
				_, _, err := m.UpdateTSIG(ctx, name, tc.ch)
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("UpdateTSIG = %v; want %v naming %q", err, tc.want, tc.says)
				}
				if k, s := current(); k.Algorithm != k0.Algorithm || !slices.Equal(k.Grants, k0.Grants) || !bytes.Equal(s.Secret, s0.Secret) {
					t.Fatalf("a refused update changed the key: %+v", k)
				}
			})
		}

		k, gen, err := m.UpdateTSIG(ctx, "ACME.example.net.", manage.TSIGChange{NewSecret: true})
		if _, s := current(); err != nil || len(gen) != 32 || bytes.Equal(gen, secret) || !bytes.Equal(s.Secret, gen) || k.Algorithm != "hmac-sha256" {
			t.Fatalf("a generated secret: %+v %d bytes %v", k, len(gen), err)
		}
		if _, _, err := m.UpdateTSIG(ctx, "acme.example.net", manage.TSIGChange{Algorithm: "hmac-sha512"}); err != nil {
			t.Fatal(err)
		}
		if k, s := current(); k.Algorithm != "hmac-sha512" || s.Algorithm != "hmac-sha512" || !bytes.Equal(s.Secret, gen) {
			t.Fatalf("another algorithm keeps the secret: %+v %+v", k, s)
		}
		given := bytes.Repeat([]byte{0x6b}, 48)
		if _, out, err := m.UpdateTSIG(ctx, "acme.example.net", manage.TSIGChange{Secret: given, Grants: &[]string{"_acme-challenge.www.example.net", "dyn.example.net."}}); err != nil || out != nil {
			t.Fatalf("a given secret is not returned: %d bytes, %v", len(out), err)
		}
		if k, s := current(); !bytes.Equal(s.Secret, given) || !slices.Equal(k.Grants, []string{"_acme-challenge.www.example.net.", "dyn.example.net."}) {
			t.Fatalf("given secret and grants: %+v", k)
		}
		if _, _, err := m.UpdateTSIG(ctx, "acme.example.net", manage.TSIGChange{Grants: &[]string{}}); err != nil {
			t.Fatal(err)
		}
		if k, _ := current(); len(k.Grants) != 0 {
			t.Fatalf("grants after clearing them: %v", k.Grants)
		}

		var evs []registry.Event
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			all, err := registry.New(st).Events(ctx, registry.EventFilter{SubjectKind: zone.SubjectTSIG})
			if err != nil {
				t.Fatal(err)
			}
			evs = evs[:0]
			for _, e := range all {
				if e.Action == "tsig.update" {
					evs = append(evs, e)
				}
			}
			if len(evs) >= 4 || time.Now().After(deadline) {
				break
			}
		}
		if len(evs) != 4 {
			t.Fatalf("%d tsig.update events, want 4", len(evs))
		}
		for _, e := range evs {
			for _, s := range [][]byte{secret, gen, given} {
				if bytes.Contains(e.Before, []byte(base64.StdEncoding.EncodeToString(s))) || bytes.Contains(e.After, []byte(base64.StdEncoding.EncodeToString(s))) {
					t.Fatalf("event %s holds a secret", e.Action)
				}
			}
			if e.Subject != "acme.example.net." || !bytes.Contains(e.Before, []byte(`"fingerprint"`)) || !bytes.Contains(e.After, []byte(`"fingerprint"`)) {
				t.Fatalf("event %s %s: before %s after %s", e.Action, e.Subject, e.Before, e.After)
			}
		}
		if bytes.Equal(evs[0].Before, evs[0].After) {
			t.Fatal("the rotation's event shows no change")
		}
	})
}

// TestTSIGUpdateTakesEffect: the running server follows a key's update:
// an RFC 2136 UPDATE signed with the old secret is refused (NOTAUTH), with
// the new one it is applied; a grant taken away refuses the name.
func TestTSIGUpdateTakesEffect(t *testing.T) {
	e, oldSecret := updateEnv(t)
	_, gen, err := e.mgr.UpdateTSIG(e.ctx, acmeKey, manage.TSIGChange{NewSecret: true})
	if err != nil {
		t.Fatal(err)
	}
	newKey := "hmac-sha256:" + acmeKey + ":" + base64.StdEncoding.EncodeToString(gen)
	add := `update add ` + acmeName + ` 60 TXT "x"`
	var out string
	var ok bool
	e.waitFor("the server takes the new secret", func() bool { out, ok = e.nsupdate(t, newKey, add); return ok })
	if out, ok := e.nsupdate(t, "hmac-sha256:"+acmeKey+":"+oldSecret, add); ok || !strings.Contains(out, "NOTAUTH") {
		t.Fatalf("nsupdate with the old secret succeeded=%v, want NOTAUTH:\n%s", ok, out)
	}
	if _, _, err := e.mgr.UpdateTSIG(e.ctx, acmeKey, manage.TSIGChange{Grants: &[]string{"_acme-challenge.www." + fwdZone}}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the server takes the new grants", func() bool { out, ok = e.nsupdate(t, newKey, add); return !ok })
	if !strings.Contains(out, "REFUSED") {
		t.Fatalf("nsupdate of a name no longer granted: want REFUSED:\n%s", out)
	}
	if out, ok := e.nsupdate(t, newKey, "update add _acme-challenge.www."+fwdZone+` 60 TXT "y"`); !ok {
		t.Fatalf("nsupdate of the newly granted name:\n%s", out)
	}
}
