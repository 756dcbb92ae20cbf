package web

import (
	"fmt"
	"math"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// chartView is the region chart's geometry, computed here so that the
// template only places shapes: inline SVG, no script.
type chartView struct {
	Width, Height int
	Baseline      float64
	Bars          []chartBar
	Labels        []chartLabel
	Projection    *chartLine
	FreeLabel     string
	Summary       string // the chart in words, for screen readers
	Days          []dayRow
	PastX2        float64 // right edge of the 90-day panel
	ProjX1        float64 // left edge of the projection panel
}

type chartBar struct {
	X, W         float64
	YAlloc, HAll float64
	YRel, HRel   float64
	Title        string
}

type chartLabel struct {
	X, Y   float64
	Text   string
	Anchor string
}

type chartLine struct{ X1, Y1, X2, Y2 float64 }

// dayRow is one day of the chart as a table row.
type dayRow struct {
	Day                 time.Time
	Allocated, Released int64
}

// Chart layout, in SVG units.
const (
	chartW      = 900
	chartH      = 300
	padL        = 44
	pastRight   = 620
	projLeft    = 650
	projRight   = 880
	chartTop    = 24
	chartBase   = 150 // allocations rise above, releases fall below
	chartDepth  = 110
	projHorizon = 365 // days the projection panel spans at most
)

// buildChart lays out 90 days of allocations (up) and releases (down),
// both families, and the IPv4 runway projection: free IPv4 addresses
// falling at the current rate from today to the day they run out.
func buildChart(days []registry.DayActivity, v4 *registry.ReportRow, now time.Time) chartView {
	today := now.UTC().Truncate(24 * time.Hour)
	first := today.Add(-(chartDays - 1) * 24 * time.Hour)
	rows := make([]dayRow, chartDays)
	for i := range rows {
		rows[i].Day = first.Add(time.Duration(i) * 24 * time.Hour)
	}
	var max, totA, totR int64 = 1, 0, 0
	for _, d := range days {
		i := int(d.Day.Sub(first) / (24 * time.Hour))
		if i < 0 || i >= chartDays {
			continue
		}
		rows[i].Allocated += d.Allocated
		rows[i].Released += d.Released
	}
	for _, r := range rows {
		max = maxInt(max, maxInt(r.Allocated, r.Released))
		totA += r.Allocated
		totR += r.Released
	}
	c := chartView{Width: chartW, Height: chartH, Baseline: chartBase, PastX2: pastRight, ProjX1: projLeft, Days: rows}
	step := float64(pastRight-padL) / chartDays
	for i, r := range rows {
		ha := float64(chartDepth) * float64(r.Allocated) / float64(max)
		hr := float64(chartDepth) * float64(r.Released) / float64(max)
		x := padL + float64(i)*step
		c.Bars = append(c.Bars, chartBar{X: round1(x), W: round1(math.Max(step-1, 1)), YAlloc: round1(chartBase - ha), HAll: round1(ha),
			YRel: chartBase, HRel: round1(hr), Title: fmt.Sprintf("%s: %d allocated, %d released", r.Day.Format("2006-01-02"), r.Allocated, r.Released)})
	}
	c.Labels = append(c.Labels,
		chartLabel{X: padL - 4, Y: chartBase - chartDepth + 4, Text: fmt.Sprint(max), Anchor: "end"},
		chartLabel{X: padL - 4, Y: chartBase + 4, Text: "0", Anchor: "end"},
		chartLabel{X: padL - 4, Y: chartBase + chartDepth, Text: fmt.Sprint(max), Anchor: "end"},
		chartLabel{X: padL, Y: chartH - 8, Text: first.Format("2006-01-02"), Anchor: "start"},
		chartLabel{X: pastRight, Y: chartH - 8, Text: "today", Anchor: "end"},
		chartLabel{X: padL + 4, Y: chartTop - 8, Text: "allocations per day (up), releases (down)", Anchor: "start"},
		chartLabel{X: projLeft, Y: chartTop - 8, Text: "IPv4 free, projected", Anchor: "start"},
	)
	c.Summary = fmt.Sprintf("%d days from %s: %d assignments made, %d released; busiest day %d.", chartDays, first.Format("2006-01-02"), totA, totR, max)
	if v4 != nil && !v4.Size.IsZero() {
		c.FreeLabel = fmtCount(v4.Free)
		top := float64(chartTop)
		bottom := float64(chartBase + chartDepth)
		if v4.RunwayDays != nil {
			span := math.Min(*v4.RunwayDays, projHorizon)
			x2 := projLeft + (projRight-projLeft)*span/projHorizon
			y2 := bottom
			if *v4.RunwayDays > projHorizon { // not out within the panel: the line stops part way down
				y2 = top + (bottom-top)*projHorizon / *v4.RunwayDays
			}
			c.Projection = &chartLine{X1: projLeft, Y1: top, X2: round1(x2), Y2: round1(y2)}
			out := now.Add(time.Duration(*v4.RunwayDays * float64(24*time.Hour)))
			c.Labels = append(c.Labels, chartLabel{X: projRight, Y: chartH - 8, Text: "+" + fmt.Sprint(projHorizon) + " days", Anchor: "end"},
				chartLabel{X: round1(math.Min(x2, projRight-4)), Y: round1(math.Min(y2, bottom) - 6), Text: "runs out " + out.Format("2006-01-02"), Anchor: "end"})
			c.Summary += fmt.Sprintf(" IPv4: %s addresses free, %.1f a day: runs out in %.0f days, on %s.", c.FreeLabel, v4.RatePerDay, *v4.RunwayDays, out.Format("2006-01-02"))
		} else {
			c.Projection = &chartLine{X1: projLeft, Y1: top, X2: projRight, Y2: top}
			c.Summary += fmt.Sprintf(" IPv4: %s addresses free, none allocated lately: no run-out date.", c.FreeLabel)
		}
		c.Labels = append(c.Labels, chartLabel{X: projLeft + 4, Y: top + 14, Text: c.FreeLabel + " free", Anchor: "start"})
	}
	return c
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
