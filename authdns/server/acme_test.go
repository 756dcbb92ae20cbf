package server_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/providers/dns/dnsupdate"
	"github.com/go-acme/lego/v5/registration"
	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/internal/testenv"
)

// pebbleVersion is the pebble that scripts/fetch-pebble builds into
// .cache/pebble (keep the two in step).
const pebbleVersion = "v2.10.3"

// legoProvider is lego's RFC 2136 provider (dnsupdate, "rfc2136" before
// lego v5), as an ACME client runs it, pointed at the server with the
// key granted _acme-challenge names.
func legoProvider(t *testing.T, e *env, secret string) *dnsupdate.DNSProvider {
	t.Helper()
	cfg := dnsupdate.NewDefaultConfig()
	cfg.Nameserver = e.addr
	cfg.TSIGKey = acmeKey
	cfg.TSIGSecret = secret
	cfg.TSIGAlgorithm = dns.HmacSHA256
	cfg.DNSTimeout = 5 * time.Second
	// One domain's challenge after another without lego's default minute
	// in between: the server answers the change at once.
	cfg.SequenceInterval = 100 * time.Millisecond
	p, err := dnsupdate.NewDNSProviderConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// lego finds the zone by asking its resolvers for the SOA: make them
	// the server (the default would be the machine's resolver).
	old := dns01.DefaultClient()
	dns01.SetDefaultClient(dns01.NewClient(&dns01.Options{RecursiveNameservers: []string{e.addr}, Timeout: 5 * time.Second}))
	t.Cleanup(func() { dns01.SetDefaultClient(old) })
	return p
}

// delvTXT runs delv for name's TXT against the server, trusting the
// forward zone's DS, and returns its output.
func delvTXT(t *testing.T, e *env, name string) string {
	t.Helper()
	delv := tool(t, "delv")
	ds, err := e.mgr.DS(e.ctx, fwdZone)
	if err != nil {
		t.Fatal(err)
	}
	var anchors strings.Builder
	anchors.WriteString("trust-anchors {\n")
	for _, d := range ds {
		fmt.Fprintf(&anchors, "  %s static-ds %d %d %d \"%s\";\n", d.Hdr.Name, d.KeyTag, d.Algorithm, d.DigestType, strings.ToUpper(d.Digest))
	}
	anchors.WriteString("};\n")
	file := filepath.Join(t.TempDir(), "anchors")
	if err := os.WriteFile(file, []byte(anchors.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(e.addr)
	out, _ := exec.Command(delv, "@"+host, "-p", port, "-a", file, "+root="+fwdZone, name, "TXT").CombinedOutput()
	return string(out)
}

// TestLegoProviderAddsAndRemovesTXT: lego's RFC 2136 provider, as an ACME
// client runs it for dns-01, adds the challenge TXT through UPDATE with
// TSIG (delv validates it from the zone's DS) and removes it again.
func TestLegoProviderAddsAndRemovesTXT(t *testing.T) {
	e, secret := updateEnv(t)
	p := legoProvider(t, e, secret)
	ctx := context.Background()
	const domain, keyAuth = "example.test", "token.thumbprint"
	info := dns01.GetChallengeInfo(ctx, domain, keyAuth)
	if info.EffectiveFQDN != acmeName {
		t.Fatalf("lego's challenge name %s, want %s", info.EffectiveFQDN, acmeName)
	}
	n0, serial0 := e.records(t), e.srv.Serial(fwdZone)

	if err := p.Present(ctx, domain, "token", keyAuth); err != nil {
		t.Fatalf("Present: %v", err)
	}
	r := e.query("udp", acmeName, dns.TypeTXT, false)
	if len(r.Answer) != 1 || !strings.Contains(r.Answer[0].String(), `"`+info.Value+`"`) {
		t.Fatalf("TXT after Present: %v", r)
	}
	if n := e.records(t); n != n0+1 {
		t.Fatalf("%d static records after Present, want %d", n, n0+1)
	}
	if s := e.srv.Serial(fwdZone); s == serial0 {
		t.Fatal("serial did not move after Present")
	}
	if out := delvTXT(t, e, acmeName); !strings.Contains(out, "; fully validated") || !strings.Contains(out, info.Value) {
		t.Fatalf("delv %s TXT after Present:\n%s", acmeName, out)
	}

	if err := p.CleanUp(ctx, domain, "token", keyAuth); err != nil {
		t.Fatalf("CleanUp: %v", err)
	}
	if r := e.query("udp", acmeName, dns.TypeTXT, false); r.Rcode != dns.RcodeNameError || len(r.Answer) != 0 {
		t.Fatalf("TXT after CleanUp: %v", r)
	}
	if n := e.records(t); n != n0 {
		t.Fatalf("%d static records after CleanUp, want %d", n, n0)
	}

	// A domain whose challenge name the key is not granted: refused,
	// nothing changes.
	if err := p.Present(ctx, "www2.example.test", "token", keyAuth); err == nil || !strings.Contains(err.Error(), "REFUSED") {
		t.Fatalf("Present for an ungranted name: %v, want REFUSED", err)
	}
	if n := e.records(t); n != n0 {
		t.Fatalf("%d static records after a refused Present, want %d", n, n0)
	}
}

// TestACMEDNS01IssuesCertificate: a whole ACME dns-01 issuance. lego asks
// pebble (Let's Encrypt's ACME test server) for a certificate for names
// in a cadastre zone; its RFC 2136 provider writes the challenge TXTs to
// cadastre with the TSIG key granted them, pebble's validation asks
// cadastre (its -dnsserver) for them, and the certificate comes back for
// those names. Both ends run on loopback.
func TestACMEDNS01IssuesCertificate(t *testing.T) {
	bin := testenv.Cached(t, filepath.Join("pebble", pebbleVersion, "pebble"), "scripts/fetch-pebble")
	e := newEnv(t, true)
	domains := []string{"example.test", "vm1.example.test"}
	var grants []string
	for _, d := range domains {
		grants = append(grants, "_acme-challenge."+d+".")
	}
	_, sec, err := e.mgr.AddTSIG(e.ctx, acmeKey, "hmac-sha256", nil, grants...)
	if err != nil {
		t.Fatal(err)
	}
	e.start(server.Options{})
	n0 := e.records(t)

	dir, roots := startPebble(t, bin, e.addr)

	p := legoProvider(t, e, base64.StdEncoding.EncodeToString(sec))
	user := &acmeUser{key: mustECDSA(t)}
	cfg := lego.NewConfig(user)
	cfg.CADirURL = dir
	cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	cfg.Certificate.Timeout = 30 * time.Second
	client, err := lego.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// lego's propagation check asks its resolvers (the server, above) for
	// the TXT; the authoritative check would look up the zone's NS
	// addresses on port 53, which the test's server does not listen on.
	if err := client.Challenge.SetDNS01Provider(p, dns01.DisableAuthoritativeNssPropagationRequirement()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg, err := client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatalf("ACME registration: %v", err)
	}
	user.reg = reg
	res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{Domains: domains, KeyType: certcrypto.EC256, Bundle: true})
	if err != nil {
		t.Fatalf("ACME dns-01 issuance for %v: %v", domains, err)
	}

	block, _ := pem.Decode(res.Certificate)
	if block == nil {
		t.Fatalf("no PEM certificate in %q", res.Certificate)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(leaf.DNSNames))
	if !slices.Equal(got, domains) {
		t.Fatalf("certificate for %v, want %v", got, domains)
	}
	issuerBlock, _ := pem.Decode(res.IssuerCertificate)
	if issuerBlock == nil {
		t.Fatal("no issuer certificate")
	}
	issuer, err := x509.ParseCertificate(issuerBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.CheckSignatureFrom(issuer); err != nil {
		t.Fatalf("certificate not signed by its issuer %s: %v", issuer.Subject, err)
	}
	// lego cleaned up: the challenge TXTs are gone again.
	if n := e.records(t); n != n0 {
		t.Fatalf("%d static records after issuance, want %d (challenge TXTs left behind)", n, n0)
	}
}

// startPebble runs pebble on a loopback port with a TLS certificate made
// for the test, validating dns-01 challenges against dnsAddr, until the
// test ends. It returns the ACME directory URL and the pool that trusts
// pebble's HTTPS.
func startPebble(t *testing.T, bin, dnsAddr string) (string, *x509.CertPool) {
	t.Helper()
	tmp := t.TempDir()
	certFile, keyFile, roots := selfSigned(t, tmp)
	httpc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	// pebble takes a listen address, not a listener: take a free port and
	// hand it over, trying again (a bounded number of times) if another
	// process took it in between.
	var lastOut string
	for attempt := 0; attempt < 3; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		conf := fmt.Sprintf(`{"pebble": {"listenAddress": %q, "certificate": %q, "privateKey": %q, "httpPort": 5002, "tlsPort": 5001}}`, addr, certFile, keyFile)
		confFile := filepath.Join(tmp, "pebble.json")
		if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-config", confFile, "-dnsserver", dnsAddr)
		// No random sleeps before validation, no forced bad nonces: the
		// test checks the protocol, not lego's retries.
		cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
		out := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start pebble: %v", err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		stop := func() {
			cmd.Process.Kill()
			<-done
		}
		dir := "https://" + addr + "/dir"
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			select {
			case <-done:
				lastOut = out.String()
				goto next
			default:
			}
			if resp, err := httpc.Get(dir); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Cleanup(func() {
						stop()
						if t.Failed() {
							t.Logf("pebble:\n%s", out.String())
						}
					})
					return dir, roots
				}
			}
		}
		stop()
		t.Fatalf("pebble did not answer %s within 20 s:\n%s", dir, out.String())
	next:
	}
	t.Fatalf("pebble did not start:\n%s", lastOut)
	return "", nil
}

// selfSigned writes a certificate for 127.0.0.1 and its key to dir, and
// returns their files and a pool trusting the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key := mustECDSA(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pebble test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(c)
	return certFile, keyFile, roots
}

func mustECDSA(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// acmeUser is the ACME account lego registers.
type acmeUser struct {
	key crypto.Signer
	reg *acme.ExtendedAccount
}

func (u *acmeUser) GetEmail() string                       { return "" }
func (u *acmeUser) GetRegistration() *acme.ExtendedAccount { return u.reg }
func (u *acmeUser) GetPrivateKey() crypto.Signer           { return u.key }
