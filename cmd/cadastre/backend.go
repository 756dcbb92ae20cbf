package main

import (
	"context"
	"net/netip"
	"time"

	"github.com/cadastre-ipam/cadastre/client"
	"github.com/cadastre-ipam/cadastre/registry"
)

// backend is what the CLI's verbs need of the register: a local file
// (*registry.Registry) or a server (*client.Client) answer the same way.
type backend interface {
	AddRegion(ctx context.Context, s registry.RegionSpec) (registry.Region, error)
	Regions(ctx context.Context) ([]registry.Region, error)
	AddBlock(ctx context.Context, b registry.Block) (registry.Block, error)
	Blocks(ctx context.Context) ([]registry.Block, error)
	AddPool(ctx context.Context, s registry.PoolSpec) (registry.Pool, error)
	Pools(ctx context.Context, region string) ([]registry.PoolUsage, error)
	Allocate(ctx context.Context, q registry.Request) ([]registry.Assignment, error)
	Release(ctx context.Context, t registry.Target, quarantine time.Duration, tenant *string) (registry.Assignment, error)
	Assignments(ctx context.Context, f registry.AssignmentFilter) ([]registry.Assignment, error)
	Show(ctx context.Context, p netip.Prefix) (registry.Holding, error)
	Report(ctx context.Context, region string) ([]registry.ReportRow, error)
	Relocations(ctx context.Context) ([]registry.Relocation, error)
	Events(ctx context.Context, f registry.EventFilter) ([]registry.Event, error)
}

var (
	_ backend = (*registry.Registry)(nil)
	_ backend = (*client.Client)(nil)
)

// backend returns the server client with --server, else the local register.
func (a *app) backend(ctx context.Context) (backend, error) {
	if a.cfg.server == "" {
		return a.open(ctx)
	}
	c, err := client.New(a.cfg.server, a.cfg.token, nil)
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}
