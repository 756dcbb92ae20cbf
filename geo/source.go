// Package geo answers "where is this address?" from the sources cadastre
// knows (the register itself, imported geofeeds, MMDB databases) and keeps
// those sources. It holds no allocation rule (that is package registry) and
// parses no file format itself (package geofeed reads feeds).
package geo

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Kind is what a source was made from.
type Kind string

// Source kinds.
const (
	KindGeofeed Kind = "geofeed"
	KindMMDB    Kind = "mmdb"
)

// Source is a named geolocation data set.
type Source struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	Kind       Kind      `json:"kind"`
	Origin     string    `json:"origin"` // the file or URL it came from
	Entries    int64     `json:"entries"`
	SHA256     string    `json:"sha256,omitempty"`
	ImportedAt time.Time `json:"imported_at"`
}

// Entry places one prefix.
type Entry struct {
	Prefix   netip.Prefix      `json:"prefix"`
	Location location.Location `json:"location"`
}

// Store keeps sources. A store writes the given event in the same
// transaction as the change, like every mutation of the register.
type Store interface {
	// PutSource creates or replaces the source named s.Name with entries.
	// The stored Entries count is len(entries), except for an MMDB
	// source (no entries stored): s.Entries, its networks counted at add.
	PutSource(ctx context.Context, s Source, entries []Entry, e registry.Event) (Source, error)
	Sources(ctx context.Context) ([]Source, error)
	// SourceEntries calls fn for each entry of the named source, in address order.
	SourceEntries(ctx context.Context, name string, fn func(Entry) error) error
	// SourceEntriesAt: see EntriesAtStore.
	SourceEntriesAt(ctx context.Context, name string, a netip.Addr) ([]Entry, error)
	DeleteSource(ctx context.Context, name string, e registry.Event) error
}

// ValidateSourceName checks a source name: no control characters, as in
// every text field (registry.CheckText), and the shape of a region name.
func ValidateSourceName(name string) error {
	if err := registry.CheckText("source name", name); err != nil {
		return err
	}
	if err := registry.ValidateName(name); err != nil {
		return fmt.Errorf("source name: %w", err)
	}
	return nil
}

// validateSource checks a source's name and where it comes from (a file
// name, path or URL, printed by `geo sources`), before anything is read.
func validateSource(name, origin string) error {
	if err := ValidateSourceName(name); err != nil {
		return fmt.Errorf("%w: %w", err, registry.ErrInvalid)
	}
	if err := registry.CheckText("source "+name+": origin", origin); err != nil {
		return err
	}
	return nil
}
