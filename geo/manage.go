package geo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// AddedMMDB is what AddMMDB kept, with what the file says of itself, for
// the operator to check it is the database meant.
type AddedMMDB struct {
	Source       Source    `json:"source"`
	Schema       Schema    `json:"schema"`
	DatabaseType string    `json:"database_type"`
	BuildTime    time.Time `json:"build_time"`
}

// AddMMDB checks the whole MMDB file at path (MMDB.Verify; absolute: a
// source is read again at every start, wherever the process runs from) and
// keeps it as the source
// name, replacing a source of that name, with a source.add event. A bad
// name, path or file is ErrInvalid; nothing is stored then.
func AddMMDB(ctx context.Context, st Store, name, path string, now time.Time) (AddedMMDB, error) {
	if err := validateSource(name, path); err != nil {
		return AddedMMDB{}, err
	}
	if !filepath.IsAbs(path) {
		return AddedMMDB{}, fmt.Errorf("source %s: MMDB path %q must be absolute: %w", name, path, registry.ErrInvalid)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return AddedMMDB{}, fmt.Errorf("source %s: %w: %w", name, err, registry.ErrInvalid)
	}
	m, err := newMMDB(name, path, data)
	nets := 0
	if err == nil {
		nets, err = m.verify()
	}
	if err != nil {
		return AddedMMDB{}, fmt.Errorf("%w: %w", err, registry.ErrInvalid)
	}
	sum := sha256.Sum256(data)
	now = now.UTC().Truncate(time.Microsecond)
	s := Source{Name: name, Kind: KindMMDB, Origin: path, Entries: int64(nets), SHA256: hex.EncodeToString(sum[:]), ImportedAt: now}
	after, err := json.Marshal(map[string]any{"name": name, "kind": KindMMDB, "origin": path, "sha256": s.SHA256, "schema": m.Schema(), "database_type": m.DatabaseType()})
	if err != nil {
		return AddedMMDB{}, err
	}
	ev := registry.Event{At: now, Actor: registry.Actor(ctx), Action: "source.add", SubjectKind: "source", Subject: name, After: after}
	if s, err = st.PutSource(ctx, s, nil, ev); err != nil {
		return AddedMMDB{}, fmt.Errorf("source %s: %w", name, err)
	}
	return AddedMMDB{Source: s, Schema: m.Schema(), DatabaseType: m.DatabaseType(), BuildTime: m.BuildTime().UTC()}, nil
}

// RemoveSource forgets the source name (an MMDB or an imported geofeed),
// with a source.remove event; an unknown name is ErrNotFound.
func RemoveSource(ctx context.Context, st Store, name string, now time.Time) error {
	ev := registry.Event{At: now.UTC().Truncate(time.Microsecond), Actor: registry.Actor(ctx), Action: "source.remove", SubjectKind: "source", Subject: name}
	if err := st.DeleteSource(ctx, name, ev); err != nil {
		return fmt.Errorf("source %s: %w", name, err)
	}
	return nil
}

// AuditRegister audits the register's current placements (from reg)
// against the sources of t: Audit, for callers that hold a register.
func AuditRegister(ctx context.Context, t *Table, reg Placer, sources []string, now time.Time) (AuditReport, error) {
	places, _, err := reg.Placements(ctx)
	if err != nil {
		return AuditReport{}, fmt.Errorf("audit: %w", err)
	}
	return Audit(ctx, t, places, sources, now)
}

// AuditRegisterWith is AuditRegister with options (thresholds, IPv6
// unit): what the CLI and the API call.
func AuditRegisterWith(ctx context.Context, t *Table, reg Placer, opts AuditOptions, now time.Time) (AuditReport, error) {
	places, _, err := reg.Placements(ctx)
	if err != nil {
		return AuditReport{}, fmt.Errorf("audit: %w", err)
	}
	return AuditWith(ctx, t, places, opts, now)
}
