package bench_test

// Issue 15, "Sources that load once": a 1,000,000-entry imported feed in
// a SQLite store, and what the command line and the server pay for it.
// Command and numbers: bench/README.md, section "Geolocation look-ups
// (geo)", "A 1,000,000-entry feed".

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/bench"
	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

const millionFeed = 1_000_000

var millionStore struct {
	once sync.Once
	st   *sqlite.Store
	err  error
}

// millionFeedStore is a SQLite store holding one imported source of
// 1,000,000 IPv4 /24 entries from 11.0.0.0 (the locations of the
// generated feed), built once per process.
func millionFeedStore(b *testing.B) *sqlite.Store {
	d := dir(b)
	millionStore.once.Do(func() {
		ctx := context.Background()
		st, err := sqlite.Open(ctx, filepath.Join(d, "million.db"), sqlite.Options{NoSync: true})
		if err != nil {
			millionStore.err = err
			return
		}
		es := make([]geo.Entry, millionFeed)
		for i := range es {
			v := uint32(11<<24) + uint32(i)<<8
			es[i] = geo.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24),
				Location: bench.FeedLocations[(i/50)%len(bench.FeedLocations)]}
		}
		now := time.Now()
		ev := registry.Event{At: now, Action: "source.import", SubjectKind: "source", Subject: "big"}
		_, millionStore.err = st.PutSource(ctx, geo.Source{Name: "big", Kind: geo.KindGeofeed, ImportedAt: now}, es, ev)
		millionStore.st = st
	})
	if millionStore.err != nil {
		b.Fatal(millionStore.err)
	}
	return millionStore.st
}

// BenchmarkGeoPointMillionFeed is `cadastre geo lookup ADDRESS` without
// process start: a Point opened over the store and one address looked
// up through it (an indexed query), per op.
func BenchmarkGeoPointMillionFeed(b *testing.B) {
	st := millionFeedStore(b)
	ctx := context.Background()
	addrs := geoIPv4(4096)
	for i := range addrs {
		// Inside the feed: 11.0.0.0 to 26.66.63.255.
		v := uint32(11<<24) + uint32(i*2477)%(millionFeed<<8)
		addrs[i] = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	i := 0
	for b.Loop() {
		pt, err := geo.NewPoint(ctx, nil, st, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		var r geo.Result
		if err := pt.Lookup(ctx, &r, addrs[i%len(addrs)], false); err != nil || !r.Found {
			b.Fatalf("%v: %+v %v", addrs[i%len(addrs)], r, err)
		}
		i++
	}
}

// BenchmarkGeoReloadMillionFeed is a server's reload when the register
// moved and the feed did not: the loader keeps the feed read before, and
// the table is built again from it.
func BenchmarkGeoReloadMillionFeed(b *testing.B) {
	st := millionFeedStore(b)
	ctx := context.Background()
	e, err := geo.NewEngine(ctx, geo.StoreLoader(nil, st), nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := e.Reload(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if r := e.Lookup(netip.MustParseAddr("11.0.0.1")); r.Answer.Source != "big" {
		b.Fatalf("11.0.0.1: %+v", r)
	}
}
