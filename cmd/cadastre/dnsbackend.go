package main

import (
	"context"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/client"
)

// dnsBackend is what the zone, record and tsig verbs that work over the
// API need: the local register's zone manager, or a server's /v1.
type dnsBackend interface {
	AddZones(ctx context.Context, spec manage.ZoneSpec) ([]zone.Zone, error)
	Reconfigure(ctx context.Context, name string, ch manage.ZoneChange) (zone.Zone, error)
	Zones(ctx context.Context) ([]zone.Zone, error)
	RemoveZones(ctx context.Context, nameOrPrefix string) ([]zone.Zone, error)
	Split(ctx context.Context, parent string, o manage.SplitOptions) ([]manage.SplitZone, error)
	Join(ctx context.Context, name string, o manage.JoinOptions) ([]zone.Zone, error)
	// AddRecordHides adds a record and says what it hides when it
	// delegates (on both, the same list: manage.Manager.Hides).
	AddRecordHides(ctx context.Context, zoneName, name, typ, data string, ttl uint32) (zone.Record, []string, error)
	Records(ctx context.Context, zoneName string) ([]zone.Record, error)
	DeleteRecord(ctx context.Context, id int64) error
	AddTSIG(ctx context.Context, name, alg string, secret []byte, grants ...string) (zone.TSIGKey, []byte, error)
	UpdateTSIG(ctx context.Context, name string, ch manage.TSIGChange) (zone.TSIGKey, []byte, error)
	TSIGKeys(ctx context.Context) ([]zone.TSIGKey, error)
	RemoveTSIG(ctx context.Context, name string) error
}

var (
	_ dnsBackend = (*manage.Manager)(nil)
	_ dnsBackend = (*client.Client)(nil)
)

// dnsBackend returns the server's API with --server, else the local
// register's zone manager (withKeys: with the sealing key, for TSIG
// secrets).
func (a *app) dnsBackend(ctx context.Context, withKeys bool) (dnsBackend, error) {
	if a.cfg.server != "" {
		return a.client()
	}
	m, _, _, err := a.dnsManager(ctx, withKeys)
	return m, err
}

// warnGapsOf warns, on the local register, where secondaries cannot
// answer what cadastre answers (warnGaps). Over --server it says nothing:
// the check reads the register's pools, which only the local register
// gives it (run `cadastre zone list` on the server's machine).
func (a *app) warnGapsOf(ctx context.Context, b dnsBackend, names ...string) {
	if m, ok := b.(*manage.Manager); ok {
		a.warnGaps(ctx, m, names...)
	}
}
