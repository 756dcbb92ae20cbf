package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// eachDNSStore runs fn on a fresh SQLite file and a fresh PostgreSQL schema.
func eachDNSStore(t *testing.T, fn func(t *testing.T, st envStore)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), sqlite.Options{NoSync: true})
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
		evs, err := registry.New(st).Events(ctx, registry.EventFilter{SubjectKind: zone.SubjectTSIG})
		if err != nil {
			t.Fatal(err)
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
	axfr := func(alg string) int {
		m := new(dns.Msg)
		m.SetAxfr(fwdZone)
		m.SetTsig(name, alg, 300, time.Now().Unix())
		c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{name: b64}}
		r, _, err := c.Exchange(m, e.addr)
		if r == nil {
			t.Fatalf("AXFR: %v", err)
		}
		return r.Rcode
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
	e.waitFor("the added key to be served", func() bool { return axfr(dns.HmacSHA256) == dns.RcodeSuccess })
	if rc := axfr(dns.HmacSHA512); rc != dns.RcodeNotAuth {
		t.Errorf("AXFR signed with HMAC-SHA512 under an HMAC-SHA256 key: %s, want NOTAUTH", dns.RcodeToString[rc])
	}
	if err := e.mgr.RemoveTSIG(e.ctx, name); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the removed key to be refused", func() bool { return axfr(dns.HmacSHA256) == dns.RcodeNotAuth })
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
