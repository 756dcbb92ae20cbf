package main

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	dnsserver "github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/web"
)

// webZones adapts the DNS zone manager to the web UI's DNS page
// (web.ZoneLister): the UI defines what it shows in plain structs, and
// this file is the one place that knows both sides. dns, once it holds
// the DNS server this process runs (serve --dns), tells the secondaries'
// last transfers; without it the page says none are recorded.
type webZones struct {
	m   *manage.Manager
	dns *atomic.Pointer[dnsserver.Server]
}

var _ web.ZoneLister = webZones{}

// ZoneStatuses lists every zone with its keys and, for signed zones, the
// DS records for the parent, and the transfers this process's DNS server
// sent (none recorded when it runs no DNS server).
func (z webZones) ZoneStatuses(ctx context.Context) ([]web.ZoneStatus, error) {
	zones, err := z.m.Zones(ctx)
	if err != nil {
		return nil, fmt.Errorf("zones: %w", err)
	}
	out := make([]web.ZoneStatus, 0, len(zones))
	for _, zn := range zones {
		st := web.ZoneStatus{Name: zn.Name, Kind: string(zn.Kind), Serial: zn.Serial, Signed: zn.Config.Signed,
			Notify: zn.Config.Notify}
		if zn.Prefix.IsValid() {
			st.Prefix = zn.Prefix.String()
		}
		keys, err := z.m.Keys(ctx, zn.Name)
		if err != nil {
			return nil, fmt.Errorf("zone %s: keys: %w", zn.Name, err)
		}
		for _, k := range keys {
			st.Keys = append(st.Keys, web.ZoneKey{Role: string(k.Role), Tag: k.Tag, Algorithm: k.Algorithm.String(),
				State: string(k.State), Stage: keyStage(k), Created: k.CreatedAt, Published: k.PublishedAt,
				Active: k.ActiveAt, Inactive: k.InactiveAt, Removed: k.RemovedAt, DSConfirmed: k.DSAt})
		}
		if zn.Config.Signed {
			st.Algorithm, st.Denial = zn.Config.Algorithm.String(), string(zn.Config.Denial)
			st.Rollover = rolloverPolicy(zn.Config)
			ds, err := z.m.DS(ctx, zn.Name)
			if err != nil {
				return nil, fmt.Errorf("zone %s: DS: %w", zn.Name, err)
			}
			for _, d := range ds {
				st.DS = append(st.DS, d.String())
			}
		}
		if z.dns != nil {
			if ds := z.dns.Load(); ds != nil {
				st.TransfersRecorded = true
				for _, t := range ds.Transfers(zn.Name) {
					sec := t.Secondary.String()
					if t.Key != "" {
						sec += " (TSIG " + t.Key + ")"
					}
					st.Transfers = append(st.Transfers, web.Transfer{Secondary: sec, Kind: t.Kind, Serial: t.Serial, At: t.At})
				}
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// keyStage says where a key is in its life (RFC 7583 §3.1), in words.
func keyStage(k zone.Key) string {
	sep := k.Role == zone.KSK || k.Role == zone.CSK
	switch {
	case k.State == zone.KeyRetired:
		return "retired"
	case k.State == zone.KeyPublished && k.ActiveAt.IsZero():
		return "pre-published, waiting to sign"
	case k.State == zone.KeyPublished:
		return "stopped signing, waiting to leave the DNSKEY set"
	case sep && k.DSAt.IsZero():
		return "signing; waiting for the parent's DS (cadastre zone ds --confirm)"
	default:
		return "signing"
	}
}

// rolloverPolicy says a zone's automatic rollovers in words.
func rolloverPolicy(c zone.Config) string {
	var parts []string
	if c.SplitKeys {
		if c.ZSKLifetime > 0 {
			parts = append(parts, "ZSK every "+c.ZSKLifetime.String())
		} else {
			parts = append(parts, "ZSK by hand")
		}
	}
	sep := "CSK"
	if c.SplitKeys {
		sep = "KSK"
	}
	if c.KSKLifetime > 0 {
		parts = append(parts, sep+" every "+c.KSKLifetime.String()+", finished when the parent's DS is confirmed")
	} else {
		parts = append(parts, sep+" by hand")
	}
	return strings.Join(parts, "; ")
}
