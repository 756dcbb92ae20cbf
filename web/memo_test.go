package web

import (
	"context"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// regionCount reads a count of the region page's table of use: IPv4
// assigned or quarantined, as the page writes it.
func regionCount(t *testing.T, b *browser, state string) string {
	t.Helper()
	p := b.get(t, "/region/us-east")
	p.want(t, http.StatusOK)
	m := regexp.MustCompile(`family=4&amp;state=` + state + `">([^<]*)</a>`).FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("/region/us-east: no IPv4 %s count in the page", state)
	}
	return m[1]
}

// TestRegionPageCountsAnAllocationAtOnce: an operator who allocates and
// looks at the region sees the count move on the next view, within the
// memo's lifetime: the change moved the log, and the memo counts again.
func TestRegionPageCountsAnAllocationAtOnce(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleRead)
	before := regionCount(t, b, "assigned")
	regionCount(t, b, "assigned") // from the memo
	if _, err := e.reg.Allocate(context.Background(), registry.Request{Region: "us-east", Family: 4, Resource: "vm-new"}); err != nil {
		t.Fatal(err)
	}
	if after := regionCount(t, b, "assigned"); after == before {
		t.Errorf("IPv4 assigned after an allocation: %s, as before it", after)
	}
	if before != "2" || regionCount(t, b, "assigned") != "3" {
		t.Errorf("IPv4 assigned: %s before the allocation, %s after; want 2 and 3", before, regionCount(t, b, "assigned"))
	}
}

// TestRegionPageRefreshesAnOldCountInTheBackground: a quarantine ends
// with time, not with an event, so the memo's answer goes stale without
// the log moving. Past memoTTL the view is given the answer it has and
// the count is refreshed in the background (no view waits for it); past
// memoStale the view counts again itself.
func TestRegionPageRefreshesAnOldCountInTheBackground(t *testing.T) {
	for _, c := range []struct {
		name      string
		wait      time.Duration
		firstView string // the quarantined count of the first view after wait
	}{
		{"older than memoTTL: given, then refreshed", memoTTL + 5*time.Second, "1"},
		{"older than memoStale: counted again", memoStale + 5*time.Second, "0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			b := e.signIn(t, roleRead)
			if _, err := e.reg.Release(context.Background(), registry.Target{ID: e.globex.ID}, memoTTL, nil); err != nil {
				t.Fatal(err)
			}
			if got := regionCount(t, b, "quarantined"); got != "1" {
				t.Fatalf("IPv4 quarantined after the release: %s, want 1", got)
			}
			e.clock.advance(c.wait)
			if got := regionCount(t, b, "quarantined"); got != c.firstView {
				t.Errorf("first view %s later: IPv4 quarantined %s, want %s", c.wait, got, c.firstView)
			}
			e.ui.memo.bg.Wait()
			if got := regionCount(t, b, "quarantined"); got != "0" {
				t.Errorf("after the refresh: IPv4 quarantined %s, want 0 (the quarantine ended)", got)
			}
		})
	}
}
