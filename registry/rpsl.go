package registry

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/cadastre-ipam/cadastre/prefix"
)

// GeofeedURL checks a geofeed's public URL: RFC 9632 §3 requires HTTPS.
func GeofeedURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("geofeed URL %q: %v", raw, err)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("geofeed URL %q: must be https (RFC 9632 §3)", raw)
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("geofeed URL %q: needs a host, and no user or fragment", raw)
	}
	for _, c := range raw {
		if c > 0x7e || c < 0x21 {
			return nil, fmt.Errorf("geofeed URL %q: must be ASCII without spaces (percent-encode the rest)", raw)
		}
	}
	return u, nil
}

// RPSL is what to put in a block's registry object so that databases find
// the geofeed (RFC 9632): the object's key line and the attribute line.
type RPSL struct {
	Block     string `json:"block"`
	Registry  string `json:"registry"`
	Object    string `json:"object"`    // e.g. "inetnum: 94.245.64.0 - 94.245.127.255"
	Attribute string `json:"attribute"` // e.g. "geofeed: https://example.net/geofeed.csv"
	Note      string `json:"note,omitempty"`
}

// GeofeedRPSL gives, for each block, the line that points its registry
// object at the feed. RIPE NCC, APNIC and AFRINIC have the geofeed:
// attribute; where a registry lacks it, RFC 9632 §3 says to use a remarks:
// line "Geofeed URL" (ARIN's whois calls the field Comment).
func GeofeedRPSL(blocks []Block, feed string) ([]RPSL, error) {
	if _, err := GeofeedURL(feed); err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	var out []RPSL
	for _, b := range blocks {
		r := RPSL{Block: b.Prefix.String(), Registry: RegistryName(b.Registry)}
		if b.Prefix.Addr().Is4() {
			r.Object = fmt.Sprintf("inetnum: %s - %s", b.Prefix.Addr(), prefix.Last(b.Prefix))
		} else {
			r.Object = "inet6num: " + b.Prefix.String()
		}
		switch b.Registry {
		case "ripe", "apnic", "afrinic":
			r.Attribute = "geofeed: " + feed
		case "lacnic":
			r.Attribute = "remarks: Geofeed " + feed
		case "arin":
			r.Object = "NetRange: " + strings.TrimPrefix(strings.TrimPrefix(r.Object, "inetnum: "), "inet6num: ")
			r.Attribute = "Comment: Geofeed " + feed
		default:
			r.Attribute = "remarks: Geofeed " + feed
			r.Note = "no registry recorded for this block"
		}
		switch b.Source {
		case SourcePrivate:
			continue // private space has no registry object and no geofeed
		case SourceBYOIP:
			r.Note = "BYOIP: the holder (" + b.From + ") must add this to their own registry object"
		}
		out = append(out, r)
	}
	return out, nil
}
