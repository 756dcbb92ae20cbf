package geo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/geo/cloudregions"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// ErrRangesFormat is a --format that names no known provider file; it is
// ErrInvalid.
var ErrRangesFormat = fmt.Errorf("unknown ranges format (want %s): %w", strings.Join(cloudregions.Providers, ", "), registry.ErrInvalid)

// RangesReport is what ImportRanges kept: the source, how many prefixes
// were placed by their region, how many were kept unplaced (global
// entries, and regions the embedded table does not know, listed so the
// operator can see what was not placed, and why).
type RangesReport struct {
	Source         Source   `json:"source"`
	Format         string   `json:"format"`
	RegionsVersion string   `json:"regions_version"`
	Placed         int      `json:"placed"`
	Global         int      `json:"global"`
	UnknownRegions []string `json:"unknown_regions"`
	Unknown        int      `json:"unknown_region_prefixes"`
	// Duplicates counts prefixes listed more than once (AWS lists a
	// prefix under each service that uses it); the first listing wins.
	Duplicates int `json:"duplicates"`
}

// rangesOrigin marks a source's origin as a provider's ranges file, so
// that audit --provider knows which provider's regions to name.
const rangesOrigin = " ranges: "

// RangesProvider tells whether a source was imported from a provider's
// published ranges, and which provider: the audit names the provider's
// regions by it.
func RangesProvider(s SourceStatus) (string, bool) {
	p, _, ok := strings.Cut(s.Origin, rangesOrigin)
	if !ok || s.Kind != KindGeofeed || !slices.Contains(cloudregions.Providers, p) {
		return "", false
	}
	return p, true
}

// rangeItem is one prefix of a provider's file, with the region the file
// gives it ("" for a global one) and where it sits in the file.
type rangeItem struct {
	path   string
	prefix string
	region string
}

// ImportRanges reads a cloud provider's published ranges (format aws,
// azure, gcp or oracle) from r and keeps them as the source name, like an
// imported geofeed (same storage, same rank): each prefix placed where
// the embedded region table says its region is. Global prefixes, and
// prefixes of a region the table does not know, are kept unplaced and
// counted (never guessed). Any bad input (invalid JSON, a field of the
// wrong type, a prefix with host bits) is ErrInvalid naming where, and
// the source is left as it was.
func ImportRanges(ctx context.Context, st Store, name, origin, format string, r io.Reader, now time.Time) (RangesReport, error) {
	rep := RangesReport{Format: format, RegionsVersion: cloudregions.Version(), UnknownRegions: []string{}}
	if err := validateSource(name, origin); err != nil {
		return rep, err
	}
	if !slices.Contains(cloudregions.Providers, format) {
		return rep, fmt.Errorf("ranges %s: format %q: %w", origin, format, ErrRangesFormat)
	}
	if err := cloudregions.Check(); err != nil {
		return rep, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return rep, fmt.Errorf("ranges %s: %w", origin, err)
	}
	items, err := parseRanges(format, data)
	if err != nil {
		return rep, fmt.Errorf("ranges %s (%s format): %w: %w", origin, format, err, registry.ErrInvalid)
	}
	seen := map[netip.Prefix]bool{}
	unknown := map[string]bool{}
	out := make([]Entry, 0, len(items))
	for _, it := range items {
		p, err := netip.ParsePrefix(it.prefix)
		if err != nil {
			return rep, fmt.Errorf("ranges %s (%s format): %s: %w: %w", origin, format, it.path, err, registry.ErrInvalid)
		}
		if p != p.Masked() {
			return rep, fmt.Errorf("ranges %s (%s format): %s: %s has host bits set (the network is %s): %w", origin, format, it.path, it.prefix, p.Masked(), registry.ErrInvalid)
		}
		if seen[p] {
			rep.Duplicates++
			continue
		}
		seen[p] = true
		var loc location.Location
		switch reg, ok := cloudregions.Lookup(format, it.region); {
		case isGlobal(format, it.region):
			rep.Global++
		case !ok:
			rep.Unknown++
			if !unknown[it.region] {
				unknown[it.region] = true
				rep.UnknownRegions = append(rep.UnknownRegions, it.region)
			}
		default:
			loc = reg.Location
			rep.Placed++
		}
		out = append(out, Entry{Prefix: p, Location: loc})
	}
	if len(out) == 0 {
		return rep, fmt.Errorf("ranges %s (%s format): the file lists no prefix; source %s left as it was: %w", origin, format, name, ErrEmptyFeed)
	}
	slices.Sort(rep.UnknownRegions)
	stored := format + rangesOrigin + origin
	if len(rep.UnknownRegions) > 0 {
		stored += fmt.Sprintf(" (unknown regions, not placed: %s)", strings.Join(rep.UnknownRegions, ", "))
	}
	src := Source{Name: name, Kind: KindGeofeed, Origin: stored, ImportedAt: now.UTC().Truncate(time.Microsecond)}
	after, err := json.Marshal(map[string]any{"name": name, "kind": KindGeofeed, "origin": stored, "format": format, "regions_version": rep.RegionsVersion,
		"entries": len(out), "placed": rep.Placed, "global": rep.Global, "unknown_regions": rep.UnknownRegions})
	if err != nil {
		return rep, err
	}
	ev := registry.Event{At: src.ImportedAt, Actor: registry.Actor(ctx), Action: "source.import", SubjectKind: "source", Subject: name, After: after}
	s, err := st.PutSource(ctx, src, out, ev)
	if err != nil {
		return rep, fmt.Errorf("source %s: %w", name, err)
	}
	rep.Source = s
	return rep, nil
}

// isGlobal is a prefix the provider ties to no region: AWS's GLOBAL,
// Google's global scope, Azure's tags without a region.
func isGlobal(format, region string) bool {
	switch format {
	case "aws":
		return region == "GLOBAL" || region == ""
	case "gcp":
		return region == "global" || region == ""
	case "azure":
		return region == ""
	}
	return region == ""
}

// The files' layouts, as each provider documents them; fields not named
// here are ignored (providers add fields).
type (
	awsFile struct {
		Prefixes []struct {
			IPPrefix string `json:"ip_prefix"`
			Region   string `json:"region"`
			Service  string `json:"service"`
		} `json:"prefixes"`
		IPv6Prefixes []struct {
			IPv6Prefix string `json:"ipv6_prefix"`
			Region     string `json:"region"`
			Service    string `json:"service"`
		} `json:"ipv6_prefixes"`
	}
	azureFile struct {
		Values []struct {
			Name       string `json:"name"`
			Properties struct {
				Region          string   `json:"region"`
				AddressPrefixes []string `json:"addressPrefixes"`
			} `json:"properties"`
		} `json:"values"`
	}
	gcpFile struct {
		Prefixes []struct {
			IPv4Prefix string `json:"ipv4Prefix"`
			IPv6Prefix string `json:"ipv6Prefix"`
			Scope      string `json:"scope"`
		} `json:"prefixes"`
	}
	oracleFile struct {
		Regions []struct {
			Region string `json:"region"`
			CIDRs  []struct {
				CIDR string `json:"cidr"`
			} `json:"cidrs"`
		} `json:"regions"`
	}
)

// parseRanges decodes one provider's file into its prefixes, each with its
// JSON path for error messages.
func parseRanges(format string, data []byte) ([]rangeItem, error) {
	var items []rangeItem
	add := func(path, prefix, region string) error {
		if prefix == "" {
			return fmt.Errorf("%s: missing or empty prefix", path)
		}
		items = append(items, rangeItem{path, prefix, region})
		return nil
	}
	switch format {
	case "aws":
		var f awsFile
		if err := decodeJSON(data, &f); err != nil {
			return nil, err
		}
		if f.Prefixes == nil && f.IPv6Prefixes == nil {
			return nil, errors.New(`neither "prefixes" nor "ipv6_prefixes": not an AWS ip-ranges.json`)
		}
		for i, p := range f.Prefixes {
			if err := add(fmt.Sprintf("prefixes[%d].ip_prefix", i), p.IPPrefix, p.Region); err != nil {
				return nil, err
			}
		}
		for i, p := range f.IPv6Prefixes {
			if err := add(fmt.Sprintf("ipv6_prefixes[%d].ipv6_prefix", i), p.IPv6Prefix, p.Region); err != nil {
				return nil, err
			}
		}
	case "azure":
		var f azureFile
		if err := decodeJSON(data, &f); err != nil {
			return nil, err
		}
		if f.Values == nil {
			return nil, errors.New(`no "values": not an Azure service tags file`)
		}
		for i, v := range f.Values {
			for j, p := range v.Properties.AddressPrefixes {
				if err := add(fmt.Sprintf("values[%d].properties.addressPrefixes[%d]", i, j), p, v.Properties.Region); err != nil {
					return nil, err
				}
			}
		}
	case "gcp":
		var f gcpFile
		if err := decodeJSON(data, &f); err != nil {
			return nil, err
		}
		if f.Prefixes == nil {
			return nil, errors.New(`no "prefixes": not a Google cloud.json`)
		}
		for i, p := range f.Prefixes {
			path, pfx := fmt.Sprintf("prefixes[%d].ipv4Prefix", i), p.IPv4Prefix
			if pfx == "" {
				path, pfx = fmt.Sprintf("prefixes[%d].ipv6Prefix", i), p.IPv6Prefix
			}
			if err := add(path, pfx, p.Scope); err != nil {
				return nil, err
			}
		}
	case "oracle":
		var f oracleFile
		if err := decodeJSON(data, &f); err != nil {
			return nil, err
		}
		if f.Regions == nil {
			return nil, errors.New(`no "regions": not an Oracle public_ip_ranges.json`)
		}
		for i, r := range f.Regions {
			for j, c := range r.CIDRs {
				if err := add(fmt.Sprintf("regions[%d].cidrs[%d].cidr", i, j), c.CIDR, r.Region); err != nil {
					return nil, err
				}
			}
		}
	}
	return items, nil
}

// decodeJSON decodes data into v, turning the decoder's errors into ones
// that name the line and, for a value of the wrong type, the field.
func decodeJSON(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syn):
		return fmt.Errorf("line %d: invalid JSON: %v", lineAt(data, syn.Offset), syn)
	case errors.As(err, &typ):
		return fmt.Errorf("line %d: field %s: a JSON %s where a %s is expected", lineAt(data, typ.Offset), typ.Field, typ.Value, typ.Type)
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return 1 + bytes.Count(data[:off], []byte("\n"))
}
