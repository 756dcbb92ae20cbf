package web

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/geofeed"
	"github.com/cadastre-ipam/cadastre/registry"
)

// The published geofeed and the geofeed checker (issue 13 item 6). The
// feed is public at /geofeed.csv (RFC 8805 feeds are meant to be read by
// anyone), so any signed-in session may see it here, tenants included; the
// checker shows nothing of the register, so it is open to any session too.

// feedView is the data of templates/pages/geofeed.html.
type feedView struct {
	Entries  int
	Position registry.Position
	Lines    []feedLine
}

// checkView is the data of templates/pages/geofeedcheck.html.
type checkView struct {
	Checked bool
	Summary geofeed.Summary
	Lines   []feedLine
	Feed    string               // the text checked, to fill the form again
	Whole   []geofeed.Diagnostic // diagnostics of no line (past the end)
	TooBig  bool
}

// feedLine is one line of a feed with the diagnostics about it.
type feedLine struct {
	N     int
	Text  string
	Diags []geofeed.Diagnostic
	Class string // "error", "warning" or ""
}

func (s *Server) pageGeofeed(w http.ResponseWriter, r *http.Request) error {
	f, err := geo.PublishFeed(r.Context(), s.reg)
	if err != nil {
		return err
	}
	v := feedView{Entries: f.Entries, Position: f.Position, Lines: feedLines(f.CSV, nil)}
	return s.render(w, r, http.StatusOK, "geofeed", v)
}

func (s *Server) pageGeofeedCheck(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "geofeedcheck", checkView{})
}

// maxCheckedFeed bounds the feed the checker reads from the form (the
// whole form is bounded by maxForm); the CLI checks feeds of any size.
const maxCheckedFeed = maxForm - 4<<10

func (s *Server) actionGeofeedCheck(w http.ResponseWriter, r *http.Request) error {
	var feed []byte
	if f, _, err := r.FormFile("file"); err == nil {
		defer f.Close()
		feed, err = io.ReadAll(io.LimitReader(f, maxCheckedFeed+1))
		if err != nil {
			return fmt.Errorf("reading the uploaded feed: %v: %w", err, registry.ErrInvalid)
		}
	}
	if len(feed) == 0 {
		feed = []byte(r.PostFormValue("feed"))
	}
	v := checkView{Checked: true}
	if len(feed) > maxCheckedFeed {
		v.TooBig = true
		return s.render(w, r, http.StatusRequestEntityTooLarge, "geofeedcheck", v)
	}
	diags, sum, err := geofeed.Check(bytes.NewReader(feed), geofeed.Options{})
	if err != nil {
		return fmt.Errorf("checking the feed: %v: %w", err, registry.ErrInvalid)
	}
	v.Summary, v.Feed = sum, string(feed)
	v.Lines = feedLines(feed, diags)
	nLines := len(v.Lines)
	for _, d := range diags {
		if d.Line < 1 || d.Line > nLines {
			v.Whole = append(v.Whole, d)
		}
	}
	return s.render(w, r, http.StatusOK, "geofeedcheck", v)
}

// feedLines splits a feed into its lines and puts each diagnostic beside
// the line it names.
func feedLines(feed []byte, diags []geofeed.Diagnostic) []feedLine {
	var lines []feedLine
	sc := bufio.NewScanner(bytes.NewReader(feed))
	sc.Buffer(make([]byte, 0, 64<<10), len(feed)+1)
	for n := 1; sc.Scan(); n++ {
		lines = append(lines, feedLine{N: n, Text: strings.TrimSuffix(sc.Text(), "\r")})
	}
	for _, d := range diags {
		if d.Line < 1 || d.Line > len(lines) {
			continue
		}
		l := &lines[d.Line-1]
		l.Diags = append(l.Diags, d)
		if d.Severity == geofeed.Error {
			l.Class = "error"
		} else if l.Class == "" {
			l.Class = "warning"
		}
	}
	return lines
}
