package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
)

// TLSFiles names the files of a client's TLS settings, all optional: a
// certificate (chain) and its private key, both PEM, offered to a server
// that asks for one (`serve --client-ca`, mutual TLS); and a file of PEM
// CA certificates to trust instead of the system's (a private CA).
type TLSFiles struct {
	Cert, Key string
	CA        string
}

// HTTPClient returns an HTTP client with these settings (TLS 1.2 or
// later) and New's default timeout; with no file named, nil, which New
// takes as its default client. A certificate without its key (or the
// reverse), a file that does not read, or a CA file without a certificate
// is an error naming the file.
func (f TLSFiles) HTTPClient() (*http.Client, error) {
	if f == (TLSFiles{}) {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case f.Cert != "" && f.Key != "":
		c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s, key %s: %w", f.Cert, f.Key, err)
		}
		cfg.Certificates = []tls.Certificate{c}
	case f.Cert != "":
		return nil, fmt.Errorf("client certificate %s: no key file given for it", f.Cert)
	case f.Key != "":
		return nil, errors.New("client key given without its certificate")
	}
	if f.CA != "" {
		b, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", f.CA)
		}
		cfg.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Timeout: defaultTimeout, Transport: tr}, nil
}
