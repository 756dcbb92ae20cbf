package zone

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/miekg/dns"
)

// Catalog zones (RFC 9432). A catalog is a zone whose records list other
// zones, so that a secondary configured once with the catalog (Knot's
// catalog-role: interpret, BIND's catalog-zones) serves every zone listed
// in it, and follows additions and removals by NOTIFY and IXFR of the
// catalog like any zone's changes. cadastre makes its catalog from the
// zones it serves: nothing about it is stored but the catalog zone itself
// (a forward zone with Config.Catalog set), and its transfers, ACL, TSIG,
// serial and journal are those of every zone.

// CatalogVersion is the catalog schema version published (RFC 9432 §4.2.1).
const CatalogVersion = "2"

// CatalogNS is the name server of a catalog zone: catalogs are not meant
// to be resolved, and RFC 9432 §4.1 asks for "invalid.".
const CatalogNS = "invalid."

// CatalogID is the unique ID of member zone m (RFC 9432 §4.2.2): a label
// derived from what the store keeps of the zone, so every replica and
// every restart publishes the same one without storing it, and a zone
// removed and added again gets a new one (its row and creation time
// differ), which tells consumers to drop what they held of the old zone
// (§5.4).
func CatalogID(m Zone) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%d %s %d", m.ID, m.Name, m.CreatedAt.Unix()))
	return hex.EncodeToString(h[:10])
}

// CatalogMembers are the zones a catalog lists, by name: every zone some
// secondary may transfer (a non-empty AllowTransfer) that is not itself
// a catalog. A zone nobody may transfer would only make the consumer log
// refused transfers.
func CatalogMembers(zs []Zone) []Zone {
	var out []Zone
	for _, z := range zs {
		if InCatalog(z) {
			out = append(out, z)
		}
	}
	slices.SortFunc(out, func(a, b Zone) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// InCatalog says whether the catalog, if there is one, lists z: every
// zone that may be transferred, but the catalog itself.
func InCatalog(z Zone) bool {
	return !z.Config.Catalog && len(z.Config.AllowTransfer) > 0
}

// addCatalog adds the catalog's records: the schema version and one PTR
// per member, "<unique-id>.zones.<catalog> PTR <member>".
func (zd *Data) addCatalog(zones []Zone) {
	c := zd.zone.Config
	zd.add(&dns.TXT{Hdr: dns.RR_Header{Name: "version." + zd.zone.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: c.TTL}, Txt: []string{CatalogVersion}})
	for _, m := range CatalogMembers(zones) {
		zd.add(&dns.PTR{Hdr: dns.RR_Header{Name: CatalogID(m) + ".zones." + zd.zone.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: c.TTL}, Ptr: m.Name})
	}
}

// catalogFingerprint writes what a catalog's content depends on: its
// members.
func catalogFingerprint(w interface{ Write([]byte) (int, error) }, zones []Zone) {
	for _, m := range CatalogMembers(zones) {
		fmt.Fprintf(w, "member %s %s\n", CatalogID(m), m.Name)
	}
}
