package api

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// TestLifecycleAPI: spaces, PATCH with If-Match and DELETE of regions,
// blocks and pools, tags on every object and ?tag= on every list. Each
// refused request answers its status, names what depends on the object,
// and leaves every table as it was.
func TestLifecycleAPI(t *testing.T) {
	e := newEnv(t)
	adm, ten, foreign, rd := e.tok["admin"], e.tok["tenant"], e.tok["foreign"], e.tok["read"]
	pool := must[registry.Pool](t)(e.reg.FindPool(setupCtx, netip.MustParsePrefix("10.0.1.0/30")))
	busy := must[registry.Pool](t)(e.reg.FindPool(setupCtx, netip.MustParsePrefix("10.0.0.0/24")))
	blk := must[registry.Block](t)(e.reg.FindBlock(setupCtx, netip.MustParsePrefix("10.0.0.0/16"), ""))
	etagOf := func(path string) string {
		x := e.do(t, req{Method: "GET", Path: path, Token: adm})
		if x.Status != http.StatusOK || x.Header.Get("ETag") == "" {
			t.Fatalf("%s: no ETag", x)
		}
		return x.Header.Get("ETag")
	}
	refusals := []struct {
		name   string
		r      req
		status int
		names  []string
	}{
		{"removing a pool with live assignments", req{Method: "DELETE", Path: fmt.Sprintf("/v1/pools/%d", busy.ID), Token: adm}, http.StatusConflict, []string{"10.0.0.0/24", "assigned"}},
		{"removing a block with pools", req{Method: "DELETE", Path: fmt.Sprintf("/v1/blocks/%d", blk.ID), Token: adm}, http.StatusConflict, []string{"10.0.0.0/24", "10.0.1.0/30"}},
		{"removing a region with pools", req{Method: "DELETE", Path: "/v1/regions/sa-east", Token: adm}, http.StatusConflict, []string{"10.0.1.0/30"}},
		{"a stale If-Match on a pool", req{Method: "PATCH", Path: fmt.Sprintf("/v1/pools/%d", pool.ID), Token: adm, Header: map[string]string{"If-Match": `"0000"`}, Body: map[string]any{"purpose": "x"}}, http.StatusPreconditionFailed, nil},
		{"a stale If-Match on a removal", req{Method: "DELETE", Path: fmt.Sprintf("/v1/pools/%d", pool.ID), Token: adm, Header: map[string]string{"If-Match": `"0000"`}}, http.StatusPreconditionFailed, nil},
		{"a bad tag key", req{Method: "PATCH", Path: fmt.Sprintf("/v1/pools/%d", pool.ID), Token: adm, Body: map[string]any{"tags": map[string]string{"Bad Key": "x"}}}, http.StatusUnprocessableEntity, []string{"Bad Key"}},
		{"a control character in a tag", req{Method: "PATCH", Path: fmt.Sprintf("/v1/blocks/%d", blk.ID), Token: adm, Body: map[string]any{"tags": map[string]string{"env": "a\x1bb"}}}, http.StatusBadRequest, []string{"control character"}},
		{"a tag filter without '='", req{Method: "GET", Path: "/v1/pools?tag=env", Token: adm}, http.StatusUnprocessableEntity, []string{"KEY=VALUE"}},
		{"a block in an unknown space", req{Method: "POST", Path: "/v1/blocks", Token: adm, Body: map[string]any{"prefix": "10.0.0.0/16", "source": "private", "space": "vpc-z"}}, http.StatusNotFound, []string{"vpc-z"}},
		{"the same private block in the same space", req{Method: "POST", Path: "/v1/blocks", Token: adm, Body: map[string]any{"prefix": "10.0.0.0/16", "source": "private"}}, http.StatusConflict, []string{"space private"}},
		{"removing a space with blocks", req{Method: "DELETE", Path: "/v1/spaces/private", Token: adm}, http.StatusConflict, []string{"built in"}},
		{"a tenant token changing a pool", req{Method: "PATCH", Path: fmt.Sprintf("/v1/pools/%d", pool.ID), Token: ten, Body: map[string]any{"purpose": "x"}}, http.StatusForbidden, nil},
		{"a tenant token removing a pool", req{Method: "DELETE", Path: fmt.Sprintf("/v1/pools/%d", pool.ID), Token: ten}, http.StatusForbidden, nil},
		{"a read token removing a region", req{Method: "DELETE", Path: "/v1/regions/eu-west", Token: rd}, http.StatusForbidden, nil},
		{"a tenant tagging another tenant's assignment", req{Method: "PATCH", Path: fmt.Sprintf("/v1/assignments/%d", e.acme.ID), Token: foreign, Body: map[string]any{"tags": map[string]string{"x": "y"}}}, http.StatusNotFound, nil},
		{"removing a missing block", req{Method: "DELETE", Path: "/v1/blocks/99999", Token: adm}, http.StatusNotFound, nil},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(t)
			x := e.do(t, c.r)
			p := checkProblem(t, x, c.status)
			for _, n := range c.names {
				if !strings.Contains(p.Detail, n) {
					t.Errorf("%s: the answer does not name %q", x, n)
				}
			}
			if d := before.diff(e.snapshot(t)); d != "" {
				t.Errorf("%s: a refused request changed the database: %s", x, d)
			}
		})
	}

	t.Run("tags on every object, filtered on every list", func(t *testing.T) {
		x := e.do(t, req{Method: "PATCH", Path: fmt.Sprintf("/v1/pools/%d", pool.ID), Token: adm, Header: map[string]string{"If-Match": etagOf(fmt.Sprintf("/v1/pools/%d", pool.ID))},
			Body: map[string]any{"purpose": "nat", "tags": map[string]string{"env": "prod", "team": "net"}}})
		if x.Status != http.StatusOK || decode[registry.Pool](t, x).Tags["env"] != "prod" {
			t.Fatalf("%s", x)
		}
		x = e.do(t, req{Method: "PATCH", Path: "/v1/regions/us-east", Token: adm, Body: map[string]any{"tags": map[string]string{"env": "prod"}}})
		if x.Status != http.StatusOK {
			t.Fatalf("%s", x)
		}
		x = e.do(t, req{Method: "PATCH", Path: fmt.Sprintf("/v1/blocks/%d", blk.ID), Token: adm, Body: map[string]any{"note": "lab", "tags": map[string]string{"env": "prod"}}})
		if x.Status != http.StatusOK || decode[registry.Block](t, x).Note != "lab" {
			t.Fatalf("%s", x)
		}
		// A tenant token tags its own assignment.
		x = e.do(t, req{Method: "PATCH", Path: fmt.Sprintf("/v1/assignments/%d", e.acme.ID), Token: ten, Header: map[string]string{"If-Match": etagOf(fmt.Sprintf("/v1/assignments/%d", e.acme.ID))},
			Body: map[string]any{"tags": map[string]string{"env": "prod", "app": "shop"}}})
		if x.Status != http.StatusOK {
			t.Fatalf("%s", x)
		}
		q := "?" + url.Values{"tag": {"env=prod", "team=net"}}.Encode()
		if ps := decode[[]registry.PoolUsage](t, e.do(t, req{Method: "GET", Path: "/v1/pools" + q, Token: rd})); len(ps) != 1 || ps[0].ID != pool.ID || ps[0].Purpose != "nat" {
			t.Fatalf("pools%s = %+v", q, ps)
		}
		if rs := decode[[]registry.Region](t, e.do(t, req{Method: "GET", Path: "/v1/regions?tag=env%3Dprod", Token: rd})); len(rs) != 1 || rs[0].Name != "us-east" {
			t.Fatalf("regions = %+v", rs)
		}
		if bs := decode[[]registry.Block](t, e.do(t, req{Method: "GET", Path: "/v1/blocks?tag=env%3Dprod&space=private", Token: rd})); len(bs) != 1 || bs[0].ID != blk.ID {
			t.Fatalf("blocks = %+v", bs)
		}
		page := decode[struct{ Items []registry.Assignment }](t, e.do(t, req{Method: "GET", Path: "/v1/assignments?tag=app%3Dshop&tag=env%3Dprod", Token: ten}))
		if len(page.Items) != 1 || page.Items[0].ID != e.acme.ID || page.Items[0].Tags["app"] != "shop" {
			t.Fatalf("assignments = %+v", page.Items)
		}
		x = e.do(t, req{Method: "PATCH", Path: fmt.Sprintf("/v1/assignments/%d", e.acme.ID), Token: ten, Body: map[string]any{"untag": []string{"app"}}})
		if a := decode[registry.Assignment](t, x); x.Status != http.StatusOK || len(a.Tags) != 1 {
			t.Fatalf("%s", x)
		}
	})

	t.Run("spaces; pools, blocks and regions go once empty", func(t *testing.T) {
		x := e.do(t, req{Method: "POST", Path: "/v1/spaces", Token: adm, Body: map[string]any{"name": "vpc-a", "note": "first VPC"}})
		if x.Status != http.StatusCreated {
			t.Fatalf("%s", x)
		}
		x = e.do(t, req{Method: "POST", Path: "/v1/blocks", Token: adm, Body: map[string]any{"prefix": "10.0.0.0/16", "source": "private", "space": "vpc-a"}})
		if x.Status != http.StatusCreated || decode[registry.Block](t, x).Space != "vpc-a" {
			t.Fatalf("the same private block in another space: %s", x)
		}
		vpc := decode[registry.Block](t, x)
		sp := decode[[]registry.Space](t, e.do(t, req{Method: "GET", Path: "/v1/spaces", Token: rd}))
		if len(sp) != 3 || sp[2].Name != "vpc-a" || sp[2].Blocks != 1 {
			t.Fatalf("spaces = %+v", sp)
		}
		h := decode[registry.Holding](t, e.do(t, req{Method: "GET", Path: "/v1/show?q=10.0.0.9&space=vpc-a", Token: rd}))
		if h.Block == nil || h.Block.ID != vpc.ID {
			t.Fatalf("show in vpc-a = %+v", h.Block)
		}
		// Without a space, the pool that holds the address names its
		// space (pools never overlap); an address of both blocks in no
		// pool is ambiguous.
		h = decode[registry.Holding](t, e.do(t, req{Method: "GET", Path: "/v1/show?q=10.0.0.9", Token: rd}))
		if h.Block == nil || h.Block.Space != registry.PrivateSpace || h.Pool == nil || h.Pool.Prefix.String() != "10.0.0.0/24" {
			t.Fatalf("show 10.0.0.9 = block %+v, pool %+v; want the private space's pool", h.Block, h.Pool)
		}
		checkProblem(t, e.do(t, req{Method: "GET", Path: "/v1/show?q=10.0.200.9", Token: rd}), http.StatusUnprocessableEntity)
		if x := e.do(t, req{Method: "DELETE", Path: fmt.Sprintf("/v1/blocks/%d", vpc.ID), Token: adm}); x.Status != http.StatusNoContent {
			t.Fatalf("%s", x)
		}
		if x := e.do(t, req{Method: "DELETE", Path: "/v1/spaces/vpc-a", Token: adm}); x.Status != http.StatusNoContent {
			t.Fatalf("%s", x)
		}
		if x := e.do(t, req{Method: "DELETE", Path: fmt.Sprintf("/v1/pools/%d", pool.ID), Token: adm, Header: map[string]string{"If-Match": etagOf(fmt.Sprintf("/v1/pools/%d", pool.ID))}}); x.Status != http.StatusNoContent {
			t.Fatalf("%s", x)
		}
		checkProblem(t, e.do(t, req{Method: "GET", Path: fmt.Sprintf("/v1/pools/%d", pool.ID), Token: rd}), http.StatusNotFound)
		if x := e.do(t, req{Method: "DELETE", Path: "/v1/regions/sa-east", Token: adm}); x.Status != http.StatusNoContent {
			t.Fatalf("%s", x)
		}
		var actions []string
		for _, ev := range must[[]registry.Event](t)(e.reg.Events(setupCtx, registry.EventFilter{})) {
			actions = append(actions, ev.Action)
		}
		got := strings.Join(actions, " ")
		for _, want := range []string{"space.add", "pool.update", "block.update", "region.update", "assignment.update", "block.remove", "space.remove", "pool.remove", "region.remove"} {
			if !strings.Contains(got, want) {
				t.Errorf("no %s event in %s", want, got)
			}
		}
	})

	t.Run("private pools stay out of the published geofeed", func(t *testing.T) {
		// Every pool of this register is private space: the feed is
		// published, empty of them, rather than failing.
		// (Fetched past the recorder: the feed is not a /v1 operation.)
		resp, err := http.Get(e.srv.URL + "/geofeed.csv")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || strings.Contains(string(b), "10.0.") || strings.Contains(string(b), "fd00:") {
			t.Fatalf("geofeed: %d\n%s", resp.StatusCode, b)
		}
	})
}
