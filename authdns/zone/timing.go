package zone

import (
	"time"
)

// Key timing after RFC 7583 (the rollover itself: roll.go): when a key
// began signing or was published, and the intervals of a zone.

// RollTiming is a zone's RFC 7583 intervals.
type RollTiming struct {
	Ipub    time.Duration // publication to first use: Dprp + TTL(DNSKEY)
	IretZSK time.Duration // last signature to removal: Dprp + max TTL
	IretKSK time.Duration // parent's new DS confirmed to removal: Dprp + TTL(DS)
	IretSig time.Duration // for a CSK also: its successor's first signature to removal
}

// Timing is the RFC 7583 intervals of a zone with settings c whose largest
// TTL is maxTTL.
func Timing(c Config, maxTTL uint32) RollTiming {
	prop := c.Propagation
	if prop <= 0 {
		prop = time.Duration(c.Retry) * time.Second
	}
	ds := c.ParentDSTTL
	if ds <= 0 {
		ds = 24 * time.Hour
	}
	sig := prop + time.Duration(max(maxTTL, c.TTL))*time.Second
	return RollTiming{Ipub: prop + time.Duration(c.TTL)*time.Second, IretZSK: sig, IretKSK: prop + ds, IretSig: sig}
}

// ActiveSince is when k entered its current phase's start for lifetime
// purposes: when it began signing (or was made, for keys from before
// timestamps were kept).
func ActiveSince(k Key) time.Time {
	if !k.ActiveAt.IsZero() {
		return k.ActiveAt
	}
	return k.CreatedAt
}

// PublishedSince is when k entered the DNSKEY RRset.
func PublishedSince(k Key) time.Time {
	if !k.PublishedAt.IsZero() {
		return k.PublishedAt
	}
	return k.CreatedAt
}

// Incoming says whether k waits for its turn to sign.
func Incoming(k Key) bool { return k.State == KeyPublished && k.ActiveAt.IsZero() }

// Outgoing says whether k has signed and waits to leave the RRset.
func Outgoing(k Key) bool { return k.State == KeyPublished && !k.InactiveAt.IsZero() }

// NewestSEP is the active key of role whose DS the parent should have:
// the one that began signing last. Its CDS/CDNSKEY are published.
func NewestSEP(keys []Key, role Role) (Key, bool) {
	var best Key
	found := false
	for _, k := range keys {
		if k.Role == role && k.State == KeyActive && (!found || ActiveSince(k).After(ActiveSince(best)) || ActiveSince(k).Equal(ActiveSince(best)) && k.ID > best.ID) {
			best, found = k, true
		}
	}
	return best, found
}
