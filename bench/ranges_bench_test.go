package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/internal/testenv"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// awsRanges is an AWS ip-ranges.json with n prefixes (a tenth IPv6 /48s
// inside the database's networks, the rest IPv4 of /12 to /24, drawn
// with a fixed seed), spread over a dozen regions, a few GLOBAL.
func awsRanges(tb testing.TB, n int) []byte {
	regions := []string{"us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "eu-west-2", "ap-northeast-1", "ap-southeast-1", "ap-southeast-2", "sa-east-1", "ca-central-1", "GLOBAL"}
	bits := []int{12, 14, 16, 18, 20, 21, 22, 22, 23, 24, 24, 24}
	r := rand.New(rand.NewPCG(3, 3))
	type v4 struct {
		IPPrefix string `json:"ip_prefix"`
		Region   string `json:"region"`
		Service  string `json:"service"`
		Border   string `json:"network_border_group"`
	}
	type v6 struct {
		IPv6Prefix string `json:"ipv6_prefix"`
		Region     string `json:"region"`
		Service    string `json:"service"`
		Border     string `json:"network_border_group"`
	}
	f := struct {
		SyncToken  string `json:"syncToken"`
		CreateDate string `json:"createDate"`
		Prefixes   []v4   `json:"prefixes"`
		IPv6       []v6   `json:"ipv6_prefixes"`
	}{SyncToken: "1", CreateDate: "2026-12-05-00-00-00"}
	n6 := n / 10
	for i, a := range geoIPv4(n - n6) {
		reg := regions[r.IntN(len(regions))]
		p, _ := a.Prefix(bits[i%len(bits)])
		f.Prefixes = append(f.Prefixes, v4{p.String(), reg, "AMAZON", reg})
	}
	for _, a := range geoIPv6(tb, testenv.GeoData(tb, geolite2File), n6) {
		reg := regions[r.IntN(len(regions))]
		p, _ := a.Prefix(48)
		f.IPv6 = append(f.IPv6, v6{p.String(), reg, "AMAZON", reg})
	}
	out, err := json.Marshal(f)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// BenchmarkGeoAuditProvider is `cadastre audit --provider aws` of issue
// 15: a 3,000-prefix provider file (imported once) audited against both
// real databases, the table built from the store each time as the CLI
// does. Target < 2 s (bench/README.md).
func BenchmarkGeoAuditProvider(b *testing.B) {
	ctx := context.Background()
	whois, geolite := testenv.GeoData(b, whoisFile), testenv.GeoData(b, geolite2File)
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "d.db"), sqlite.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	for _, s := range []struct{ name, path string }{{"geolite2", geolite}, {"whois", whois}} {
		if _, err := geo.AddMMDB(ctx, st, s.name, s.path, now); err != nil {
			b.Fatal(err)
		}
	}
	rep, err := geo.ImportRanges(ctx, st, "aws", "generated", "aws", bytes.NewReader(awsRanges(b, 3000)), now)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("imported %d prefixes: %d placed, %d global, %d duplicates", rep.Source.Entries, rep.Placed, rep.Global, rep.Duplicates)
	reg := registry.New(st)
	audit := func(b *testing.B, e *geo.Engine) {
		a, err := geo.AuditProvider(ctx, e.Table(), "aws", nil, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if a.Checked == 0 {
			b.Fatal(fmt.Errorf("nothing audited"))
		}
		b.ReportMetric(float64(len(a.Findings)), "findings")
	}
	// What the CLI does: the table built from the store, then the audit.
	b.Run("load+audit", func(b *testing.B) {
		for b.Loop() {
			e, err := geo.NewEngine(ctx, geo.StoreLoader(reg, st), nil)
			if err != nil {
				b.Fatal(err)
			}
			audit(b, e)
		}
	})
	// The audit alone, on a table already built (a server's).
	b.Run("audit", func(b *testing.B) {
		e, err := geo.NewEngine(ctx, geo.StoreLoader(reg, st), nil)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			audit(b, e)
		}
	})
}
