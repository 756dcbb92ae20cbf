package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// openAPIDoc is the document the server publishes at /v1/openapi.json,
// kept as plain JSON so that the checks read what clients read.
type openAPIDoc struct {
	raw     map[string]any
	schemas map[string]any
	// routes are the documented paths; ops maps "METHOD /path" to the operation.
	routes []string
	ops    map[string]map[string]any
}

func loadOpenAPI(tb testing.TB, e *env) *openAPIDoc {
	tb.Helper()
	x := e.do(tb, req{Method: http.MethodGet, Path: "/v1/openapi.json"})
	if x.Status != http.StatusOK {
		tb.Fatalf("%s", x)
	}
	d := &openAPIDoc{ops: map[string]map[string]any{}}
	dec := json.NewDecoder(bytes.NewReader(x.Body))
	dec.UseNumber()
	if err := dec.Decode(&d.raw); err != nil {
		tb.Fatalf("openapi.json: %v", err)
	}
	comps, _ := d.raw["components"].(map[string]any)
	d.schemas, _ = comps["schemas"].(map[string]any)
	paths, _ := d.raw["paths"].(map[string]any)
	for p, item := range paths {
		d.routes = append(d.routes, p)
		for m, o := range item.(map[string]any) {
			if op, ok := o.(map[string]any); ok && slices.Contains(httpMethods, strings.ToUpper(m)) {
				d.ops[strings.ToUpper(m)+" "+p] = op
			}
		}
	}
	slices.Sort(d.routes)
	return d
}

var httpMethods = []string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}

// operations lists "METHOD /path" of every documented operation, sorted.
func (d *openAPIDoc) operations() []string {
	out := make([]string, 0, len(d.ops))
	for k := range d.ops {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// route finds the documented path template matching a concrete path,
// preferring the one with the fewest parameters.
func (d *openAPIDoc) route(path string) (string, bool) {
	seg := strings.Split(path, "/")
	best, bestParams := "", -1
	for _, r := range d.routes {
		rs := strings.Split(r, "/")
		if len(rs) != len(seg) {
			continue
		}
		params, ok := 0, true
		for i := range rs {
			if strings.HasPrefix(rs[i], "{") && strings.HasSuffix(rs[i], "}") {
				if seg[i] == "" {
					ok = false
					break
				}
				params++
			} else if rs[i] != seg[i] {
				ok = false
				break
			}
		}
		if ok && (bestParams < 0 || params < bestParams) {
			best, bestParams = r, params
		}
	}
	return best, bestParams >= 0
}

// publicPaths are served beside the operations and are not operations
// themselves: the document and its renderings.
var publicPaths = []string{"/v1/openapi.json", "/v1/openapi.yaml", "/v1/openapi-3.0.json", "/v1/openapi-3.0.yaml", "/v1/docs"}

// conform checks one exchange against the document: the route and method
// are documented, the status is among the operation's responses, the
// content type is the declared one and the body validates against the
// declared schema. It returns what is wrong.
func (d *openAPIDoc) conform(x *exchange) []string {
	if slices.Contains(publicPaths, x.Path) || strings.HasPrefix(x.Path, "/v1/schemas/") {
		return nil
	}
	route, ok := d.route(x.Path)
	if !ok {
		return []string{"path not in the OpenAPI document"}
	}
	op, ok := d.ops[x.Method+" "+route]
	if !ok {
		return []string{fmt.Sprintf("method %s of %s not in the OpenAPI document", x.Method, route)}
	}
	responses, _ := op["responses"].(map[string]any)
	resp, ok := responses[strconv.Itoa(x.Status)].(map[string]any)
	if !ok {
		resp, ok = responses["default"].(map[string]any)
	}
	if !ok {
		return []string{fmt.Sprintf("status %d not declared for %s %s (declared: %v)", x.Status, x.Method, route, keys(responses))}
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(x.Body) != 0 {
			return []string{fmt.Sprintf("status %d declares no body but one came", x.Status)}
		}
		return nil
	}
	ct, _, err := mime.ParseMediaType(x.Header.Get("Content-Type"))
	if err != nil {
		return []string{fmt.Sprintf("Content-Type %q: %v", x.Header.Get("Content-Type"), err)}
	}
	media, ok := content[ct].(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("Content-Type %s not declared for status %d (declared: %v)", ct, x.Status, keys(content))}
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(x.Body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return []string{fmt.Sprintf("body is not JSON: %v", err)}
	}
	var errs []string
	d.validate(media["schema"], v, "body", &errs, 0)
	return errs
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// validate checks v against schema: the subset of JSON Schema 2020-12 the
// document uses ($ref, type, required, properties, additionalProperties,
// items, enum, minimum, maximum, minItems, maxItems, minLength,
// maxLength, format date-time). Unknown keywords are ignored.
func (d *openAPIDoc) validate(schema any, v any, at string, errs *[]string, depth int) {
	if depth > 64 {
		*errs = append(*errs, at+": schema nesting too deep")
		return
	}
	s, ok := schema.(map[string]any)
	if !ok {
		return // true / absent: anything goes
	}
	if ref, ok := s["$ref"].(string); ok {
		name, found := strings.CutPrefix(ref, "#/components/schemas/")
		target, exists := d.schemas[name]
		if !found || !exists {
			*errs = append(*errs, fmt.Sprintf("%s: unresolvable $ref %q", at, ref))
			return
		}
		d.validate(target, v, at, errs, depth+1)
		return
	}
	fail := func(format string, args ...any) {
		*errs = append(*errs, at+": "+fmt.Sprintf(format, args...))
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, fmt.Sprint(x))
			}
		}
		if !slices.ContainsFunc(types, func(t string) bool { return hasType(v, t) }) {
			fail("%s is not of type %v", short(v), types)
			return
		}
	}
	if enum, ok := s["enum"].([]any); ok {
		if !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
			fail("%s is not one of %v", short(v), enum)
		}
	}
	switch v := v.(type) {
	case json.Number:
		n, _ := new(big.Float).SetString(v.String())
		if m, ok := s["minimum"].(json.Number); ok {
			if lim, _ := new(big.Float).SetString(m.String()); n != nil && lim != nil && n.Cmp(lim) < 0 {
				fail("%s < minimum %s", v, m)
			}
		}
		if m, ok := s["maximum"].(json.Number); ok {
			if lim, _ := new(big.Float).SetString(m.String()); n != nil && lim != nil && n.Cmp(lim) > 0 {
				fail("%s > maximum %s", v, m)
			}
		}
	case string:
		if m, ok := num(s["minLength"]); ok && int64(len([]rune(v))) < m {
			fail("string shorter than %d", m)
		}
		if m, ok := num(s["maxLength"]); ok && int64(len([]rune(v))) > m {
			fail("string longer than %d", m)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				fail("%q is not a date-time", v)
			}
		}
	case []any:
		if m, ok := num(s["minItems"]); ok && int64(len(v)) < m {
			fail("%d items, fewer than %d", len(v), m)
		}
		if m, ok := num(s["maxItems"]); ok && int64(len(v)) > m {
			fail("%d items, more than %d", len(v), m)
		}
		if items, ok := s["items"]; ok {
			for i, x := range v {
				d.validate(items, x, fmt.Sprintf("%s[%d]", at, i), errs, depth+1)
			}
		}
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, ok := v[r.(string)]; !ok {
					fail("required property %q missing", r)
				}
			}
		}
		for k, x := range v {
			if ps, ok := props[k]; ok {
				d.validate(ps, x, at+"."+k, errs, depth+1)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("property %q not in the schema", k)
				}
			case map[string]any:
				d.validate(ap, x, at+"."+k, errs, depth+1)
			}
		}
	}
}

func num(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func hasType(v any, t string) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, ok := new(big.Float).SetString(n.String())
		return ok && f.IsInt()
	}
	return false
}

func short(v any) string {
	b, _ := json.Marshal(v)
	return truncate(string(b), 80)
}

// TestOpenAPIDocument: the document is OpenAPI 3.1, every operation has
// an ID, a bearer security requirement and declares the errors every
// operation can answer, and its schemas' references resolve.
func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t)
	d := e.doc
	if v, _ := d.raw["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi = %q, want 3.1.x", v)
	}
	if len(d.ops) < 20 {
		t.Errorf("only %d operations documented", len(d.ops))
	}
	seen := map[string]string{}
	for _, k := range d.operations() {
		op := d.ops[k]
		id, _ := op["operationId"].(string)
		if id == "" {
			t.Errorf("%s: no operationId", k)
		} else if prev, dup := seen[id]; dup {
			t.Errorf("%s: operationId %s also used by %s", k, id, prev)
		}
		seen[id] = k
		if !strings.HasPrefix(strings.SplitN(k, " ", 2)[1], "/v1/") {
			t.Errorf("%s: outside /v1", k)
		}
		responses, _ := op["responses"].(map[string]any)
		for _, code := range []string{"400", "401", "403", "429"} {
			r, ok := responses[code].(map[string]any)
			if !ok {
				t.Errorf("%s: does not declare %s", k, code)
				continue
			}
			if c, _ := r["content"].(map[string]any); c["application/problem+json"] == nil {
				t.Errorf("%s: %s is not declared as application/problem+json", k, code)
			}
		}
	}
	if sec, _ := d.raw["security"].([]any); len(sec) == 0 {
		t.Errorf("no global security requirement")
	}
	// Every $ref anywhere in the document resolves.
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				name, _ := strings.CutPrefix(ref, "#/components/schemas/")
				if _, ok := d.schemas[name]; !ok {
					t.Errorf("%s: $ref %s does not resolve", at, ref)
				}
			}
			for k, x := range v {
				walk(x, at+"/"+k)
			}
		case []any:
			for i, x := range v {
				walk(x, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(d.raw, "#")
}

// TestOpenAPIConformance makes a successful request to every operation
// and a few failing ones; the environment checks every exchange against
// the document when the test ends (as it does for every test).
func TestOpenAPIConformance(t *testing.T) {
	e := newEnv(t)
	adm := e.tok["admin"]
	lifeBlock := must[registry.Block](t)(e.reg.AddBlock(setupCtx, registry.Block{Prefix: netip.MustParsePrefix("fd02::/32"), Source: registry.SourcePrivate,
		Price: &registry.Money{Cents: 100, Currency: "USD"}, Tags: registry.Tags{"c": "d"}}))
	lifePool := must[registry.Pool](t)(e.reg.AddPool(setupCtx, registry.PoolSpec{Prefix: netip.MustParsePrefix("fd02::/48"), Region: "eu-west"}))
	// A name under us-east.example.com, for the zone's split.
	must[[]registry.Assignment](t)(e.reg.Allocate(setupCtx, registry.Request{Region: "us-east", Family: 6, Name: "vm.us-east.example.com"}))
	// The steps make the optional parts of the bodies appear: a
	// relocation, a priced block, a quarantined assignment, pages.
	steps := []req{
		{Method: "GET", Path: "/v1/regions", Token: adm},
		{Method: "GET", Path: "/v1/regions/us-east", Token: adm},
		{Method: "POST", Path: "/v1/regions", Token: adm, Body: map[string]any{"name": "ap-east", "country": "JP", "subdivision": "JP-13", "city": "Tokyo", "borrow_from": "us-east", "borrow_unit": 30}},
		{Method: "PATCH", Path: "/v1/regions/ap-east", Token: adm, Body: map[string]any{"city": "Chiyoda"}},
		{Method: "POST", Path: "/v1/blocks", Token: adm, Body: map[string]any{"prefix": "192.168.0.0/16", "source": "private", "from": "lab", "price": "1500.50", "currency": "EUR", "date": "2020-01-02", "note": "n"}},
		{Method: "GET", Path: "/v1/blocks", Token: adm},
		{Method: "POST", Path: "/v1/pools", Token: adm, Body: map[string]any{"prefix": "192.168.0.0/24", "region": "eu-west", "purpose": "web"}},
		{Method: "GET", Path: "/v1/pools", Token: adm},
		{Method: "GET", Path: "/v1/pools?region=us-east", Token: adm},
		{Method: "POST", Path: "/v1/pools", Token: adm, Body: map[string]any{"prefix": "192.168.1.0/24", "region": "eu-west", "use_all": true}},
		{Method: "POST", Path: "/v1/reservations", Token: adm, Body: map[string]any{"prefix": "192.168.0.0/29", "reason": "gateways", "until": "2099-01-01T00:00:00Z"}},
		{Method: "GET", Path: "/v1/reservations", Token: adm},
		{Method: "POST", Path: "/v1/assignments", Token: adm, Body: []map[string]any{{"address": "192.168.0.9", "tenant": "acme"}, {"prefix": "192.168.0.16/28"}}},
		{Method: "DELETE", Path: "/v1/reservations/192.168.0.0/29", Token: adm},
		{Method: "POST", Path: "/v1/child-pools", Token: adm, Body: map[string]any{"as_pool": "oa", "region": "eu-west", "len": 56, "purpose": "site", "tenant": "acme"}},
		{Method: "POST", Path: "/v1/assignments", Token: adm, Body: []map[string]any{{"pool": "oa", "len": 64, "tenant": "acme"}}},
		{Method: "POST", Path: "/v1/child-pools", Token: adm, Body: map[string]any{"as_pool": "ob", "region": "eu-west", "len": 56}},
		{Method: "POST", Path: "/v1/child-pools/ob/release", Token: adm},
		// ap-east has no pool of its own: this borrows from us-east.
		{Method: "POST", Path: "/v1/assignments", Token: adm, Body: []map[string]any{{"region": "ap-east", "family": 4}, {"region": "us-east", "dual_stack": true, "name": "vm1.example.com"}}, Header: map[string]string{"Idempotency-Key": "k1"}},
		{Method: "POST", Path: "/v1/assignments", Token: adm, Body: []map[string]any{{"region": "ap-east", "family": 4}, {"region": "us-east", "dual_stack": true, "name": "vm1.example.com"}}, Header: map[string]string{"Idempotency-Key": "k1"}},
		{Method: "GET", Path: "/v1/assignments?limit=2", Token: adm},
		{Method: "GET", Path: "/v1/assignments?state=assigned&region=us-east&within=10.0.0.0/16&tenant=acme", Token: adm},
		{Method: "GET", Path: "/v1/assignments?contains=" + e.acme.Prefix.Addr().String(), Token: adm},
		{Method: "GET", Path: fmt.Sprintf("/v1/assignments/%d", e.acme.ID), Token: adm},
		{Method: "GET", Path: fmt.Sprintf("/v1/assignments/%d", e.acmeGone.ID), Token: adm},
		{Method: "PATCH", Path: fmt.Sprintf("/v1/assignments/%d", e.acme.ID), Token: adm, Body: map[string]any{"name": "db.example.com", "resource": "db"}},
		{Method: "POST", Path: fmt.Sprintf("/v1/assignments/%d/release", e.acme2.ID), Token: adm, Body: map[string]any{"quarantine": "0"}},
		{Method: "POST", Path: fmt.Sprintf("/v1/assignments/%d/release", e.untenant.ID), Token: adm},
		{Method: "GET", Path: "/v1/show?q=" + e.acme.Prefix.Addr().String(), Token: adm},
		{Method: "GET", Path: "/v1/show?q=10.0.0.0/16", Token: adm},
		{Method: "GET", Path: "/v1/report", Token: adm},
		{Method: "GET", Path: "/v1/report?region=sa-east", Token: adm},
		{Method: "GET", Path: "/v1/relocations", Token: adm},
		{Method: "GET", Path: "/v1/events?limit=3", Token: adm},
		{Method: "GET", Path: "/v1/events?since=2000-01-01T00:00:00Z&after=2", Token: adm},
		{Method: "GET", Path: "/v1/tokens", Token: adm},
		{Method: "GET", Path: "/v1/geo/" + e.acme.Prefix.Addr().String() + "?all=true", Token: adm},
		{Method: "POST", Path: "/v1/geo", Token: adm, Body: map[string]any{"addresses": []string{e.acme.Prefix.Addr().String(), "2002:c000:204::1", "garbage"}, "all": true}},
		{Method: "POST", Path: "/v1/tokens", Token: adm, Body: map[string]any{"scope": "read", "name": "ci", "tenant": "acme", "expires": "1h"}},
		{Method: "DELETE", Path: "/v1/tokens/" + e.ids["read"], Token: adm},
		{Method: "PUT", Path: "/v1/geo/sources/partner/feed?origin=partner.csv&skip_bad_lines=true", Token: adm, Body: "40.64.0.0/24,BR,BR-SP,,\n10.0.0.0/24,US,,,\n",
			Header: map[string]string{"Content-Type": "text/csv"}},
		{Method: "PUT", Path: "/v1/geo/sources/oci/ranges?format=oracle&origin=public_ip_ranges.json", Token: adm,
			Body:   `{"last_updated_timestamp": "2026-12-05T00:00:00", "regions": [{"region": "us-ashburn-1", "cidrs": [{"cidr": "40.64.0.0/24", "tags": ["OCI"]}]}, {"region": "xx-new-1", "cidrs": [{"cidr": "40.64.1.0/24", "tags": ["OCI"]}]}]}`,
			Header: map[string]string{"Content-Type": "application/octet-stream"}},
		{Method: "GET", Path: "/v1/audit?provider=oci", Token: adm},
		{Method: "POST", Path: "/v1/geo/sources", Token: adm, Body: map[string]any{"name": "register-copy", "mmdb": registerMMDB(t, e)}},
		{Method: "GET", Path: "/v1/geo/sources", Token: adm},
		{Method: "GET", Path: "/v1/placements", Token: adm},
		{Method: "GET", Path: "/v1/audit", Token: adm},
		{Method: "GET", Path: "/v1/audit?source=partner&source=register-copy", Token: adm},
		{Method: "GET", Path: "/v1/audit?min_share=0.5&min_addresses=4&ipv6_unit=48", Token: adm},
		{Method: "DELETE", Path: "/v1/geo/sources/register-copy", Token: adm},
		{Method: "POST", Path: "/v1/tenants", Token: adm, Body: map[string]any{"name": "initech", "names": []string{"initech.example"}, "max_ipv4": 8, "max_ipv6": 100, "note": "n"}},
		{Method: "GET", Path: "/v1/tenants", Token: adm},
		{Method: "GET", Path: "/v1/tenants/initech", Token: adm},
		{Method: "GET", Path: "/v1/tenants/acme", Token: e.tok["tenant"]},
		{Method: "PATCH", Path: "/v1/tenants/initech", Token: adm, Body: map[string]any{"clear_max_ipv4": true, "names": []string{"initech.example", "initech.test"}}},
		{Method: "DELETE", Path: "/v1/tenants/initech", Token: adm},
		{Method: "POST", Path: "/v1/spaces", Token: adm, Body: map[string]any{"name": "vpc-a", "note": "first VPC"}},
		{Method: "GET", Path: "/v1/spaces", Token: adm},
		{Method: "POST", Path: "/v1/blocks", Token: adm, Body: map[string]any{"prefix": "192.168.0.0/16", "source": "private", "space": "vpc-a", "tags": map[string]string{"env": "lab"}}},
		{Method: "GET", Path: "/v1/blocks?space=vpc-a&tag=env%3Dlab", Token: adm},
		{Method: "GET", Path: fmt.Sprintf("/v1/blocks/%d", lifeBlock.ID), Token: adm},
		{Method: "PATCH", Path: fmt.Sprintf("/v1/blocks/%d", lifeBlock.ID), Token: adm, Body: map[string]any{"note": "n2", "price": "", "tags": map[string]string{"a": "b"}, "untag": []string{"c"}}},
		{Method: "GET", Path: fmt.Sprintf("/v1/pools/%d", lifePool.ID), Token: adm},
		{Method: "PATCH", Path: fmt.Sprintf("/v1/pools/%d", lifePool.ID), Token: adm, Body: map[string]any{"purpose": "nat", "tags": map[string]string{"a": "b"}}},
		{Method: "GET", Path: "/v1/pools?tag=a%3Db", Token: adm},
		{Method: "DELETE", Path: fmt.Sprintf("/v1/pools/%d", lifePool.ID), Token: adm},
		{Method: "DELETE", Path: fmt.Sprintf("/v1/blocks/%d", lifeBlock.ID), Token: adm},
		{Method: "POST", Path: "/v1/regions", Token: adm, Body: map[string]any{"name": "gone", "country": "DE", "tags": map[string]string{"env": "x"}}},
		{Method: "DELETE", Path: "/v1/regions/gone", Token: adm},
		{Method: "POST", Path: "/v1/spaces", Token: adm, Body: map[string]any{"name": "vpc-gone"}},
		{Method: "DELETE", Path: "/v1/spaces/vpc-gone", Token: adm},
		{Method: "POST", Path: "/v1/zones", Token: adm, Body: map[string]any{"name": "example.com", "ns": []string{"ns1.example.com", "ns.provider.test"}, "ns_addr": []string{"ns1.example.com=192.0.2.53"}, "ttl": 600, "allow_transfer": []string{"192.0.2.0/24"}, "notify": []string{"192.0.2.2:53"}}},
		{Method: "POST", Path: "/v1/zones", Token: adm, Body: map[string]any{"kind": "reverse", "prefix": "10.0.0.0/24", "ns": []string{"ns.provider.test"}}},
		{Method: "GET", Path: "/v1/zones", Token: adm},
		{Method: "GET", Path: "/v1/zones/example.com", Token: adm},
		{Method: "PATCH", Path: "/v1/zones/example.com", Token: adm, Body: map[string]any{"ttl": 300, "soa_minimum": 60, "notify": []string{}}},
		{Method: "POST", Path: "/v1/zones/example.com/records", Token: adm, Body: map[string]any{"name": "www", "type": "A", "data": "192.0.2.10", "ttl": 60}},
		{Method: "POST", Path: "/v1/zones/example.com/records", Token: e.tok["tenant"], Body: map[string]any{"name": "_acme-challenge.example.com.", "type": "TXT", "data": `"a b" "c"`}},
		{Method: "GET", Path: "/v1/zones/example.com/records", Token: adm},
		{Method: "DELETE", Path: "/v1/zones/example.com/records/2", Token: adm},
		{Method: "POST", Path: "/v1/zones/example.com/split", Token: adm, Body: map[string]any{"regions": []string{"us-east"}}},
		{Method: "POST", Path: "/v1/zones/us-east.example.com/join", Token: adm},
		{Method: "POST", Path: "/v1/tsig-keys", Token: adm, Body: map[string]any{"name": "acme.example.com", "algorithm": "hmac-sha512", "grant_update": []string{"_acme-challenge.example.com"}}},
		{Method: "GET", Path: "/v1/tsig-keys", Token: adm},
		{Method: "PATCH", Path: "/v1/tsig-keys/acme.example.com", Token: adm, Body: map[string]any{"algorithm": "hmac-sha256", "grant_update": []string{"_acme-challenge.www.example.com"}}},
		{Method: "DELETE", Path: "/v1/tsig-keys/acme.example.com", Token: adm},
		{Method: "POST", Path: "/v1/zones", Token: adm, Body: map[string]any{"name": "gone.example", "ns": []string{"ns.provider.test"}}},
		{Method: "DELETE", Path: "/v1/zones/gone.example", Token: adm},
		// Failures go through the same check.
		{Method: "GET", Path: "/v1/assignments/999999", Token: adm},
		{Method: "GET", Path: "/v1/regions", Token: ""},
		{Method: "POST", Path: "/v1/regions", Token: e.tok["read"], Body: map[string]any{"name": "x", "country": "US"}},
	}
	covered := map[string]bool{}
	for _, r := range steps {
		x := e.do(t, r)
		if r.Method == "POST" && r.Path == "/v1/tokens" && x.Status == http.StatusCreated {
			e.remember(decode[struct {
				Secret string `json:"secret"`
			}](t, x).Secret)
		}
		if x.Status < 300 {
			route, _ := e.doc.route(x.Path)
			covered[x.Method+" "+route] = true
		} else if r.Token == adm && !strings.Contains(r.Path, "999999") {
			t.Errorf("%s: want success", x)
		}
	}
	for _, k := range e.doc.operations() {
		if !covered[k] {
			t.Errorf("%s: no successful request checked against the document", k)
		}
	}
	// The relocation made above must have shown its optional fields.
	rel := decode[[]map[string]any](t, e.do(t, req{Method: "GET", Path: "/v1/relocations", Token: adm}))
	if len(rel) != 1 {
		t.Errorf("want one relocation, got %v", rel)
	}
}

// TestCreateRegionWithUnknownLenderAnswersADeclaredStatus: a region that
// borrows from a region that does not exist is refused with a status the
// document declares for create-region.
func TestCreateRegionWithUnknownLenderAnswersADeclaredStatus(t *testing.T) {
	e := newEnv(t)
	x := e.do(t, req{Method: "POST", Path: "/v1/regions", Token: e.tok["admin"], Body: map[string]any{"name": "zz", "country": "US", "borrow_from": "nowhere"}})
	if x.Status < 400 {
		t.Fatalf("%s: want a refusal", x)
	}
	for _, problem := range e.doc.conform(x) {
		t.Errorf("create-region with an unknown lender: %s: %s", x, problem)
	}
}

// TestBodyTooLargeIsDeclared: a body over the limit is answered 413, and
// the operations with a body declare it.
func TestBodyTooLargeIsDeclared(t *testing.T) {
	e := newEnv(t)
	x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: e.tok["admin"], Body: bytes.Repeat([]byte(" "), 1<<20+1)})
	if x.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("%s: want 413", x)
	}
	for _, problem := range e.doc.conform(x) {
		t.Errorf("body too large: %s: %s", x, problem)
	}
}

// TestFamilyFilterListsOnlyThatFamily: list-assignments takes every value
// of its family filter (0 both, 4, 6) and lists only that family, so that
// `cadastre --server … assignment list --family` works.
func TestFamilyFilterListsOnlyThatFamily(t *testing.T) {
	e := newEnv(t)
	for _, f := range []string{"4", "6", "0"} {
		x := e.do(t, req{Method: "GET", Path: "/v1/assignments?family=" + f, Token: e.tok["read"]})
		if x.Status != http.StatusOK {
			t.Fatalf("family=%s: %s, want 200", f, x)
		}
		page := decode[struct{ Items []map[string]any }](t, x)
		if len(page.Items) == 0 {
			t.Errorf("family=%s listed nothing: the test would prove nothing", f)
		}
		for _, a := range page.Items {
			if f != "0" && strings.Contains(fmt.Sprint(a["prefix"]), ":") != (f == "6") {
				t.Errorf("family=%s listed %v", f, a["prefix"])
			}
		}
	}
}

// TestAllocationBodyLimit: a batch of 1000 requests with long fields
// (tenant and resource at their longest, 210-byte names) fits the 1 MiB allocation limit and is answered in full.
func TestAllocationBodyLimit(t *testing.T) {
	e := newEnv(t)
	items := make([]map[string]any, 1000)
	for i := range items {
		items[i] = map[string]any{"region": "us-east", "family": 6, "len": 128, "count": 1,
			"tenant": strings.Repeat("t", 128), "resource": strings.Repeat("r", 256), "name": fmt.Sprintf("vm%04d.%sexample.net", i, strings.Repeat(strings.Repeat("a", 63)+".", 3))}
	}
	must[registry.Tenant](t)(e.reg.AddTenant(setupCtx, registry.TenantSpec{Name: strings.Repeat("t", 128), Names: &[]string{"example.net"}})) // acme holds example.com
	body, _ := json.Marshal(items)
	if len(body) <= 64<<10 || len(body) >= 1<<20 {
		t.Fatalf("body of %d bytes does not test the limit", len(body))
	}
	x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: e.tok["allocate"], Body: body})
	if x.Status != http.StatusCreated {
		t.Fatalf("%d bytes: %s", len(body), x)
	}
	if got := decode[[]map[string]any](t, x); len(got) != 1000 {
		t.Errorf("%d assignments, want 1000", len(got))
	}
}
