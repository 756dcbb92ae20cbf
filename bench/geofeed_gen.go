// Package bench holds the benchmarks of bench/README.md and the generators
// they share with the command-line measurements (bench/geofeedgen).
package bench

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"

	"github.com/cadastre-ipam/cadastre/location"
)

// FeedLocations are real places with current ISO 3166-2 codes, as large
// hosting providers publish them; the zero Location is a "do not
// geolocate" line.
var FeedLocations = []location.Location{
	{Country: "US", Subdivision: "US-VA", City: "Ashburn"},
	{Country: "US", Subdivision: "US-CA", City: "San Jose"},
	{Country: "US", Subdivision: "US-OR", City: "Boardman"},
	{Country: "US", Subdivision: "US-TX", City: "Dallas"},
	{Country: "US", Subdivision: "US-IL", City: "Chicago"},
	{Country: "US", Subdivision: "US-NY", City: "New York"},
	{Country: "DE", Subdivision: "DE-HE", City: "Frankfurt am Main"},
	{Country: "GB", Subdivision: "GB-LND", City: "London"},
	{Country: "NL", Subdivision: "NL-NH", City: "Amsterdam"},
	{Country: "FR", Subdivision: "FR-75C", City: "Paris"},
	{Country: "IE", Subdivision: "IE-D", City: "Dublin"},
	{Country: "SG", Subdivision: "SG-01", City: "Singapore"},
	{Country: "JP", Subdivision: "JP-13", City: "Tokyo"},
	{Country: "AU", Subdivision: "AU-NSW", City: "Sydney"},
	{Country: "BR", Subdivision: "BR-SP", City: "São Paulo"},
	{Country: "IN", Subdivision: "IN-MH", City: "Mumbai"},
	{Country: "IN", Subdivision: "IN-TS", City: "Hyderabad"},
	{Country: "CA", Subdivision: "CA-QC", City: "Montréal"},
	{Country: "ZA", Subdivision: "ZA-GP", City: "Johannesburg"},
	{Country: "SE", Subdivision: "SE-AB", City: "Stockholm"},
	{Country: "KR", Subdivision: "KR-11", City: "Seoul"},
	{Country: "CH", Subdivision: "CH-ZH", City: "Zürich"},
	{Country: "PL", Subdivision: "PL-14", City: "Warszawa"},
	{Country: "HK"},
	{Country: "US"},
	{}, // do not geolocate
}

// feedPostal is a postal code of each of FeedLocations' places ("" none):
// large feeds still carry them though RFC 8805 deprecates them.
var feedPostal = []string{"20147", "95110", "97818", "75201", "60601", "10001", "60313", "EC1A 1BB", "1012 AB", "75001",
	"D02 X285", "018956", "100-0001", "2000", "01310-100", "400001", "500081", "H2X 1Y4", "2196", "111 20", "04524", "8001", "00-001"}

// WriteFeed writes an RFC 8805 feed of lines lines (the first a comment)
// like a large provider's: blocks of 700 IPv4 /24 (with some /22 and /20)
// from 11.0.0.0 and 300 IPv6 /48 (with some /64) from 2a00::, families
// interleaved as real feeds list them per data centre, so a checker must
// sort; every tenth IPv4 line with its place's postal code (a warning:
// deprecated); a comment every 100,000 lines. No line has an error: the same
// bytes for the same lines, on every run.
func WriteFeed(out io.Writer, lines int) error {
	for _, l := range FeedLocations {
		if !l.IsZero() {
			if err := l.Validate(); err != nil {
				return err
			}
		}
	}
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "# generated benchmark feed, %d lines\n", lines)
	v4 := uint32(11 << 24) // 11.0.0.0: no special-purpose space for 16M /24s
	var v6 uint64 = 0x2a00_0000_0000 << 16
	n := 1
	for n < lines {
		for i := 0; i < 700 && n < lines; i, n = i+1, n+1 {
			bits := 24
			switch {
			case n%97 == 0 && v4%(1<<12) == 0:
				bits = 20
			case n%13 == 0 && v4%(1<<10) == 0:
				bits = 22
			}
			a := netip.AddrFrom4([4]byte{byte(v4 >> 24), byte(v4 >> 16), byte(v4 >> 8), byte(v4)})
			li := (n / 50) % len(FeedLocations)
			l, postal := FeedLocations[li], ""
			if n%10 == 0 && li < len(feedPostal) {
				postal = feedPostal[li]
			}
			fmt.Fprintf(w, "%v/%d,%s,%s,%s,%s\n", a, bits, l.Country, l.Subdivision, l.City, postal)
			v4 += 1 << (32 - bits)
		}
		for i := 0; i < 300 && n < lines; i, n = i+1, n+1 {
			var a [16]byte
			for k := range 8 {
				a[k] = byte(v6 >> (56 - 8*k))
			}
			bits := 48
			if n%61 == 0 {
				bits = 64
			}
			l := FeedLocations[(n/30)%len(FeedLocations)]
			fmt.Fprintf(w, "%v/%d,%s,%s,%s,\n", netip.AddrFrom16(a), bits, l.Country, l.Subdivision, l.City)
			v6 += 1 << 16 // next /48
		}
		if n%100_000 < 1000 && n < lines {
			fmt.Fprintf(w, "# data centre block ending at line %d\n", n)
			n++
		}
	}
	return w.Flush()
}
