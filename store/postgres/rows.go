package postgres

import "github.com/cadastre-ipam/cadastre/store/internal/rowscan"

// The storage conventions and row scanners shared with the other SQL store.
var (
	micros         = rowscan.Micros
	fromMicros     = rowscan.FromMicros
	optMicros      = rowscan.OptMicros
	addrBytes      = rowscan.AddrBytes
	span           = rowscan.Span
	parsePrefix    = rowscan.ParsePrefix
	scanRegion     = rowscan.Region
	scanBlock      = rowscan.Block
	scanPool       = rowscan.Pool
	scanAssignment = rowscan.Assignment
	scanToken      = rowscan.Token
)
