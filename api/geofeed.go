package api

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cadastre-ipam/cadastre/geo"
)

// feedCache keeps the last published feed: it is made again only when the
// event log has moved, so a crawler polling every minute costs one read.
type feedCache struct {
	mu   sync.Mutex
	feed geo.Published
}

// geofeed serves the register's RFC 8805 feed. Its ETag and Last-Modified
// come from the event-log position it reflects (registry.Position, commit
// ordered, so the ETag changes when any change commits, in whatever order);
// the ETag is weak because a feed may already show changes just past its
// position, which the next ETag covers. Last-Modified is the latest event
// time up to the position: it never goes back, but an event committed late
// with an earlier time does not move it, so If-None-Match is the exact
// validator and If-Modified-Since the one-second, best-effort one.
func (s *Server) geofeed(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pos, err := s.reg.Position(ctx)
	if err != nil {
		s.log.Error("geofeed: read event log", "err", err.Error())
		http.Error(w, "store unavailable\n", http.StatusServiceUnavailable)
		return
	}
	s.feed.mu.Lock()
	feed := s.feed.feed
	if feed.CSV == nil || feed.Position.Seq != pos.Seq {
		f, err := geo.PublishFeed(ctx, s.reg)
		if err != nil {
			s.feed.mu.Unlock()
			s.log.Error("geofeed: publish", "err", err.Error())
			http.Error(w, "cannot publish the feed\n", http.StatusInternalServerError)
			return
		}
		s.feed.feed, feed = f, f
	}
	s.feed.mu.Unlock()

	etag := `W/"` + strconv.FormatInt(feed.Position.Seq, 10) + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "public, max-age=300")
	if !feed.Position.At.IsZero() {
		h.Set("Last-Modified", feed.Position.At.UTC().Format(http.TimeFormat))
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			if t = strings.TrimSpace(t); t == etag || t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
	} else if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !feed.Position.At.IsZero() &&
		!feed.Position.At.Truncate(time.Second).After(ims) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(feed.CSV)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(feed.CSV)
}
