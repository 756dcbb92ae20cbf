package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// TestServeRefusesUnsafeFlags: plain HTTP off loopback, unauthenticated
// listeners off loopback and inconsistent transport flags are usage errors
// (exit 2) naming the flag and the fix, before anything listens.
func TestServeRefusesUnsafeFlags(t *testing.T) {
	db := register(t)
	// Addresses in use: the HTTP one and the DNS one alike are usage
	// errors naming their flag (a busy --dns was exit 1, "dns listen ...":
	// operator's walk-through).
	busyTCP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyTCP.Close()
	busyUDP, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyUDP.Close()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"plain HTTP on every IPv4 address", []string{"--listen", "0.0.0.0:0"}, []string{"--listen 0.0.0.0:0", "--tls-cert", "--insecure-listen"}},
		{"plain HTTP on every IPv6 address", []string{"--listen", "[::]:0"}, []string{"--listen [::]:0", "--insecure-listen"}},
		{"plain HTTP on an empty host", []string{"--listen", ":0"}, []string{"--listen :0", "--insecure-listen"}},
		{"metrics off loopback", []string{"--metrics-listen", "0.0.0.0:0"}, []string{"--metrics-listen", "--insecure-listen"}},
		{"profiles off loopback", []string{"--pprof", "0.0.0.0:0"}, []string{"--pprof", "--insecure-listen"}},
		{"a certificate without its key", []string{"--tls-cert", "x.pem"}, []string{"--tls-key"}},
		{"client certificates without TLS", []string{"--client-ca", "ca.pem"}, []string{"--client-ca", "--tls-cert"}},
		{"a certificate file that does not exist", []string{"--tls-cert", "nope.pem", "--tls-key", "nope.key"}, []string{"nope.pem"}},
		{"a trusted proxy that is not a prefix", []string{"--trusted-proxy", "proxy.example"}, []string{"--trusted-proxy", "proxy.example"}},
		{"a body deadline of zero", []string{"--read-body-timeout", "0s"}, []string{"--read-body-timeout"}},
		{"a tiny header cap", []string{"--max-header-bytes", "10"}, []string{"--max-header-bytes"}},
		{"an HTTP address in use", []string{"--listen", busyTCP.Addr().String()}, []string{"--listen " + busyTCP.Addr().String(), "in use"}},
		{"a DNS address in use", []string{"--dns", busyUDP.LocalAddr().String()}, []string{"--dns " + busyUDP.LocalAddr().String(), "in use"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "off"}, tc.args...)
			r := cli(t, db, args...)
			if r.code != exitUsage {
				t.Fatalf("want exit %d\n%s", exitUsage, r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("the message does not name %q\n%s", w, r)
				}
			}
		})
	}
}

// rawClose sends what to the server and fails unless the server closes the
// connection within limit.
func rawClose(t *testing.T, addr, what string, limit time.Duration) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, what)
	c.SetReadDeadline(time.Now().Add(limit))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("the connection is still open after %s (read %q)", limit, b)
	}
	return string(b)
}

// TestServeCutsSlowClients: serve's deadlines close a connection whose
// headers or body never finish, on /livez as on an authenticated route,
// while another client is served.
func TestServeCutsSlowClients(t *testing.T) {
	db := register(t)
	token := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "allocate"))
	srv := startServe(t, db, "--read-header-timeout", "500ms", "--read-body-timeout", "500ms")
	addr := strings.TrimPrefix(srv.url, "http://")
	for _, tc := range []struct{ name, send string }{
		{"headers that never end", "GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: "},
		{"a body that never comes on /livez", "GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nten bytes."},
		{"a body that never comes on an authenticated route", "POST /v1/assignments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
			"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{\"region\":"},
		{"a body without a token", "POST /v1/regions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				rawClose(t, addr, tc.send, 10*time.Second)
			}()
			resp, err := http.Get(srv.url + "/livez")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("another client during a slow one: %v %v", resp, err)
			}
			if resp != nil {
				resp.Body.Close()
			}
			<-done
		})
	}
}

// TestServeMetricsOnTheirOwnListener: /metrics is served on
// --metrics-listen and not on the API's address.
func TestServeMetricsOnTheirOwnListener(t *testing.T) {
	db := register(t)
	maddr := freePort(t, "tcp")
	srv := startServe(t, db, "--metrics-listen", maddr)
	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "cadastre_pool_utilization_ratio") {
		t.Errorf("GET /metrics on --metrics-listen: %d %.300s", resp.StatusCode, b)
	}
	resp, err = http.Get(srv.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("the API's address serves /metrics")
	}
}

// pki is a test CA and what it signs, written as PEM files.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), ca: ca, caKey: key}
	p.caFile = filepath.Join(p.dir, name+"-ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", der)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue signs a leaf certificate with serial number serial, for the server
// (127.0.0.1) or a client, and writes it and its key to certFile, keyFile.
func (p *pki) issue(t *testing.T, serial int64, server bool, certFile, keyFile string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: fmt.Sprintf("leaf %d", serial)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Written to a temporary name and renamed, as a certificate renewal
	// does, so that a reload never reads half a file.
	writePEM(t, certFile+".tmp", "CERTIFICATE", der)
	writePEM(t, keyFile+".tmp", "EC PRIVATE KEY", kder)
	if err := os.Rename(keyFile+".tmp", keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(certFile+".tmp", certFile); err != nil {
		t.Fatal(err)
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *pki) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return pool
}

// tlsClient trusts the server CA, offers cert if given, and speaks at most
// TLS version max (0: the default).
func tlsClient(roots *x509.CertPool, cert *tls.Certificate, max uint16) *http.Client {
	cfg := &tls.Config{RootCAs: roots, MaxVersion: max}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

// servedSerial is the serial number of the certificate the server shows.
func servedSerial(t *testing.T, c *http.Client, url string) (int64, error) {
	t.Helper()
	resp, err := c.Get(url + "/livez")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		return 0, fmt.Errorf("no TLS")
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), nil
}

// TestServeTLS: with --tls-cert and --tls-key the API speaks TLS 1.2 or
// later only, and SIGHUP makes it serve a renewed certificate without a
// restart.
func TestServeTLS(t *testing.T) {
	db := register(t)
	p := newPKI(t, "server")
	certFile, keyFile := filepath.Join(p.dir, "tls.crt"), filepath.Join(p.dir, "tls.key")
	p.issue(t, 100, true, certFile, keyFile)
	client := tlsClient(p.pool(), nil, 0)
	srv := startServeWith(t, serveSpec{db: db, extra: []string{"--tls-cert", certFile, "--tls-key", keyFile}, client: client, scheme: "https"})
	if !strings.Contains(srv.logs.String(), "https://") {
		t.Errorf("the start message does not say https:\n%s", srv.logs)
	}
	if n, err := servedSerial(t, client, srv.url); err != nil || n != 100 {
		t.Fatalf("serial %d, %v; want 100", n, err)
	}
	if _, err := servedSerial(t, tlsClient(p.pool(), nil, tls.VersionTLS11), srv.url); err == nil {
		t.Error("a TLS 1.1 client was served")
	}
	// Plain HTTP to the TLS port is not served.
	if resp, err := http.Get("http://" + strings.TrimPrefix(srv.url, "https://") + "/livez"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on the TLS port")
		}
	}

	// The CLI over the API trusts a private CA through SSL_CERT_FILE.
	token := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "read"))
	t.Setenv("SSL_CERT_FILE", p.caFile)
	if r := remote(t, srv.url, token, "region", "list"); r.code != 0 || !strings.Contains(r.stdout, "east") {
		t.Errorf("the CLI over TLS:\n%s", r)
	}

	p.issue(t, 101, true, certFile, keyFile)
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := servedSerial(t, client, srv.url)
		if err == nil && n == 101 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP the server still shows serial %d (%v)\n%s", n, err, srv.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A broken renewal keeps the previous certificate.
	os.WriteFile(certFile, []byte("not a certificate"), 0o600)
	srv.cmd.Process.Signal(syscall.SIGHUP)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(srv.logs.String(), "certificate not reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("a bad certificate on SIGHUP is not logged\n%s", srv.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n, err := servedSerial(t, client, srv.url); err != nil || n != 101 {
		t.Errorf("after a bad renewal: serial %d, %v; want 101 still", n, err)
	}
}

// TestServeClientCertificates: with --client-ca, a client without a
// certificate, or with one another CA signed, is refused; one the CA
// signed is served.
func TestServeClientCertificates(t *testing.T) {
	db := register(t)
	sp := newPKI(t, "server")
	cp := newPKI(t, "clients")
	other := newPKI(t, "other")
	certFile, keyFile := filepath.Join(sp.dir, "tls.crt"), filepath.Join(sp.dir, "tls.key")
	sp.issue(t, 1, true, certFile, keyFile)
	good := cp.issue(t, 7, false, filepath.Join(cp.dir, "c.crt"), filepath.Join(cp.dir, "c.key"))
	bad := other.issue(t, 8, false, filepath.Join(other.dir, "c.crt"), filepath.Join(other.dir, "c.key"))
	srv := startServeWith(t, serveSpec{db: db, extra: []string{"--tls-cert", certFile, "--tls-key", keyFile, "--client-ca", cp.caFile},
		client: tlsClient(sp.pool(), &good, 0), scheme: "https"})
	for _, tc := range []struct {
		name   string
		cert   *tls.Certificate
		served bool
	}{
		{"no client certificate", nil, false},
		{"a certificate from another CA", &bad, false},
		{"a certificate from the client CA", &good, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tlsClient(sp.pool(), tc.cert, 0).Get(srv.url + "/livez")
			if err == nil {
				resp.Body.Close()
			}
			if got := err == nil && resp.StatusCode == http.StatusOK; got != tc.served {
				t.Errorf("served %v (%v), want %v", got, err, tc.served)
			}
		})
	}
}

// TestCLIMutualTLS: the verbs over --server present a client certificate
// (--client-cert/--client-key, or $CADASTRE_CLIENT_CERT/_KEY) to a server
// that requires one (--client-ca), and trust a private CA with --ca-file;
// without the certificate the server refuses them; half a pair or a bad
// file is a usage error naming it.
func TestCLIMutualTLS(t *testing.T) {
	db := register(t)
	sp := newPKI(t, "server")
	cp := newPKI(t, "clients")
	certFile, keyFile := filepath.Join(sp.dir, "tls.crt"), filepath.Join(sp.dir, "tls.key")
	sp.issue(t, 1, true, certFile, keyFile)
	cc, ck := filepath.Join(cp.dir, "c.crt"), filepath.Join(cp.dir, "c.key")
	good := cp.issue(t, 7, false, cc, ck)
	srv := startServeWith(t, serveSpec{db: db, extra: []string{"--tls-cert", certFile, "--tls-key", keyFile, "--client-ca", cp.caFile},
		client: tlsClient(sp.pool(), &good, 0), scheme: "https"})
	token := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "read"))
	env := []string{"CADASTRE_SERVER=" + srv.url, "CADASTRE_TOKEN=" + token}
	for _, c := range []struct {
		name  string
		env   []string
		args  []string
		code  int
		words []string
	}{
		{"flags", nil, []string{"--ca-file", sp.caFile, "--client-cert", cc, "--client-key", ck}, 0, []string{"east"}},
		{"environment", []string{"CADASTRE_CLIENT_CERT=" + cc, "CADASTRE_CLIENT_KEY=" + ck}, []string{"--ca-file", sp.caFile}, 0, []string{"east"}},
		{"no client certificate is refused by the server", nil, []string{"--ca-file", sp.caFile}, exitFailure, []string{"certificate"}},
		{"the system's CAs do not trust the private CA", nil, []string{"--client-cert", cc, "--client-key", ck}, exitFailure, []string{"certificate"}},
		{"a certificate without its key", nil, []string{"--ca-file", sp.caFile, "--client-cert", cc}, exitUsage, []string{cc, "no key file"}},
		{"a CA file without a certificate", nil, []string{"--ca-file", ck, "--client-cert", cc, "--client-key", ck}, exitUsage, []string{ck, "no PEM certificate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runIn(t, t.TempDir(), append(slices.Clone(env), c.env...), append(c.args, "region", "list")...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d:\n%s", r.code, c.code, r)
			}
			for _, w := range c.words {
				if !strings.Contains(r.stdout+r.stderr, w) {
					t.Errorf("output does not say %q:\n%s", w, r)
				}
			}
		})
	}
}

// TestReadyzFailsWhenTheStoreRefusesWrites: a server whose register cannot
// be written (a read-only file in a read-only folder) is alive, reads, but
// is not ready.
func TestReadyzFailsWhenTheStoreRefusesWrites(t *testing.T) {
	as := readOnlyRunner(t)
	db := readOnlyCopy(t, false)
	srv := startServeWith(t, serveSpec{db: db, as: as, probe: "/livez",
		env: []string{"CADASTRE_TOKEN_KEY=" + strings.Repeat("ab", 32)}})
	resp, err := http.Get(srv.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "refuses writes") {
		t.Errorf("/readyz on a read-only register: %d %q, want 503 saying writes are refused", resp.StatusCode, b)
	}
}

// TestStaleWALRefused: a register whose write-ahead log holds committed
// changes, in a folder where the -shm file cannot be created, is refused
// (exit 7, naming the log) instead of served without those changes.
func TestStaleWALRefused(t *testing.T) {
	as := readOnlyRunner(t)
	src := filepath.Join(t.TempDir(), "live.db")
	copyDB(t, register(t), src)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, src, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := registry.New(st)
	if _, err := reg.AddRegion(registry.WithActor(ctx, "test"), registry.RegionSpec{Name: "only-in-the-wal", Location: location.Location{Country: "NO"}}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(src + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the change is not in the write-ahead log: %v", err)
	}
	dir, err := os.MkdirTemp("", "cadastre-wal-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Chmod(dir, 0o755)
		os.RemoveAll(dir)
	})
	db := filepath.Join(dir, "cadastre.db")
	for _, suffix := range []string{"", "-wal"} { // and no -shm
		b, err := os.ReadFile(src + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(db+suffix, b, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	r := cliAs(t, as, db, "region", "list")
	if r.code != codeDatabase || !strings.Contains(r.stderr, db+"-wal") {
		t.Errorf("want exit %d naming %s-wal, not a stale list\n%s", codeDatabase, db, r)
	}
}

// TestLoopbackAddresses: which --listen addresses count as reachable from
// this machine only, where plain HTTP is allowed without --insecure-listen.
func TestLoopbackAddresses(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8080", true},
		{"127.9.9.9:8080", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{"[::ffff:127.0.0.1]:8080", true},
		{"0.0.0.0:8080", false},
		{"[::]:8080", false},
		{":8080", false},
		{"192.0.2.1:8080", false},
		{"cadastre.example:8080", false},
		{"127.0.0.1", false},
	} {
		if got := loopback(tc.addr); got != tc.want {
			t.Errorf("loopback(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// TestServeMaxBatch: `serve --max-batch N` bounds the prefixes one API
// request asks for: N+1 is 413 too-large naming the limit and takes
// nothing, N is served; --max-batch 0 is a usage error (issue 10 item 2;
// TestBatchLimit checks the rule, this the flag's way to it).
func TestServeMaxBatch(t *testing.T) {
	db := register(t)
	if r := cli(t, db, "serve", "--listen", "127.0.0.1:0", "--max-batch", "0"); r.code != exitUsage || !strings.Contains(r.stderr, "--max-batch") {
		t.Errorf("--max-batch 0: want exit %d naming the flag:\n%s", exitUsage, r)
	}
	token := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "allocate"))
	srv := startServe(t, db, "--max-batch", "3")
	post := func(count int) (int, string) {
		t.Helper()
		rq, _ := http.NewRequest(http.MethodPost, srv.url+"/v1/assignments", strings.NewReader(fmt.Sprintf(`[{"region":"east","family":6,"count":%d}]`, count)))
		rq.Header.Set("Authorization", "Bearer "+token)
		rq.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := post(4); st != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too-large") || !strings.Contains(body, "at most 3") {
		t.Errorf("4 prefixes past --max-batch 3: %d %s; want 413 too-large naming the limit", st, body)
	}
	if st, body := post(3); st != http.StatusCreated {
		t.Errorf("3 prefixes at --max-batch 3: %d %s", st, body)
	}
}
