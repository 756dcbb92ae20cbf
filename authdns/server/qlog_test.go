package server_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
)

// lockedBuffer is a log sink the server's goroutines may write at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The sampled query log (1 in 1 here) has a line per query, fast path
// and full path alike: client, name, type, rcode, size, flags.
func TestQueryLogSample(t *testing.T) {
	e := newEnv(t, true)
	var logs lockedBuffer
	e.start(server.Options{QueryLogSample: 1, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	e.query("udp", "www."+fwdZone, dns.TypeA, true) // the full path (a miss)
	e.query("udp", "www."+fwdZone, dns.TypeA, true) // the fast path
	e.query("tcp", "nope."+fwdZone, dns.TypeAAAA, false)
	type line struct {
		Msg, Client, Proto, Qname, Qtype, Rcode, Flags string
		Size                                           int
	}
	var got []line
	e.waitFor("three query log lines", func() bool {
		got = got[:0]
		for _, l := range strings.Split(logs.String(), "\n") {
			var x line
			if json.Unmarshal([]byte(l), &x) == nil && x.Msg == "dns query" {
				got = append(got, x)
			}
		}
		return len(got) == 3
	})
	want := []line{
		{Client: "127.0.0.1", Proto: "udp", Qname: "www." + fwdZone, Qtype: "A", Rcode: "NOERROR", Flags: "aa do"},
		{Client: "127.0.0.1", Proto: "udp", Qname: "www." + fwdZone, Qtype: "A", Rcode: "NOERROR", Flags: "aa do"},
		{Client: "127.0.0.1", Proto: "tcp", Qname: "nope." + fwdZone, Qtype: "AAAA", Rcode: "NXDOMAIN", Flags: "aa"},
	}
	for i, w := range want {
		g := got[i]
		if g.Size < 50 {
			t.Errorf("line %d: size %d", i, g.Size)
		}
		g.Msg, g.Size = "", 0
		if g != w {
			t.Errorf("line %d: %+v, want %+v", i, g, w)
		}
	}
}

// Cookie secrets rotate through the file: a cookie made with the old
// secret stays valid while the file lists it second (and is renewed with
// the new one), and becomes BADCOOKIE once it is gone.
func TestCookieSecretRotation(t *testing.T) {
	e := newEnv(t, true)
	file := filepath.Join(t.TempDir(), "cookie-secret")
	const a, b = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	write := func(lines ...string) {
		t.Helper()
		// A new modification time each write, even within the clock's resolution.
		tmp := file + ".new"
		if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		mt := time.Now().Add(time.Duration(len(lines)) * time.Hour)
		os.Chtimes(tmp, mt, mt)
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write(a)
	e.start(server.Options{CookieSecretFile: file})
	c := udpClient(honestAddr)
	ask := func(cookie string) *dns.Msg {
		t.Helper()
		r, _, err := c.Exchange(cookieQuery(cookie), e.addr)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	oldCookie := cookieOf(ask("0102030405060708"))
	write(b, a)
	e.waitFor("the new secret in use", func() bool {
		r := ask(oldCookie)
		return r.Rcode == dns.RcodeSuccess && cookieOf(r) != oldCookie
	})
	newCookie := cookieOf(ask(oldCookie))
	if r := ask(newCookie); r.Rcode != dns.RcodeSuccess || cookieOf(r) != newCookie {
		t.Fatalf("the renewed cookie: %v", r)
	}
	write(b)
	e.waitFor("the old secret dropped", func() bool { return ask(oldCookie).Rcode == dns.RcodeBadCookie })
	if r := ask(newCookie); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("the new secret's cookie after the old one was dropped: %v", r)
	}
}

// A cookie secret file that cannot be read, or holds no secret, stops the
// server at start with the file named.
func TestCookieSecretFileRefused(t *testing.T) {
	e := newEnv(t, false)
	file := filepath.Join(t.TempDir(), "cookie-secret")
	os.WriteFile(file, []byte("not a secret\n"), 0o600)
	s := server.NewServer(e.reg, e.store, e.sealer, server.Options{Listen: "127.0.0.1:0", CookieSecretFile: file})
	err := s.Start(e.ctx)
	if err == nil {
		s.Shutdown(e.ctx)
		t.Fatal("started with a bad cookie secret file")
	}
	if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("error does not name the file and line: %v", err)
	}
}
