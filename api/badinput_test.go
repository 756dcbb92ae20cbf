package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/problem"
)

// badCase is one request the API must refuse: with status, as an RFC 9457
// problem (of type typ when set), changing nothing stored.
type badCase struct {
	name   string
	r      req
	status int
	typ    string
	check  func(t *testing.T, x *exchange, p problemDoc)
}

// TestBadInputChangesNothing sends requests that must fail and checks the
// status, that the answer is a problem document and never a 500, and
// that every table of the database is exactly as it was.
func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t)
	adm, alloc, read, ten, foreign := e.tok["admin"], e.tok["allocate"], e.tok["read"], e.tok["tenant"], e.tok["foreign"]

	// An idempotency key already used, for the "reused with another body" case.
	first := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: alloc, Body: `[{"region":"us-east"}]`, Header: map[string]string{"Idempotency-Key": "once"}})
	if first.Status != http.StatusCreated {
		t.Fatalf("setup: %s", first)
	}
	acme := fmt.Sprintf("/v1/assignments/%d", e.acme.ID)
	acmePrefix := e.acme.Prefix.String()
	noHint := func(t *testing.T, x *exchange, p problemDoc) {
		for _, s := range []string{acmePrefix, e.acme.Prefix.Addr().String(), "acme", e.acme.Resource} {
			if strings.Contains(string(x.Body), s) {
				t.Errorf("%s: the answer hints at the other tenant's assignment (%q)", x, s)
			}
		}
		// It reads exactly like the answer for an ID that does not exist.
		r := req{Method: x.Method, Path: strings.Replace(x.Path, "/assignments/"+strconv.FormatInt(e.acme.ID, 10), "/assignments/987654", 1), Token: foreign}
		if x.Method != http.MethodGet {
			r.Body = `{}`
		}
		y := e.do(t, r)
		py := decode[problemDoc](t, y)
		if y.Status != x.Status || py.Type != p.Type || strings.ReplaceAll(py.Detail, "987654", "N") != strings.ReplaceAll(p.Detail, strconv.FormatInt(e.acme.ID, 10), "N") {
			t.Errorf("a foreign assignment reads differently from a missing one:\n%s\n%s", x, y)
		}
	}
	mentions := func(words ...string) func(*testing.T, *exchange, problemDoc) {
		return func(t *testing.T, x *exchange, p problemDoc) {
			for _, w := range words {
				if !strings.Contains(p.Detail, w) {
					t.Errorf("%s: detail does not mention %q", x, w)
				}
			}
		}
	}
	// locates: the problem's errors point at the field.
	locates := func(loc string) func(*testing.T, *exchange, problemDoc) {
		return func(t *testing.T, x *exchange, p problemDoc) {
			if len(p.Errors) == 0 || p.Errors[0].Location != loc {
				t.Errorf("%s: errors do not point at %s", x, loc)
			}
		}
	}
	// Allocation bodies may be 1 MiB (1000 requests with long fields),
	// every other body 64 KiB.
	bigBody := "[" + strings.Repeat(`{"region":"us-east"},`, (1<<20)/20) + `{"region":"us-east"}]`
	items1001 := "[" + strings.Repeat(`{"region":"us-east"},`, 1000) + `{"region":"us-east"}]`

	post := func(path, tok, body string) req { return req{Method: "POST", Path: path, Token: tok, Body: body} }
	get := func(path, tok string) req { return req{Method: "GET", Path: path, Token: tok} }
	const A, R, B, P = "/v1/assignments", "/v1/regions", "/v1/blocks", "/v1/pools"

	cases := []badCase{
		// Decoding.
		{name: "malformed JSON is 400", r: post(A, alloc, `[{"region":`), status: 400},
		{name: "a body that is not JSON is 400", r: post(A, alloc, `region=us-east`), status: 400},
		{name: "a missing body is 400", r: req{Method: "POST", Path: A, Token: alloc}, status: 400},
		{name: "an unknown field is refused", r: post(A, alloc, `[{"region":"us-east","colour":"red"}]`), status: 422},
		{name: "an unknown field in a region is refused", r: post(R, adm, `{"name":"x","country":"US","postal":"20147"}`), status: 422},
		{name: "a count given as a string is refused", r: post(A, alloc, `[{"region":"us-east","count":"3"}]`), status: 422},
		{name: "a region given as a number is refused", r: post(A, alloc, `[{"region":42}]`), status: 422},
		{name: "dual_stack given as a string is refused", r: post(A, alloc, `[{"region":"us-east","dual_stack":"yes"}]`), status: 422},
		{name: "an object where a list is due is refused", r: post(A, alloc, `{"region":"us-east"}`), status: 422},
		{name: "a null list allocates nothing", r: post(A, alloc, `null`), status: 422, typ: problem.Invalid},
		{name: "an allocation body over 1 MiB is 413", r: post(A, alloc, bigBody), status: 413},
		{name: "a block body over 64 KiB is 413", r: post(B, adm, `{"prefix":"10.7.0.0/16","source":"private","note":"`+strings.Repeat("n", 64<<10)+`"}`), status: 413},
		{name: "a patch body over 64 KiB is 413", r: req{Method: "PATCH", Path: acme, Token: alloc, Body: `{"resource":"` + strings.Repeat("r", 64<<10) + `"}`}, status: 413},
		{name: "a region body over 64 KiB is 413", r: post(R, adm, `{"name":"big","country":"US","city":"`+strings.Repeat("a", 66<<10)+`"}`), status: 413},

		// Specific allocations and reservations (issue 12).
		{name: "an address the tenant's own assignment holds is 409, naming it", r: post(A, ten, `[{"address":"`+e.acme2.Prefix.Addr().String()+`"}]`), status: 409, typ: problem.Overlap,
			check: mentions("held by assignment", e.acme2.Prefix.String())},
		{name: "a foreign tenant's token learns nothing of the holder", r: post(A, foreign, `[{"address":"`+e.acme2.Prefix.Addr().String()+`"}]`), status: 409, typ: problem.Overlap,
			check: func(t *testing.T, x *exchange, p problemDoc) {
				mentions("another tenant")(t, x, p)
				if strings.Contains(p.Detail, "acme") || strings.Contains(p.Detail, e.acme2.Resource) {
					t.Errorf("%s: names the other tenant", x)
				}
			}},
		{name: "an address outside every pool is 404", r: post(A, alloc, `[{"address":"132.245.0.1"}]`), status: 404, typ: problem.NotFound, check: mentions("outside every pool")},
		{name: "address and prefix together are refused", r: post(A, alloc, `[{"address":"10.0.0.9","prefix":"10.0.0.8/30"}]`), status: 422, typ: problem.Invalid, check: mentions("one or the other")},
		{name: "a malformed address is refused", r: post(A, alloc, `[{"address":"10.0.0.300"}]`), status: 422, typ: problem.Invalid, check: mentions("10.0.0.300")},
		{name: "a prefix with host bits is refused", r: post(A, alloc, `[{"prefix":"10.0.0.9/30"}]`), status: 422, typ: problem.Invalid, check: mentions("10.0.0.9/30")},
		{name: "neither region nor address is refused", r: post(A, alloc, `[{"family":4}]`), status: 422, typ: problem.Invalid, check: mentions("give region")},
		{name: "a reservation needs an admin token", r: post("/v1/reservations", alloc, `{"prefix":"10.0.0.128/28","reason":"gateways"}`), status: 403},
		{name: "a reservation over a live assignment is 409, naming it", r: post("/v1/reservations", adm, `{"prefix":"`+e.acme2.Prefix.String()+`","reason":"gateways"}`), status: 409, typ: problem.Overlap,
			check: mentions("cannot be reserved", "held by assignment")},
		{name: "a reservation without a reason is refused", r: post("/v1/reservations", adm, `{"prefix":"10.0.0.128/28","reason":""}`), status: 422, typ: problem.Invalid},
		{name: "a reservation outside every pool is 404", r: post("/v1/reservations", adm, `{"prefix":"10.0.200.0/24","reason":"x"}`), status: 404, typ: problem.NotFound},
		{name: "removing a reservation that does not exist is 404", r: req{Method: "DELETE", Path: "/v1/reservations/10.0.0.128/28", Token: adm}, status: 404, typ: problem.NotFound},

		// Allocation requests.
		{name: "count 0 is refused", r: post(A, alloc, `[{"region":"us-east","count":0}]`), status: 422},
		{name: "count -1 is refused", r: post(A, alloc, `[{"region":"us-east","count":-1}]`), status: 422},
		{name: "count 2000000 is refused", r: post(A, alloc, `[{"region":"us-east","count":2000000}]`), status: 422},
		{name: "len 0 is refused", r: post(A, alloc, `[{"region":"us-east","len":0}]`), status: 422},
		{name: "len 129 is refused", r: post(A, alloc, `[{"region":"us-east","len":129}]`), status: 422},
		{name: "len 33 is refused for IPv4", r: post(A, alloc, `[{"region":"us-east","family":4,"len":33}]`), status: 422, typ: problem.Invalid, check: mentions("/33")},
		{name: "len shorter than every pool is refused", r: post(A, alloc, `[{"region":"us-east","family":4,"len":16}]`), status: 422, typ: problem.Invalid},
		{name: "family 5 is refused", r: post(A, alloc, `[{"region":"us-east","family":5}]`), status: 422},
		{name: "an empty list is refused", r: post(A, alloc, `[]`), status: 422},
		{name: "more than 1000 items are refused", r: post(A, alloc, items1001), status: 422},
		{name: "an unknown region is 404", r: post(A, alloc, `[{"region":"mars-north"}]`), status: 404, typ: problem.NotFound, check: mentions("mars-north")},
		{name: "a malformed region name is refused", r: post(A, alloc, `[{"region":"US East"}]`), status: 422, typ: problem.Invalid},
		{name: "a bad DNS name is refused", r: post(A, alloc, `[{"region":"us-east","name":"Bad_Name.example"}]`), status: 422, typ: problem.Invalid},
		{name: "one name for two assignments is refused", r: post(A, alloc, `[{"region":"us-east","count":2,"name":"a.example"}]`), status: 422, typ: problem.Invalid},
		{name: "dual-stack with a family is refused", r: post(A, alloc, `[{"region":"us-east","dual_stack":true,"family":6}]`), status: 422, typ: problem.Invalid},
		{name: "one bad item fails the whole batch", r: post(A, alloc, `[{"region":"us-east"},{"region":"us-east","family":4,"len":33}]`), status: 422, typ: problem.Invalid, check: mentions("request 2")},
		{name: "an idempotency key reused with another body is 409", r: req{Method: "POST", Path: A, Token: alloc, Body: `[{"region":"eu-west"}]`, Header: map[string]string{"Idempotency-Key": "once"}}, status: 409, typ: problem.Idempotency},
		{name: "an idempotency key over 256 bytes is refused", r: req{Method: "POST", Path: A, Token: alloc, Body: `[{"region":"us-east"}]`, Header: map[string]string{"Idempotency-Key": strings.Repeat("k", 257)}}, status: 422},
		{name: "no IPv4 room names region, family and policy", r: post(A, alloc, `[{"region":"sa-east","family":4,"count":5}]`), status: 409, typ: problem.Policy,
			check: func(t *testing.T, x *exchange, p problemDoc) {
				mentions("sa-east", "IPv4", `"none"`)(t, x, p)
				if len(p.Errors) == 0 {
					t.Fatalf("%s: no error detail", x)
				}
				v, _ := p.Errors[0].Value.(map[string]any)
				if v["region"] != "sa-east" || fmt.Sprint(v["family"]) != "4" || v["policy"] != "none" {
					t.Errorf("%s: error value %v, want region, family and policy", x, v)
				}
			}},
		{name: "no IPv6 room names region and family", r: post(A, alloc, `[{"region":"sa-east"}]`), status: 409, typ: problem.NoSpace, check: mentions("sa-east", "IPv6")},
		{name: "a tenant token cannot allocate for another tenant", r: post(A, ten, `[{"region":"us-east","tenant":"globex"}]`), status: 403},

		// Regions.
		{name: "an unknown country is refused", r: post(R, adm, `{"name":"x","country":"ZZ"}`), status: 422, typ: problem.Invalid},
		{name: "a lower-case country is refused", r: post(R, adm, `{"name":"x","country":"us"}`), status: 422, typ: problem.Invalid},
		{name: "a three-letter country is refused", r: post(R, adm, `{"name":"x","country":"USA"}`), status: 422},
		{name: "an unknown subdivision is refused", r: post(R, adm, `{"name":"x","country":"US","subdivision":"US-ZZ"}`), status: 422, typ: problem.Invalid},
		{name: "another country's subdivision is refused", r: post(R, adm, `{"name":"x","country":"US","subdivision":"IE-D"}`), status: 422, typ: problem.Invalid},
		{name: "a city with a comma is refused", r: post(R, adm, `{"name":"x","country":"US","city":"Ashburn, VA"}`), status: 422, typ: problem.Invalid},
		{name: "a region name with capitals is refused", r: post(R, adm, `{"name":"Mars","country":"US"}`), status: 422, typ: problem.Invalid},
		{name: "a reserved region name is refused", r: post(R, adm, `{"name":"none","country":"US"}`), status: 422, typ: problem.Invalid},
		{name: "an existing region is 409", r: post(R, adm, `{"name":"us-east","country":"US"}`), status: 409, typ: problem.Exists},
		{name: "borrowing from an unknown region is refused", r: post(R, adm, `{"name":"x","country":"US","borrow_from":"mars-north"}`), status: 404, typ: problem.NotFound},
		{name: "a borrow unit of /7 is refused", r: post(R, adm, `{"name":"x","country":"US","borrow_unit":7}`), status: 422},
		{name: "a region patch with a stale If-Match is 412", r: req{Method: "PATCH", Path: R + "/us-east", Token: adm, Body: `{"city":"Reston"}`, Header: map[string]string{"If-Match": `"0123456789abcdef01234567"`}}, status: 412, typ: problem.Precondition},
		{name: "a region patch with a bad country is refused", r: req{Method: "PATCH", Path: R + "/us-east", Token: adm, Body: `{"country":"ZZ"}`}, status: 422, typ: problem.Invalid},
		{name: "a region patch with a foreign subdivision is refused", r: req{Method: "PATCH", Path: R + "/us-east", Token: adm, Body: `{"subdivision":"IE-D"}`}, status: 422, typ: problem.Invalid},
		{name: "a region may not borrow from itself", r: req{Method: "PATCH", Path: R + "/us-east", Token: adm, Body: `{"borrow_from":"us-east"}`}, status: 422, typ: problem.Invalid},
		{name: "patching an unknown region is 404", r: req{Method: "PATCH", Path: R + "/mars-north", Token: adm, Body: `{"city":"x"}`}, status: 404, typ: problem.NotFound},
		{name: "getting an unknown region is 404", r: get(R+"/mars-north", read), status: 404, typ: problem.NotFound},

		// Blocks and pools: prefixes.
		{name: "a block with host bits is refused", r: post(B, adm, `{"prefix":"10.1.0.1/16","source":"private"}`), status: 422, typ: problem.Invalid, check: mentions("host bits", "10.1.0.0/16")},
		{name: "an IPv4-mapped block is refused", r: post(B, adm, `{"prefix":"::ffff:10.2.0.0/112","source":"private"}`), status: 422, typ: problem.Invalid},
		{name: "a block with a zone is refused", r: post(B, adm, `{"prefix":"fe80::%eth0/64","source":"private"}`), status: 422, typ: problem.Invalid},
		{name: "a garbage prefix is refused", r: post(B, adm, `{"prefix":"banana","source":"private"}`), status: 422, typ: problem.Invalid},
		{name: "a prefix without a length is refused", r: post(B, adm, `{"prefix":"10.3.0.0","source":"private"}`), status: 422, typ: problem.Invalid},
		{name: "an overlapping block is 409", r: post(B, adm, `{"prefix":"10.0.128.0/17","source":"private"}`), status: 409, typ: problem.Overlap},
		{name: "an unknown provenance is refused", r: post(B, adm, `{"prefix":"10.4.0.0/16","source":"stolen"}`), status: 422},
		{name: "public space marked private is refused", r: post(B, adm, `{"prefix":"8.8.8.0/24","source":"private"}`), status: 422, typ: problem.Invalid},
		{name: "a bad registered country is refused", r: post(B, adm, `{"prefix":"203.0.114.0/24","source":"transfer","registered_country":"ZZ"}`), status: 422},
		{name: "a price with three decimals is refused", r: post(B, adm, `{"prefix":"10.5.0.0/16","source":"private","price":"1.005"}`), status: 422, typ: problem.Invalid},
		{name: "a currency without a price is refused", r: post(B, adm, `{"prefix":"10.5.0.0/16","source":"private","currency":"EUR"}`), status: 422, typ: problem.Invalid},
		{name: "a pool outside every block is refused", r: post(P, adm, `{"prefix":"10.9.0.0/24","region":"us-east"}`), status: 422, typ: problem.Invalid},
		{name: "an overlapping pool is 409", r: post(P, adm, `{"prefix":"10.0.0.128/25","region":"eu-west"}`), status: 409, typ: problem.Overlap},
		{name: "a pool for an unknown region is 404", r: post(P, adm, `{"prefix":"10.0.9.0/24","region":"mars-north"}`), status: 404, typ: problem.NotFound},
		{name: "a pool with host bits is refused", r: post(P, adm, `{"prefix":"10.0.9.1/24","region":"us-east"}`), status: 422, typ: problem.Invalid},

		// Listing: cursors, enums, filters.
		{name: "a garbage cursor is refused", r: get(A+"?cursor=!!!", read), status: 422, typ: problem.Invalid},
		{name: "a cursor this server never gave is refused", r: get(A+"?cursor=Zm9v", read), status: 422, typ: problem.Invalid},
		{name: "a cursor of a negative id is refused", r: get(A+"?cursor=YS0x", read), status: 422, typ: problem.Invalid},
		{name: "family 5 is refused in a listing", r: get(A+"?family=5", read), status: 422},
		{name: "an unknown state is refused", r: get(A+"?state=stolen", read), status: 422},
		{name: "limit 0 is refused", r: get(A+"?limit=0", read), status: 422},
		{name: "limit 1001 is refused", r: get(A+"?limit=1001", read), status: 422},
		{name: "a non-numeric limit is refused", r: get(A+"?limit=ten", read), status: 422},
		{name: "a garbage within is refused", r: get(A+"?within=banana", read), status: 422, typ: problem.Invalid},
		{name: "a within with host bits is refused", r: get(A+"?within=10.0.0.1/24", read), status: 422, typ: problem.Invalid},
		{name: "a garbage contains is refused", r: get(A+"?contains=300.1.1.1", read), status: 422, typ: problem.Invalid},
		{name: "listing an unknown region is 404", r: get(A+"?region=mars-north", read), status: 404, typ: problem.NotFound},
		{name: "a bad since is refused", r: get("/v1/events?since=yesterday", read), status: 422},
		{name: "a negative after is refused", r: get("/v1/events?after=-1", read), status: 422},
		{name: "an after that names no event is refused", r: get("/v1/events?after=999999", read), status: 422, typ: problem.Invalid},
		{name: "an events limit over 10000 is refused", r: get("/v1/events?limit=10001", read), status: 422},
		{name: "show without q is refused", r: get("/v1/show", read), status: 422},
		{name: "show with a garbage q is refused", r: get("/v1/show?q=banana", read), status: 422, typ: problem.Invalid},
		{name: "a pool listing of an unknown region is 404", r: get(P+"?region=mars-north", read), status: 404, typ: problem.NotFound},
		{name: "a report of an unknown region is 404", r: get("/v1/report?region=mars-north", read), status: 404, typ: problem.NotFound},

		// One assignment.
		{name: "a non-numeric id is refused", r: get(A+"/abc", read), status: 422},
		{name: "id 0 is refused", r: get(A+"/0", read), status: 422},
		{name: "an unknown id is 404", r: get(A+"/999999", read), status: 404, typ: problem.NotFound},
		{name: "another tenant's assignment is 404 on GET", r: get(acme, foreign), status: 404, typ: problem.NotFound, check: noHint},
		{name: "another tenant's assignment is 404 on PATCH", r: req{Method: "PATCH", Path: acme, Token: foreign, Body: `{"name":"x.example"}`}, status: 404, typ: problem.NotFound, check: noHint},
		{name: "another tenant's assignment is 404 on release", r: post(acme+"/release", foreign, `{}`), status: 404, typ: problem.NotFound, check: noHint},
		{name: "a PATCH with a bad name is refused", r: req{Method: "PATCH", Path: acme, Token: alloc, Body: `{"name":"-bad-.example"}`}, status: 422, typ: problem.Invalid},
		{name: "a PATCH with an unknown field is refused", r: req{Method: "PATCH", Path: acme, Token: alloc, Body: `{"tenant":"globex"}`}, status: 422},
		{name: "a PATCH with a stale If-Match is 412", r: req{Method: "PATCH", Path: acme, Token: alloc, Body: `{"name":"x.example"}`, Header: map[string]string{"If-Match": `"0123456789abcdef01234567"`}}, status: 412, typ: problem.Precondition},
		{name: "a PATCH of a released assignment is 409", r: req{Method: "PATCH", Path: fmt.Sprintf("%s/%d", A, e.acmeGone.ID), Token: alloc, Body: `{"name":"x.example"}`}, status: 409, typ: problem.State},
		{name: "releasing twice is 409", r: post(fmt.Sprintf("%s/%d/release", A, e.acmeGone.ID), alloc, `{}`), status: 409, typ: problem.State},
		{name: "a negative quarantine is refused", r: post(acme+"/release", alloc, `{"quarantine":"-1h"}`), status: 422, typ: problem.Invalid},
		{name: "a garbage quarantine is refused", r: post(acme+"/release", alloc, `{"quarantine":"soon"}`), status: 422, typ: problem.Invalid},

		// Authentication.
		{name: "no token is 401", r: get(R, ""), status: 401},
		{name: "a malformed token is 401", r: get(R, "hunter2"), status: 401},
		{name: "a Basic credential is 401", r: req{Method: "GET", Path: R, Header: map[string]string{"Authorization": "Basic " + adm}}, status: 401},
		{name: "an unknown token is 401", r: get(R, "cad_aaaaaaaaaaaaaaaa_"+secretTail(adm)), status: 401},
		{name: "a wrong secret is 401", r: get(R, adm[:len(adm)-4]+"aaaa"), status: 401},
		{name: "an expired token is 401", r: get(R, e.tok["expired"]), status: 401},
		{name: "a revoked token is 401", r: get(R, e.tok["revoked"]), status: 401},
		{name: "an overlong token is 401", r: get(R, adm+strings.Repeat("a", 300)), status: 401},
		{name: "a token in ?token= is refused", r: get(R+"?token="+adm, ""), status: 400},
		{name: "a token in ?access_token= is refused even with a header", r: get(R+"?access_token="+adm, adm), status: 400},

		// Authorisation.
		{name: "a read token cannot allocate", r: post(A, read, `[{"region":"us-east"}]`), status: 403},
		{name: "a read token cannot release", r: post(acme+"/release", read, `{}`), status: 403},
		{name: "an allocate token cannot create a region", r: post(R, alloc, `{"name":"x","country":"US"}`), status: 403},
		{name: "an allocate token cannot add a block", r: post(B, alloc, `{"prefix":"10.6.0.0/16","source":"private"}`), status: 403},
		{name: "an allocate token cannot issue tokens", r: post("/v1/tokens", alloc, `{"scope":"admin"}`), status: 403},
		{name: "a tenant token cannot list blocks", r: get(B, ten), status: 403},
		{name: "a tenant token cannot list another tenant's assignments", r: get(A+"?tenant=globex", ten), status: 403},

		// Tokens.
		{name: "an unknown scope is refused", r: post("/v1/tokens", adm, `{"scope":"root"}`), status: 422},
		{name: "an admin token bound to a tenant is refused", r: post("/v1/tokens", adm, `{"scope":"admin","tenant":"acme"}`), status: 422, typ: problem.Invalid},
		{name: "a negative expiry is refused", r: post("/v1/tokens", adm, `{"scope":"read","expires":"-1h"}`), status: 422, typ: problem.Invalid},
		{name: "a token for a tenant that does not exist is 404", r: post("/v1/tokens", adm, `{"scope":"allocate","tenant":"nobody"}`), status: 404, typ: problem.NotFound, check: mentions("tenant nobody does not exist")},
		{name: "revoking an unknown token is 404", r: req{Method: "DELETE", Path: "/v1/tokens/aaaaaaaaaaaaaaaa", Token: adm}, status: 404, typ: problem.NotFound},

		// Geolocation sources.
		{name: "a geofeed with errors is refused whole, with its diagnostics", r: req{Method: "PUT", Path: "/v1/geo/sources/partner/feed?origin=p.csv", Token: adm,
			Body: "40.64.0.0/24,US,,,\n40.64.1.1/24,US,,,\n", Header: map[string]string{"Content-Type": "text/csv"}}, status: 422, typ: problem.FeedErrors,
			check: func(t *testing.T, x *exchange, p problemDoc) {
				if !strings.Contains(p.Detail, "p.csv") || len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Message, "2:1: error") || p.Errors[0].Value == nil {
					t.Errorf("%s: want the file named and one item per diagnostic, with the diagnostic as its value", x)
				}
			}},
		{name: "an empty geofeed is refused and the source left as it was", r: req{Method: "PUT", Path: "/v1/geo/sources/partner/feed?origin=p.csv", Token: adm,
			Body: "", Header: map[string]string{"Content-Type": "text/csv"}}, status: 422, typ: problem.Invalid, check: mentions("left as it was")},
		{name: "garbage with skip_bad_lines leaves no entry and is refused", r: req{Method: "PUT", Path: "/v1/geo/sources/partner/feed?origin=p.csv&skip_bad_lines=true", Token: adm,
			Body: "<html>502 Bad Gateway</html>\n", Header: map[string]string{"Content-Type": "text/csv"}}, status: 422, typ: problem.Invalid, check: mentions("allow-empty")},
		{name: "a geofeed under a bad source name is refused", r: req{Method: "PUT", Path: "/v1/geo/sources/Bad%20Name/feed", Token: adm,
			Body: "40.64.0.0/24,US,,,\n", Header: map[string]string{"Content-Type": "text/csv"}}, status: 422, typ: problem.Invalid},
		{name: "a read token cannot import a geofeed", r: req{Method: "PUT", Path: "/v1/geo/sources/partner/feed", Token: read,
			Body: "40.64.0.0/24,US,,,\n", Header: map[string]string{"Content-Type": "text/csv"}}, status: 403},
		{name: "provider ranges with a prefix with host bits are refused, naming the JSON path", r: req{Method: "PUT", Path: "/v1/geo/sources/cloud/ranges?format=aws", Token: adm,
			Body: `{"prefixes":[{"ip_prefix":"40.64.0.1/24","region":"us-east-1","service":"AMAZON"}]}`, Header: map[string]string{"Content-Type": "application/octet-stream"}},
			status: 422, typ: problem.Invalid, check: mentions("prefixes[0].ip_prefix", "host bits")},
		{name: "provider ranges that are not JSON are refused, naming the line", r: req{Method: "PUT", Path: "/v1/geo/sources/cloud/ranges?format=gcp", Token: adm,
			Body: "{\n<html>", Header: map[string]string{"Content-Type": "application/octet-stream"}}, status: 422, typ: problem.Invalid, check: mentions("line 2")},
		{name: "provider ranges in an unknown format are refused", r: req{Method: "PUT", Path: "/v1/geo/sources/cloud/ranges?format=ibm", Token: adm,
			Body: `{}`, Header: map[string]string{"Content-Type": "application/octet-stream"}}, status: 422},
		{name: "a read token cannot import provider ranges", r: req{Method: "PUT", Path: "/v1/geo/sources/cloud/ranges?format=aws", Token: read,
			Body: `{"prefixes":[]}`, Header: map[string]string{"Content-Type": "application/octet-stream"}}, status: 403},
		{name: "audit of a provider no source is named is not found", r: get("/v1/audit?provider=nobody", read), status: 404, typ: problem.NotFound},
		{name: "an MMDB source by a relative path is refused", r: post("/v1/geo/sources", adm, `{"name":"w","mmdb":"world.mmdb"}`), status: 422, typ: problem.Invalid, check: mentions("absolute")},
		{name: "an MMDB source from a missing file is refused", r: post("/v1/geo/sources", adm, `{"name":"w","mmdb":"/nonexistent/world.mmdb"}`), status: 422, typ: problem.Invalid, check: mentions("/nonexistent/world.mmdb")},
		{name: "an MMDB source under a bad name is refused", r: post("/v1/geo/sources", adm, `{"name":"W W","mmdb":"/nonexistent/world.mmdb"}`), status: 422},
		{name: "an allocate token cannot add a source", r: post("/v1/geo/sources", alloc, `{"name":"w","mmdb":"/nonexistent/world.mmdb"}`), status: 403},
		{name: "removing an unknown source is 404", r: req{Method: "DELETE", Path: "/v1/geo/sources/nobody", Token: adm}, status: 404, typ: problem.NotFound},
		{name: "a tenant token cannot audit", r: get("/v1/audit", ten), status: 403},
		{name: "an audit's minimum share above 1 is refused", r: get("/v1/audit?min_share=1.5", adm), status: 422, check: locates("query.min_share")},
		{name: "an audit's minimum share that is not a number is refused", r: get("/v1/audit?min_share=lots", adm), status: 422, check: locates("query.min_share")},
		{name: "an audit's negative minimum of addresses is refused", r: get("/v1/audit?min_addresses=-1", adm), status: 422, check: locates("query.min_addresses")},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	t.Logf("%d bad-input cases", len(cases))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(t)
			x := e.do(t, c.r)
			p := checkProblem(t, x, c.status)
			if c.typ != "" && p.Type != c.typ {
				t.Errorf("%s: problem type %q, want %q", x, p.Type, c.typ)
			}
			if x.Status == http.StatusUnauthorized && x.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate", x)
			}
			if c.check != nil {
				c.check(t, x, p)
			}
			if d := before.diff(e.snapshot(t)); d != "" {
				t.Errorf("%s changed the database:\n%s", x, d)
			}
		})
	}
}

// TestSnapshotSeesChanges guards the "nothing stored changed" checks: a
// successful request must show in the snapshot, while a token's last-used
// time, which every authenticated request may write, must not.
func TestSnapshotSeesChanges(t *testing.T) {
	e := newEnv(t)
	before := e.snapshot(t)
	for _, table := range []string{"regions", "blocks", "relocations", "pools", "free", "pool_frontier", "assignments", "events", "idempotency", "sources", "source_entries", "tokens"} {
		if _, ok := before[table]; !ok {
			t.Errorf("the snapshot lacks table %s (has %d tables)", table, len(before))
		}
	}
	// First use of a token writes its last-used time: not a change.
	e.clock.set(2 * time.Minute)
	x := e.do(t, req{Method: "GET", Path: "/v1/regions", Token: e.tok["read"]})
	e.clock.set(0)
	if x.Status != http.StatusOK {
		t.Fatalf("%s", x)
	}
	var used *int64
	if err := e.ro.QueryRow(`SELECT last_used_at FROM tokens WHERE id = ?`, e.ids["read"]).Scan(&used); err != nil || used == nil {
		t.Fatalf("the read did not record the token's last use (%v): the exclusion is untested", err)
	}
	if d := before.diff(e.snapshot(t)); d != "" {
		t.Errorf("a read changed the snapshot:\n%s", d)
	}
	x = e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: e.tok["allocate"], Body: `[{"region":"us-east"}]`})
	if x.Status != http.StatusCreated {
		t.Fatalf("%s", x)
	}
	d := before.diff(e.snapshot(t))
	for _, table := range []string{"assignments", "events"} {
		if !strings.Contains(d, table+": +") {
			t.Errorf("an allocation does not show in table %s:\n%s", table, d)
		}
	}
	// An allocation at a pool's frontier writes no free row (SQLite,
	// store/sqlite/frontier.go); its release does, and moves the mark.
	var got []struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(x.Body, &got); err != nil || len(got) != 1 {
		t.Fatalf("allocation: %v %s", err, x.Body)
	}
	after := e.snapshot(t)
	x = e.do(t, req{Method: "POST", Path: fmt.Sprintf("/v1/assignments/%d/release", got[0].ID), Token: e.tok["allocate"], Body: `{"quarantine":"0"}`})
	if x.Status != http.StatusOK {
		t.Fatalf("%s", x)
	}
	d = after.diff(e.snapshot(t))
	for _, table := range []string{"assignments", "events", "free", "pool_frontier"} {
		if !strings.Contains(d, table+": ") {
			t.Errorf("a release does not show in table %s:\n%s", table, d)
		}
	}
}

// TestReservationsAndSpecificSpace walks the issue 12 routes: reserve,
// list, allocate exactly an address, and unreserve.
func TestReservationsAndSpecificSpace(t *testing.T) {
	e := newEnv(t)
	adm, alloc, read := e.tok["admin"], e.tok["allocate"], e.tok["read"]
	x := e.do(t, req{Method: "POST", Path: "/v1/reservations", Token: adm, Body: `{"prefix":"10.0.0.128/28","reason":"gateways"}`})
	if x.Status != http.StatusCreated {
		t.Fatalf("reserve: %s", x)
	}
	x = e.do(t, req{Method: "GET", Path: "/v1/reservations", Token: read})
	if vs := decode[[]map[string]any](t, x); len(vs) != 1 || vs[0]["prefix"] != "10.0.0.128/28" || vs[0]["reason"] != "gateways" || vs[0]["region"] != "us-east" {
		t.Fatalf("list: %s", x)
	}
	x = e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: alloc, Body: `[{"address":"10.0.0.129"}]`})
	if p := checkProblem(t, x, http.StatusConflict); !strings.Contains(p.Detail, "reserved as 10.0.0.128/28 (gateways)") {
		t.Fatalf("allocate in a reservation: %s", x)
	}
	x = e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: alloc, Body: `[{"address":"10.0.0.200","tenant":"acme","resource":"legacy"}]`})
	if as := decode[[]map[string]any](t, x); x.Status != http.StatusCreated || len(as) != 1 || as[0]["prefix"] != "10.0.0.200/32" {
		t.Fatalf("allocate exactly: %s", x)
	}
	x = e.do(t, req{Method: "DELETE", Path: "/v1/reservations/10.0.0.128/28", Token: adm})
	if x.Status != http.StatusOK {
		t.Fatalf("unreserve: %s", x)
	}
	x = e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: alloc, Body: `[{"prefix":"10.0.0.128/28"}]`})
	if x.Status != http.StatusCreated {
		t.Fatalf("allocate the unreserved space: %s", x)
	}
}
