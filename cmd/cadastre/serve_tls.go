package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// certLoader holds the server's certificate and reloads it from its files
// on SIGHUP, so that a renewed certificate is served without a restart.
type certLoader struct {
	certFile, keyFile string

	mu   sync.RWMutex
	cert *tls.Certificate
}

func newCertLoader(certFile, keyFile string) (*certLoader, error) {
	l := &certLoader{certFile: certFile, keyFile: keyFile}
	if err := l.load(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *certLoader) load() error {
	c, err := tls.LoadX509KeyPair(l.certFile, l.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", l.certFile, l.keyFile, err)
	}
	l.mu.Lock()
	l.cert = &c
	l.mu.Unlock()
	return nil
}

// get implements tls.Config.GetCertificate.
func (l *certLoader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cert, nil
}

// reloadOnHUP reloads the certificate on each SIGHUP until ctx ends (see
// onHUP).
func (l *certLoader) reloadOnHUP(ctx context.Context, log *slog.Logger) {
	onHUP(ctx, log, "certificate", func() ([]any, error) {
		return []any{"cert", l.certFile}, l.load()
	})
}

// onHUP runs load on each SIGHUP until ctx ends: what a running server
// reads from files (its certificate, its token key) is read again without
// a restart. A load that fails is logged and what was loaded before kept;
// one that succeeds is logged with the attributes it returns. SIGHUP is
// caught from the moment onHUP returns.
func onHUP(ctx context.Context, log *slog.Logger, what string, load func() ([]any, error)) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				attrs, err := load()
				if err != nil {
					log.Error(what+" not reloaded; keeping the previous one", "err", err.Error())
					continue
				}
				log.Info(what+" reloaded", attrs...)
			}
		}
	}()
}

// loadCAs reads the CA certificates that sign client certificates.
func loadCAs(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--client-ca %s: no PEM certificate in the file", path)
	}
	return pool, nil
}
