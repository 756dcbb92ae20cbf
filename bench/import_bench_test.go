package bench_test

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/interchange"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// Issue 12's import proofs: a register dump of 1,000,000 assignments
// loads into SQLite in under 60 s, and a NetBox export of 100,000
// prefixes and 1,000,000 addresses is mapped and loaded. The files are
// generated, never committed: -write-dump and -write-netbox write them for
// a timed run of the CLI (bench/README.md, "Import and export").
var (
	writeDump   = flag.String("write-dump", "", "write a register dump of -dump-assignments assignments to this file and stop")
	dumpSize    = flag.Int("dump-assignments", 1_000_000, "assignments of the generated register dump")
	writeNetBox = flag.String("write-netbox", "", "write a NetBox export of 100,000 prefixes and 1,000,000 addresses to this file and stop")
)

// TestWriteImportFiles writes the generated files when asked by flag;
// without a flag it checks the generators on a small scale, so they
// cannot rot.
func TestWriteImportFiles(t *testing.T) {
	if *writeDump != "" {
		writeFile(t, *writeDump, func(w *bufio.Writer) error { return interchange.Write(w, genDump(*dumpSize), interchange.JSON) })
	}
	if *writeNetBox != "" {
		writeFile(t, *writeNetBox, func(w *bufio.Writer) error { return genNetBox(w, 20, 80, 99_900, 1_000_000) })
	}
	d := genDump(1000)
	if len(d.Assignments) != 1000 {
		t.Fatalf("dump of %d assignments", len(d.Assignments))
	}
	path := filepath.Join(t.TempDir(), "nb.json")
	writeFile(t, path, func(w *bufio.Writer) error { return genNetBox(w, 2, 2, 100, 1000) })
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	nd, un, err := interchange.ReadNetBox(data, interchange.ForeignOptions{})
	if err != nil || len(nd.Pools) != 4 || len(nd.Assignments) != 1100 || len(un) != 0 {
		t.Fatalf("NetBox export: %d pools, %d assignments, %d unmapped, %v", len(nd.Pools), len(nd.Assignments), len(un), err)
	}
}

func writeFile(t *testing.T, path string, fill func(*bufio.Writer) error) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := fill(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

var genT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// genDump is a register of one region, one ARIN /8 in one pool and n /32
// assignments of three tenants, each named and created a second apart.
func genDump(n int) registry.Dump {
	d := registry.Dump{Format: registry.DumpFormat, Version: registry.DumpVersion}
	for _, t := range []string{"acme", "globex", "initech"} {
		d.Tenants = append(d.Tenants, registry.TenantRecord{Name: t, Names: []string{t + ".example."}, CreatedAt: genT0})
	}
	d.Regions = []registry.RegionRecord{{Name: "us-east", Location: location.Location{Country: "US", Subdivision: "US-VA"}, Borrow: registry.BorrowPolicy{}, BorrowBits: 24, CreatedAt: genT0}}
	pool := netip.MustParsePrefix("11.0.0.0/8")
	d.Blocks = []registry.BlockRecord{{Prefix: pool, Source: registry.SourceRIR, Registry: "arin", RegisteredCountry: "US", CreatedAt: genT0}}
	d.Pools = []registry.PoolRecord{{Prefix: pool, Region: "us-east", CreatedAt: genT0}}
	d.Assignments = make([]registry.AssignmentRecord, 0, n)
	a := pool.Addr()
	for i := range n {
		t := d.Tenants[i%3].Name
		d.Assignments = append(d.Assignments, registry.AssignmentRecord{Prefix: netip.PrefixFrom(a, 32), Pool: pool, Region: "us-east", State: registry.StateAssigned,
			Tenant: t, Resource: fmt.Sprintf("vm-%d", i), Name: fmt.Sprintf("vm-%d.%s.example", i, t), CreatedAt: genT0.Add(time.Duration(i) * time.Second)})
		a = a.Next()
	}
	return d
}

// genNetBox writes a NetBox export: one ARIN aggregate of each family,
// c4 IPv4 /16 containers and c6 IPv6 /32 containers (sites in turn of
// two regions), leaves active IPv6 /48s inside the IPv6 containers (one
// in a thousand reserved, which is listed), and addrs active IPv4
// addresses with DNS names inside the IPv4 containers.
func genNetBox(w *bufio.Writer, c4, c6, leaves, addrs int) error {
	enc := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	sites := []string{"us-east", "eu-west"}
	w.WriteString(`{"aggregates": {"count": 2, "next": null, "previous": null, "results": [` + "\n")
	w.WriteString(`{"id": 1, "prefix": "11.0.0.0/8", "rir": {"id": 1, "name": "ARIN", "slug": "arin"}, "date_added": "2014-01-02", "description": "", "tags": []},` + "\n")
	w.WriteString(`{"id": 2, "prefix": "2a0a::/16", "rir": {"id": 2, "name": "RIPE NCC", "slug": "ripe-ncc"}, "date_added": "2015-06-01", "description": "", "tags": []}` + "\n")
	w.WriteString("]},\n\"prefixes\": [\n")
	id := 0
	sep := func() {
		if id > 1 {
			w.WriteString(",\n")
		}
	}
	type ref struct {
		Slug string `json:"slug"`
		Name string `json:"name"`
	}
	type choice struct {
		Value string `json:"value"`
		Label string `json:"label"`
	}
	type prefix struct {
		ID     int    `json:"id"`
		Prefix string `json:"prefix"`
		VRF    *ref   `json:"vrf"`
		Status choice `json:"status"`
		Site   *ref   `json:"site"`
		Tenant *ref   `json:"tenant"`
		IsPool bool   `json:"is_pool"`
		Tags   []ref  `json:"tags"`
		Desc   string `json:"description"`
	}
	for i := range c4 {
		id++
		sep()
		s := sites[i%2]
		if err := enc(prefix{ID: id, Prefix: fmt.Sprintf("11.%d.0.0/16", i), Status: choice{"container", "Container"}, Site: &ref{s, s}, Tags: []ref{}}); err != nil {
			return err
		}
	}
	for i := range c6 {
		id++
		sep()
		s := sites[i%2]
		if err := enc(prefix{ID: id, Prefix: fmt.Sprintf("2a0a:%x::/32", i), Status: choice{"container", "Container"}, Site: &ref{s, s}, Tags: []ref{}}); err != nil {
			return err
		}
	}
	for i := range leaves {
		id++
		sep()
		st := choice{"active", "Active"}
		if i%1000 == 999 {
			st = choice{"reserved", "Reserved"}
		}
		p := fmt.Sprintf("2a0a:%x:%x::/48", i%c6, i/c6)
		if err := enc(prefix{ID: id, Prefix: p, Status: st, Tenant: &ref{"acme", "ACME"}, Tags: []ref{}, Desc: fmt.Sprintf("site %d", i)}); err != nil {
			return err
		}
	}
	w.WriteString("\n],\n\"ip-addresses\": [\n")
	type address struct {
		ID      int    `json:"id"`
		Address string `json:"address"`
		VRF     *ref   `json:"vrf"`
		Status  choice `json:"status"`
		Tenant  *ref   `json:"tenant"`
		DNSName string `json:"dns_name"`
		Tags    []ref  `json:"tags"`
	}
	id = 0
	per := addrs / c4
	for i := range addrs {
		id++
		sep()
		c, k := i/per, i%per
		a := fmt.Sprintf("11.%d.%d.%d/16", c, k>>8, k&255)
		if err := enc(address{ID: id, Address: a, Status: choice{"active", "Active"}, Tenant: &ref{"acme", "ACME"}, DNSName: fmt.Sprintf("h%d.acme.example", i), Tags: []ref{}}); err != nil {
			return err
		}
	}
	_, err := w.WriteString("\n]}\n")
	return err
}

// BenchmarkImportDump loads a register dump of -dump-assignments
// assignments (read from JSON) into a fresh SQLite register per
// iteration: the whole import, one transaction.
func BenchmarkImportDump(b *testing.B) {
	var buf bufferWriter
	w := bufio.NewWriter(&buf)
	if err := interchange.Write(w, genDump(*dumpSize), interchange.JSON); err != nil {
		b.Fatal(err)
	}
	w.Flush()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), fmt.Sprintf("i%d.db", i)), sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		d, err := interchange.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := registry.New(st).Load(ctx, d, registry.LoadOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(*dumpSize), "assignments")
}

type bufferWriter []byte

func (w *bufferWriter) Write(p []byte) (int, error) { *w = append(*w, p...); return len(p), nil }
