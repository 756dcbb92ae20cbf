// Command geofeedgen writes the generated feed of the geolocation
// benchmarks (bench.WriteFeed) and, with -addrs, a file of addresses
// inside it, one a line, for `cadastre geo lookup --file`: the inputs of
// the command-line figures in bench/README.md ("Geolocation look-ups").
// Write them outside the repository (or under the git-ignored .cache/).
//
//	go run ./bench/geofeedgen -lines 1000000 -o /tmp/feed.csv -addrs /tmp/addrs.txt -n 100000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"

	"github.com/cadastre-ipam/cadastre/bench"
)

func main() {
	lines := flag.Int("lines", 1_000_000, "lines of the feed")
	out := flag.String("o", "", "the feed file to write")
	addrs := flag.String("addrs", "", "also write this file of addresses inside the feed's IPv4 space")
	n := flag.Int("n", 100_000, "how many addresses -addrs gets")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "geofeedgen: give -o FILE")
		os.Exit(2)
	}
	if err := write(*out, func(f *os.File) error { return bench.WriteFeed(f, *lines) }); err != nil {
		fmt.Fprintln(os.Stderr, "geofeedgen:", err)
		os.Exit(1)
	}
	if *addrs == "" {
		return
	}
	// The feed's IPv4 entries fill 11.0.0.0 upwards, about 0.7 /24 a line.
	span := uint32(*lines) * 7 / 10 * 256
	rng := rand.New(rand.NewPCG(1, 2))
	err := write(*addrs, func(f *os.File) error {
		w := bufio.NewWriter(f)
		for range *n {
			v := uint32(11<<24) + rng.Uint32N(span)
			fmt.Fprintln(w, netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}))
		}
		return w.Flush()
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "geofeedgen:", err)
		os.Exit(1)
	}
}

func write(path string, fn func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
