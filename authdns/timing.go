package authdns

import (
	"time"
)

// Key timing after RFC 7583 (the rollover itself: roll.go): when a key
// began signing or was published, and the intervals of a zone.

// rollTiming is a zone's RFC 7583 intervals.
type rollTiming struct {
	ipub    time.Duration // publication to first use: Dprp + TTL(DNSKEY)
	iretZSK time.Duration // last signature to removal: Dprp + max TTL
	iretKSK time.Duration // parent's new DS confirmed to removal: Dprp + TTL(DS)
	iretSig time.Duration // for a CSK also: its successor's first signature to removal
}

func timing(c Config, maxTTL uint32) rollTiming {
	prop := c.Propagation
	if prop <= 0 {
		prop = time.Duration(c.Retry) * time.Second
	}
	ds := c.ParentDSTTL
	if ds <= 0 {
		ds = 24 * time.Hour
	}
	sig := prop + time.Duration(max(maxTTL, c.TTL))*time.Second
	return rollTiming{ipub: prop + time.Duration(c.TTL)*time.Second, iretZSK: sig, iretKSK: prop + ds, iretSig: sig}
}

// since is when k entered its current phase's start for lifetime
// purposes: when it began signing (or was made, for keys from before
// timestamps were kept).
func activeSince(k Key) time.Time {
	if !k.ActiveAt.IsZero() {
		return k.ActiveAt
	}
	return k.CreatedAt
}

func publishedSince(k Key) time.Time {
	if !k.PublishedAt.IsZero() {
		return k.PublishedAt
	}
	return k.CreatedAt
}

// incoming says whether k waits for its turn to sign.
func incoming(k Key) bool { return k.State == KeyPublished && k.ActiveAt.IsZero() }

// outgoing says whether k has signed and waits to leave the RRset.
func outgoing(k Key) bool { return k.State == KeyPublished && !k.InactiveAt.IsZero() }

// newestSEP is the active key of role whose DS the parent should have:
// the one that began signing last. Its CDS/CDNSKEY are published.
func newestSEP(keys []Key, role Role) (Key, bool) {
	var best Key
	found := false
	for _, k := range keys {
		if k.Role == role && k.State == KeyActive && (!found || activeSince(k).After(activeSince(best)) || activeSince(k).Equal(activeSince(best)) && k.ID > best.ID) {
			best, found = k, true
		}
	}
	return best, found
}
