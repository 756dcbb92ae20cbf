package postgres_test

import (
	"context"
	"testing"

	"github.com/cadastre-ipam/cadastre/authdns/dnstest"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

func TestDNSConformance(t *testing.T) {
	dnstest.Run(t, func(t *testing.T) dnstest.Store {
		s, err := postgres.Open(context.Background(), migratedDB(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
