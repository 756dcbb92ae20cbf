package interchange

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cadastre-ipam/cadastre/registry"
)

// NetBox's REST objects, the fields cadastre maps (NetBox 3.x and 4.x;
// other fields are ignored). Nested objects are NetBox's brief forms.
type (
	nbRef struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
		Slug string `json:"slug"`
	}
	nbAggregate struct {
		ID          int64   `json:"id"`
		Prefix      string  `json:"prefix"`
		RIR         *nbRIR  `json:"rir"`
		DateAdded   *string `json:"date_added"`
		Description string  `json:"description"`
		Tenant      *nbRef  `json:"tenant"`
		Tags        []nbRef `json:"tags"`
	}
	nbRIR struct {
		nbRef
		IsPrivate bool `json:"is_private"`
	}
	nbPrefix struct {
		ID          int64    `json:"id"`
		Prefix      string   `json:"prefix"`
		VRF         *nbRef   `json:"vrf"`
		Status      nbChoice `json:"status"`
		Site        *nbRef   `json:"site"`       // NetBox before 4.2
		ScopeType   *string  `json:"scope_type"` // NetBox 4.2 and later
		Scope       *nbRef   `json:"scope"`
		Tenant      *nbRef   `json:"tenant"`
		IsPool      bool     `json:"is_pool"`
		Description string   `json:"description"`
		Tags        []nbRef  `json:"tags"`
	}
	nbAddress struct {
		ID          int64    `json:"id"`
		Address     string   `json:"address"`
		VRF         *nbRef   `json:"vrf"`
		Status      nbChoice `json:"status"`
		Tenant      *nbRef   `json:"tenant"`
		DNSName     string   `json:"dns_name"`
		Description string   `json:"description"`
		Tags        []nbRef  `json:"tags"`
	}
)

// nbChoice is a NetBox choice field: {"value": "active", "label":
// "Active"} in the REST API, a bare "active" in some exports.
type nbChoice struct{ Value string }

func (c *nbChoice) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &c.Value)
	}
	var v struct {
		Value *string `json:"value"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v.Value == nil {
		return errors.New(`status: want {"value": "..."} or a string`)
	}
	c.Value = *v.Value
	return nil
}

// ReadNetBox maps a NetBox export (see the import verb's help) to a dump,
// listing what it cannot map.
func ReadNetBox(data []byte, opt ForeignOptions) (registry.Dump, []Unmapped, error) {
	d := registry.Dump{Format: registry.DumpFormat, Version: registry.DumpVersion}
	var un []Unmapped
	var cs []candidate
	ln := &lines{data: data}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		if t := bytes.TrimSpace(data); len(t) > 0 && t[0] != '{' && t[0] != '[' {
			return d, nil, fmt.Errorf("line 1: not JSON: a NetBox export is NetBox's REST JSON (is this a CSV export? phpIPAM's is --from phpipam, cadastre's needs no --from): %w", ErrInvalid)
		}
		return d, nil, fmt.Errorf("line 1 ($): a NetBox export is one JSON object {\"aggregates\": [...], \"prefixes\": [...], \"ip-addresses\": [...]}: %w", ErrInvalid)
	}
	if bytes.Contains(data[:min(len(data), 200)], []byte(`"format": "cadastre-register"`)) {
		return d, nil, fmt.Errorf("line 2: this is a cadastre export: import it without --from: %w", ErrInvalid)
	}
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return d, nil, fmt.Errorf("line %d ($): %w: %w", ln.at(int(dec.InputOffset())), err, ErrInvalid)
		}
		key, _ := tok.(string)
		path := "$." + key
		switch key {
		case "aggregates":
			err = nbList(dec, ln, data, path, func(x nbAggregate, at string) error { return nbAggregateRecord(x, at, &d, &un) })
		case "prefixes":
			err = nbList(dec, ln, data, path, func(x nbPrefix, at string) error { return nbPrefixCandidate(x, at, &cs, &un) })
		case "ip-addresses", "ip_addresses":
			err = nbList(dec, ln, data, path, func(x nbAddress, at string) error { return nbAddressCandidate(x, at, &cs, &un) })
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return d, nil, fmt.Errorf("line %d (%s): %w: %w", ln.at(int(dec.InputOffset())), path, err, ErrInvalid)
			}
			un = append(un, Unmapped{"$." + key, key, "NetBox objects of this kind are not mapped"})
			continue
		}
		if err != nil {
			return d, nil, err
		}
		found = true
	}
	if !found {
		return d, nil, fmt.Errorf("line 1 ($): no \"aggregates\", \"prefixes\" or \"ip-addresses\": not a NetBox export: %w", ErrInvalid)
	}
	if err := place(cs, opt, &d, &un); err != nil {
		return d, nil, err
	}
	addSpaces(&d)
	return d, un, nil
}

// nbList reads a list of NetBox objects, or a paginated answer holding
// one under "results", calling fn with each and where it was read.
func nbList[T any](dec *json.Decoder, ln *lines, data []byte, path string, fn func(T, string) error) error {
	fail := func(at string, err error) error {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			err = fmt.Errorf("field %s: %s where %s is wanted", te.Field, te.Value, te.Type)
		}
		return fmt.Errorf("%s: %w: %w", at, err, ErrInvalid)
	}
	where := func() string { return fmt.Sprintf("line %d (%s)", ln.at(start(data, int(dec.InputOffset()))), path) }
	tok, err := dec.Token()
	if err != nil {
		return fail(where(), err)
	}
	if tok == json.Delim('{') {
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return fail(where(), err)
			}
			if k == "results" {
				if err := nbList(dec, ln, data, path+".results", fn); err != nil {
					return err
				}
				continue
			}
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fail(where(), err)
			}
		}
		_, err := dec.Token()
		return err
	}
	if tok != json.Delim('[') {
		return fail(where(), errors.New("want a list of objects or a paginated answer with \"results\""))
	}
	for i := 0; dec.More(); i++ {
		off := start(data, int(dec.InputOffset()))
		at := fmt.Sprintf("line %d (%s[%d])", ln.at(off), path, i)
		var x T
		if err := dec.Decode(&x); err != nil {
			return fail(at, err)
		}
		if err := fn(x, at); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return err
}

func idAt(at string, id int64) string {
	if id == 0 {
		return at
	}
	return fmt.Sprintf("%s id %d", at, id)
}

// nbTags maps NetBox tags (labels) to tags KEY="" by their slug.
func nbTags(at, what string, tags []nbRef, un *[]Unmapped) registry.Tags {
	names := make([]string, len(tags))
	for i, t := range tags {
		names[i] = cmpOr(t.Slug, t.Name)
	}
	return tagsOf(at, what, names, un)
}

// nbReason is the reason of a reservation made of a reserved object.
func nbReason(description string) string {
	if d := strings.TrimSpace(description); d != "" {
		return d
	}
	return "reserved in NetBox"
}

// nbSpace is the space of an object in a VRF.
func nbSpace(vrf *nbRef) string {
	if vrf == nil {
		return ""
	}
	return slug(cmpOr(vrf.Name, vrf.Slug))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// rirs maps NetBox RIR slugs and names to cadastre's registries.
var rirs = map[string]string{"arin": "arin", "ripe": "ripe", "ripe-ncc": "ripe", "ripe ncc": "ripe", "apnic": "apnic", "lacnic": "lacnic", "afrinic": "afrinic"}

func nbAggregateRecord(x nbAggregate, at string, d *registry.Dump, un *[]Unmapped) error {
	at = idAt(at, x.ID)
	p, err := netip.ParsePrefix(x.Prefix)
	if err != nil {
		return fmt.Errorf("%s: aggregate prefix %q: %w", at, x.Prefix, ErrInvalid)
	}
	b := registry.BlockRecord{Pos: registry.Pos{At: at}, Prefix: p, Note: x.Description}
	if x.DateAdded != nil {
		b.Date = *x.DateAdded
	}
	switch {
	case x.RIR == nil:
		*un = append(*un, Unmapped{at, "aggregate " + x.Prefix, "no RIR: its provenance is unknown"})
		return nil
	case x.RIR.IsPrivate || strings.Contains(strings.ToLower(x.RIR.Slug+x.RIR.Name), "1918") || strings.Contains(strings.ToLower(x.RIR.Slug), "ula"):
		b.Source = registry.SourcePrivate
	default:
		reg, ok := rirs[strings.ToLower(x.RIR.Slug)]
		if !ok {
			reg, ok = rirs[strings.ToLower(x.RIR.Name)]
		}
		if !ok {
			*un = append(*un, Unmapped{at, "aggregate " + x.Prefix, fmt.Sprintf("RIR %q is none of AFRINIC, APNIC, ARIN, LACNIC, RIPE NCC, nor private", cmpOr(x.RIR.Name, x.RIR.Slug))})
			return nil
		}
		b.Source, b.Registry = registry.SourceRIR, reg
	}
	b.Tags = nbTags(at, "aggregate "+x.Prefix, x.Tags, un)
	d.Blocks = append(d.Blocks, b)
	return nil
}

func nbPrefixCandidate(x nbPrefix, at string, cs *[]candidate, un *[]Unmapped) error {
	at = idAt(at, x.ID)
	p, err := netip.ParsePrefix(x.Prefix)
	if err != nil {
		return fmt.Errorf("%s: prefix %q: %w", at, x.Prefix, ErrInvalid)
	}
	what := "prefix " + x.Prefix
	var pool bool
	switch x.Status.Value {
	case "container":
		pool = true
	case "active", "":
		pool = x.IsPool
	case "reserved":
		*cs = append(*cs, candidate{at: at, p: p.Masked(), space: nbSpace(x.VRF), reserved: nbReason(x.Description)})
		return nil
	default:
		*un = append(*un, Unmapped{at, what, fmt.Sprintf("status %q: only active and container prefixes are mapped", x.Status.Value)})
		return nil
	}
	var region string
	switch {
	case x.Site != nil:
		region = slug(cmpOr(x.Site.Slug, x.Site.Name))
	case x.Scope != nil && x.ScopeType != nil && (*x.ScopeType == "dcim.site" || *x.ScopeType == "dcim.region"):
		region = slug(cmpOr(x.Scope.Slug, x.Scope.Name))
	case x.Scope != nil && x.ScopeType != nil:
		*un = append(*un, Unmapped{at, what, fmt.Sprintf("scope %s %s: only a site or region names a region", *x.ScopeType, x.Scope.Name)})
	}
	c := candidate{at: at, p: p, pool: pool, region: region, space: nbSpace(x.VRF)}
	c.rec.Tags = nbTags(at, what, x.Tags, un)
	if x.Tenant != nil {
		c.rec.Tenant = cmpOr(x.Tenant.Slug, x.Tenant.Name)
	}
	c.rec.Resource = x.Description
	*cs = append(*cs, c)
	return nil
}

func nbAddressCandidate(x nbAddress, at string, cs *[]candidate, un *[]Unmapped) error {
	at = idAt(at, x.ID)
	p, err := netip.ParsePrefix(x.Address)
	if err != nil {
		return fmt.Errorf("%s: address %q: want an address with its mask, such as 192.0.2.1/24: %w", at, x.Address, ErrInvalid)
	}
	a := p.Addr()
	what := "address " + a.String()
	host := netip.PrefixFrom(a, a.BitLen())
	switch x.Status.Value {
	case "active", "":
	case "reserved":
		*cs = append(*cs, candidate{at: at, p: host, leafOnly: true, space: nbSpace(x.VRF), reserved: nbReason(x.Description)})
		return nil
	default:
		*un = append(*un, Unmapped{at, what, fmt.Sprintf("status %q: only active addresses are mapped", x.Status.Value)})
		return nil
	}
	c := candidate{at: at, p: host, leafOnly: true, space: nbSpace(x.VRF)}
	c.rec.Tags = nbTags(at, what, x.Tags, un)
	if x.Tenant != nil {
		c.rec.Tenant = cmpOr(x.Tenant.Slug, x.Tenant.Name)
	}
	c.rec.Resource = x.Description
	c.rec.Name = dnsName(at, what, x.DNSName, un)
	*cs = append(*cs, c)
	return nil
}
