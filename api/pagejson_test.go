package api

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// TestPageJSONAsEncodingJSON: a page of assignments written by appendPage
// is, byte for byte, what huma's JSON format (encoding/json, HTML not
// escaped) wrote: every field and omission, strings with quotes,
// backslashes, control characters, markup, invalid UTF-8 and the line
// separators, times with and without fractions, relocations and tags.
func TestPageJSONAsEncodingJSON(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 23, 4, 5, 0, time.UTC)
	t1 := time.UnixMicro(1764975845123456).UTC()
	t2 := time.UnixMicro(1764975845120000).UTC()
	base := registry.Assignment{ID: 42, Prefix: netip.MustParsePrefix("203.0.113.7/32"), PoolID: 7, Pool: netip.MustParsePrefix("203.0.113.0/24"),
		RegionID: 3, Region: "us-east", Tenant: "acme", Resource: "vm-1", Name: "vm-1.cloud.example.", State: registry.StateAssigned, CreatedAt: t0}
	with := func(f func(a *registry.Assignment)) registry.Assignment {
		a := base
		f(&a)
		return a
	}
	hostile := []string{"", `"quoted"`, `back\slash`, "<b>&amp;</b>", "tab\tnew\nline\rcr", "\x00\x01\x1f\x7f", "\b\f", "caf\u00e9 \U0001F600",
		"bad \xff\xfe utf-8", "\xe2\x80", "sep\u2028para\u2029", "+/=?"}
	var items []registry.Assignment
	for _, s := range hostile {
		items = append(items, with(func(a *registry.Assignment) { a.Tenant, a.Resource, a.Name, a.Region = s, s, s, s }))
	}
	items = append(items,
		with(func(a *registry.Assignment) {
			a.Prefix, a.Pool = netip.MustParsePrefix("2001:db8:0:1::5/128"), netip.MustParsePrefix("2001:db8::/48")
			a.Space, a.State, a.CreatedAt, a.ReleasedAt, a.QuarantineUntil = "vrf-a", registry.StateQuarantined, t1, &t2, &t1
		}),
		with(func(a *registry.Assignment) {
			a.State, a.ReleasedAt = registry.StateReleased, &t0
			a.Borrowed, a.Relocation = true, &registry.RelocationRef{ID: 9, Prefix: netip.MustParsePrefix("198.51.100.0/24"), FromRegion: "eu-\"west", ToRegion: "us-east"}
		}),
		with(func(a *registry.Assignment) {
			a.Tags = registry.Tags{"z": "last", "a": "first", "m\"x": "<v>\n", "": "empty key"}
		}),
		with(func(a *registry.Assignment) { a.Tags = registry.Tags{} }),
		registry.Assignment{}, // zero prefixes and time
	)
	rng := rand.New(rand.NewPCG(16, 10))
	for range 200 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		items = append(items, with(func(a *registry.Assignment) { a.Name, a.Tags = string(b), registry.Tags{string(b): string(b)} }))
	}
	for _, c := range []struct {
		name string
		body pageBody
	}{
		{"no page", pageBody{}},
		{"an empty page", pageBody{Items: []registry.Assignment{}}},
		{"one", pageBody{Items: items[:1]}},
		{"all, with a next page", pageBody{Items: items, Next: encodeCursor("1234567")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false) // huma.DefaultJSONFormat
			if err := enc.Encode(c.body); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := writePage(&got, &c.body); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				g, w := got.Bytes(), want.Bytes()
				i := 0
				for i < min(len(g), len(w)) && g[i] == w[i] {
					i++
				}
				t.Errorf("differs at byte %d:\n got %q\nwant %q", i, g[max(0, i-80):min(len(g), i+80)], w[max(0, i-80):min(len(w), i+80)])
			}
		})
	}
}
