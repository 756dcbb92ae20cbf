package geo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cadastre-ipam/cadastre/geofeed"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Published is the register's published geofeed, as bytes, with the event-log
// position it reflects.
type Published struct {
	CSV      []byte
	Position registry.Position
	Entries  int
}

// PublishFeed writes the register's RFC 8805 geofeed: every pool and every
// relocated unit placed at its region's location, adjacent prefixes with
// the same location merged into the fewest CIDRs, in a deterministic order,
// under a header naming the event-log position it reflects. The bytes
// depend on the register alone, not on when or where they are made: every
// replica, and the CLI over the API or on the file, publish the same feed
// for the same position.
func PublishFeed(ctx context.Context, reg Placer) (Published, error) {
	places, pos, err := reg.Placements(ctx)
	if err != nil {
		return Published{}, fmt.Errorf("geofeed: %w", err)
	}
	entries := make([]geofeed.Entry, 0, len(places))
	for _, p := range places {
		// Only the global space is published: private space (RFC 1918,
		// ULA, shared) means nothing outside its routing domain, and
		// RFC 8805 readers refuse it (geofeed check flags it). The
		// register's placements are the global space's already
		// (registry.Placements); this also keeps a Placer of another
		// space to what may be published.
		if !registry.InGlobalSpace(p.Prefix) {
			continue
		}
		entries = append(entries, geofeed.Entry{Prefix: p.Prefix, Location: p.Location})
	}
	merged, err := geofeed.MergeByLocation(entries)
	if err != nil {
		return Published{}, fmt.Errorf("geofeed: %w", err)
	}
	header := []string{
		"RFC 8805 geofeed published by cadastre",
		fmt.Sprintf("reflects the event log at position seq %d (latest event %s)", pos.Seq, pos.At.UTC().Format(time.RFC3339Nano)),
	}
	var buf bytes.Buffer
	if err := geofeed.Write(&buf, merged, geofeed.WriteOptions{Header: header}); err != nil {
		return Published{}, fmt.Errorf("geofeed: %w", err)
	}
	return Published{CSV: buf.Bytes(), Position: pos, Entries: len(merged)}, nil
}

// ImportReport says what an import kept and what it left out.
type ImportReport struct {
	Source      Source               `json:"source"`
	Diagnostics []geofeed.Diagnostic `json:"diagnostics"`
	// Errors and Warnings count the diagnostics of each severity: a
	// refused feed is judged by its errors alone.
	Errors      int `json:"errors"`
	Warnings    int `json:"warnings"`
	Skipped     int `json:"skipped_lines"`
	PostalDrops int `json:"postal_codes_dropped"`
}

// ErrFeedHasErrors means a feed was refused whole because of its errors.
var ErrFeedHasErrors = fmt.Errorf("feed has errors: %w", registry.ErrInvalid)

// ErrEmptyFeed means an import would have left the source with no entries
// (an empty file, a failed download, or --skip-bad-lines on a feed whose
// every line is bad) and was refused: replacing a partner's feed with
// nothing is a mistake far more often than it is meant. It is ErrInvalid.
var ErrEmptyFeed = fmt.Errorf("feed has no usable entries: %w", registry.ErrInvalid)

// ImportOptions says what an import may do beyond keeping a clean feed.
type ImportOptions struct {
	// SkipBadLines keeps the good lines of a feed with errors.
	SkipBadLines bool
	// AllowEmpty lets an import keep a source with no entries (an empty
	// feed, or one whose every line is bad with SkipBadLines): otherwise
	// it is refused with ErrEmptyFeed and the source is left as it was.
	AllowEmpty bool
}

// ImportFeed checks a feed and stores it as the source name, atomically:
// either the whole new source replaces the old one, or nothing changes. A
// feed with errors is refused whole unless opts.SkipBadLines, which keeps
// the good lines; a feed that leaves no entry is refused unless
// opts.AllowEmpty; postal codes are dropped (RFC 8805 deprecates them).
func ImportFeed(ctx context.Context, st Store, name, origin string, r io.Reader, opts ImportOptions, now time.Time) (ImportReport, error) {
	var rep ImportReport
	if err := validateSource(name, origin); err != nil {
		return rep, err
	}
	entries, diags, err := geofeed.ReadAll(r, geofeed.Options{})
	rep.Diagnostics = diags
	if err != nil {
		return rep, fmt.Errorf("geofeed %s: %w", origin, err)
	}
	bad := map[int]bool{}
	for _, d := range diags {
		if d.Severity == geofeed.Error {
			bad[d.Line] = true
			rep.Errors++
		} else {
			rep.Warnings++
		}
	}
	if len(bad) > 0 && !opts.SkipBadLines {
		return rep, fmt.Errorf("geofeed %s: %d errors on %d lines (and %d warnings); nothing imported (--skip-bad-lines imports the good lines): %w",
			origin, rep.Errors, len(bad), rep.Warnings, ErrFeedHasErrors)
	}
	rep.Skipped = len(bad)
	out := make([]Entry, 0, len(entries))
	for _, e := range entries {
		if bad[e.Line] {
			continue
		}
		if e.Postal != "" {
			rep.PostalDrops++
		}
		out = append(out, Entry{Prefix: e.Prefix, Location: e.Location})
	}
	if len(out) == 0 && !opts.AllowEmpty {
		why := "the feed lists no entry"
		if rep.Skipped > 0 {
			why = fmt.Sprintf("all %d lines with entries have errors (%d errors, %d warnings)", rep.Skipped, rep.Errors, rep.Warnings)
		}
		return rep, fmt.Errorf("geofeed %s: %s; source %s left as it was (--allow-empty keeps an empty source): %w", origin, why, name, ErrEmptyFeed)
	}
	src := Source{Name: name, Kind: KindGeofeed, Origin: origin, ImportedAt: now.UTC().Truncate(time.Microsecond)}
	ev := registry.Event{At: src.ImportedAt, Actor: registry.Actor(ctx), Action: "source.import", SubjectKind: "source", Subject: name}
	ev.After = []byte(fmt.Sprintf(`{"name":%q,"kind":"geofeed","origin":%q,"entries":%d,"skipped_lines":%d}`, name, origin, len(out), rep.Skipped))
	s, err := st.PutSource(ctx, src, out, ev)
	if err != nil {
		return rep, fmt.Errorf("source %s: %w", name, err)
	}
	rep.Source = s
	return rep, nil
}
