package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest/migrated"
)

// TestOutOfOrderCommitsReachEveryReader: on PostgreSQL, transaction A
// writes its event first and commits last, while B, on another replica's
// store, writes its event after A's and commits at once. A reader of
// /v1/events that pages between the two commits, and a geofeed client that
// fetches then, still get A's change once it commits: the page after the
// cursor carries A's event, and the cached feed's ETag no longer matches.
// On a log position that is the largest sequence number, the reader had
// already passed A's number and the feed answered 304 with the old copy.
func TestOutOfOrderCommitsReachEveryReader(t *testing.T) {
	dsn := migrated.Database(t)
	open := func() *postgres.Store {
		s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	served, writerA := open(), open()
	ctx := registry.WithActor(context.Background(), "test")
	reg := registry.New(served)
	if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US", Subdivision: "US-VA", City: "Ashburn"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("11.0.0.0/16"), Source: registry.SourceRIR, Registry: "arin", RegisteredCountry: "US"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("11.0.0.0/24"), Region: "us-east", UseAll: true}); err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.New(served, testKey, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := tokens.Create(ctx, auth.Spec{Name: "reader", Scope: auth.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(reg, tokens, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)

	get := func(path string, header map[string]string) (*http.Response, []byte) {
		t.Helper()
		r, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+secret)
		for k, v := range header {
			r.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	// The events reader: pages of two from its cursor, as a client that
	// keeps its place between polls.
	var cursor int64
	seen := map[int64]int{}
	read := func() {
		t.Helper()
		for range 1000 {
			resp, body := get(fmt.Sprintf("/v1/events?after=%d&limit=2", cursor), nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/v1/events?after=%d: %s: %s", cursor, resp.Status, body)
			}
			var page struct {
				Items []registry.Event `json:"items"`
				Next  int64            `json:"next"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Items {
				seen[e.Seq]++
				cursor = e.Seq
			}
			if page.Next == 0 {
				return
			}
		}
		t.Fatal("more than 1000 pages of events")
	}
	read()
	feed := func(etag string) (status int, tag string, body string) {
		t.Helper()
		h := map[string]string{}
		if etag != "" {
			h["If-None-Match"] = etag
		}
		resp, b := get("/geofeed.csv", h)
		return resp.StatusCode, resp.Header.Get("ETag"), string(b)
	}
	if status, _, body := feed(""); status != http.StatusOK || !strings.Contains(body, "Ashburn") {
		t.Fatalf("first geofeed: %d\n%s", status, body)
	}

	// A moves us-east to Boston, writes its event and waits, uncommitted.
	commitA := pgtest.HoldOpen(t, ctx, writerA, func(tx registry.Tx) error {
		r, err := tx.RegionByName(ctx, "us-east")
		if err != nil {
			return err
		}
		r.Location.City = "Boston"
		if err := tx.UpdateRegion(ctx, r); err != nil {
			return err
		}
		if err := tx.AppendEvent(ctx, &registry.Event{At: time.Now().UTC().Truncate(time.Microsecond), Actor: "test:A", Action: "region.update",
			SubjectKind: "region", SubjectID: r.ID, Subject: r.Name}); err != nil {
			return err
		}
		return nil
	})
	// B, through the served store, writes the next event and commits.
	if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "eu-west", Location: location.Location{Country: "IE", City: "Dublin"}}); err != nil {
		t.Fatal(err)
	}
	// The readers look while A is still open.
	read()
	_, etag, _ := feed("")
	if err := commitA(); err != nil {
		t.Fatalf("transaction A: %v", err)
	}

	var all []registry.Event
	if err := served.View(ctx, func(tx registry.Tx) (err error) { all, err = tx.Events(ctx, registry.EventFilter{}); return err }); err != nil {
		t.Fatal(err)
	}
	// The readers catch up once no transaction older than A's and B's is
	// in flight on the server (other tests' may be, for a while).
	caughtUp := func() bool {
		read()
		return seen[all[len(all)-1].Seq] > 0 && seen[all[len(all)-2].Seq] > 0
	}
	for deadline := time.Now().Add(30 * time.Second); !caughtUp() && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	for _, e := range all {
		if seen[e.Seq] != 1 {
			t.Errorf("event %d (%s by %s) read %d times through /v1/events paging, want once", e.Seq, e.Action, e.Actor, seen[e.Seq])
		}
	}
	var status int
	var etag2, body string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if status, etag2, body = feed(etag); status == http.StatusOK && strings.Contains(body, "Boston") {
			return
		}
	}
	t.Errorf("geofeed with If-None-Match %s (fetched while A was open) after A committed: %d, ETag %s, want 200 with A's Boston\n%s", etag, status, etag2, body)
}
