package interchange

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

func small() registry.Dump {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	rel := t0.Add(time.Hour)
	max4 := int64(64)
	yes, no := true, false
	return registry.Dump{Format: registry.DumpFormat, Version: registry.DumpVersion,
		Tenants: []registry.TenantRecord{{Name: "acme", Names: []string{"acme.example."}, MaxIPv4: &max4, Note: "ACME, \"Corp\"", MayDelegate: true, CreatedAt: t0}},
		Regions: []registry.RegionRecord{{Name: "east", Location: location.Location{Country: "US", Subdivision: "US-VA", City: "Ashburn"}, BorrowBits: 24, Tags: registry.Tags{"env": "prod"}, CreatedAt: t0},
			{Name: "west", Location: location.Location{Country: "US"}, Borrow: registry.BorrowPolicy{From: []string{"east"}}, BorrowBits: 26, CreatedAt: t0}},
		Spaces: []registry.SpaceRecord{{Name: "vpc-a", Note: "first VPC", CreatedAt: t0}},
		Blocks: []registry.BlockRecord{{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Source: registry.SourcePrivate, Space: "vpc-a", Tags: registry.Tags{"team": "net ops", "x:y/z": "a=b&c"}, CreatedAt: t0},
			{Prefix: netip.MustParsePrefix("40.64.0.0/22"), Source: registry.SourceTransfer, Registry: "arin", From: "Nortel, Inc", Price: &registry.Money{Cents: 750000050, Currency: "USD"}, Date: "2011-03-23", Space: "global", CreatedAt: t0}},
		Pools: []registry.PoolRecord{{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Region: "east", Space: "vpc-a", UseAll: &no, CreatedAt: t0},
			{Prefix: netip.MustParsePrefix("40.64.0.0/24"), Region: "east", Purpose: "vms", Space: "global", UseAll: &yes, Tags: registry.Tags{"nat": ""}, CreatedAt: t0}},
		Relocations: []registry.RelocationRecord{{Prefix: netip.MustParsePrefix("40.64.0.192/26"), FromPool: netip.MustParsePrefix("40.64.0.0/24"), FromRegion: "east", ToRegion: "west", Reason: "ran dry", CreatedAt: t0}},
		ChildPools: []registry.ChildPoolRecord{{Name: "site1", Prefix: netip.MustParsePrefix("40.64.0.32/27"), Parent: netip.MustParsePrefix("40.64.0.0/24"), Region: "east",
			Tenant: "acme", Purpose: "site, \"one\"", Tags: registry.Tags{"site": "fra 1"}, CreatedAt: t0}},
		Reservations: []registry.ReservationRecord{{Prefix: netip.MustParsePrefix("10.1.0.0/28"), Reason: "gateways", CreatedAt: t0},
			{Prefix: netip.MustParsePrefix("40.64.0.16/28"), Reason: "not yet, \"maybe\"", Until: &rel, CreatedAt: t0}},
		Assignments: []registry.AssignmentRecord{
			{Prefix: netip.MustParsePrefix("40.64.0.1/32"), Pool: netip.MustParsePrefix("40.64.0.0/24"), Region: "east", State: registry.StateAssigned, Tenant: "acme", Resource: "vm 1", Name: "www.acme.example", Tags: registry.Tags{"env": "prod", "role": "web"}, CreatedAt: t0},
			{Prefix: netip.MustParsePrefix("40.64.0.2/32"), Pool: netip.MustParsePrefix("40.64.0.0/24"), Region: "east", State: registry.StateQuarantined, CreatedAt: t0, ReleasedAt: &rel, QuarantineUntil: &rel},
			{Prefix: netip.MustParsePrefix("40.64.0.40/29"), Pool: netip.MustParsePrefix("40.64.0.32/27"), Region: "east", ChildPool: "site1", State: registry.StateAssigned, Tenant: "acme", CreatedAt: t0},
		},
	}
}

// Writing, reading and writing again gives the same bytes and records, in
// both formats.
func TestRoundTrip(t *testing.T) {
	for _, f := range []Format{JSON, CSV} {
		t.Run(string(f), func(t *testing.T) {
			var b1, b2 bytes.Buffer
			if err := Write(&b1, small(), f); err != nil {
				t.Fatal(err)
			}
			d, err := Read(b1.Bytes())
			if err != nil {
				t.Fatalf("read: %v\n%s", err, b1.String())
			}
			if err := Write(&b2, d, f); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
				t.Fatalf("second write differs:\n%s\n---\n%s", b1.String(), b2.String())
			}
			want := small()
			for i := range d.Assignments {
				if d.Assignments[i].At == "" {
					t.Errorf("assignment %d: no position", i)
				}
				d.Assignments[i].At = ""
			}
			for i := range d.Blocks {
				d.Blocks[i].At = ""
			}
			for i := range d.Pools {
				d.Pools[i].At = ""
			}
			for i := range d.Reservations {
				d.Reservations[i].At = ""
			}
			for i := range d.Spaces {
				d.Spaces[i].At = ""
			}
			for i := range d.ChildPools {
				d.ChildPools[i].At = ""
			}
			for i := range d.Tenants {
				d.Tenants[i].At = ""
			}
			if !reflect.DeepEqual(d.Tenants, want.Tenants) {
				t.Errorf("tenants read back %+v, want %+v", d.Tenants, want.Tenants)
			}
			if !reflect.DeepEqual(d.ChildPools, want.ChildPools) {
				t.Errorf("child pools read back %+v, want %+v", d.ChildPools, want.ChildPools)
			}
			if !reflect.DeepEqual(d.Assignments, want.Assignments) {
				t.Errorf("assignments read back %+v, want %+v", d.Assignments, want.Assignments)
			}
			if !reflect.DeepEqual(d.Blocks, want.Blocks) || !reflect.DeepEqual(d.Pools, want.Pools) ||
				!reflect.DeepEqual(d.Reservations, want.Reservations) || !reflect.DeepEqual(d.Spaces, want.Spaces) {
				t.Errorf("read back:\n%+v\n%+v\n%+v\n%+v\nwant:\n%+v\n%+v\n%+v\n%+v", d.Spaces, d.Blocks, d.Pools, d.Reservations,
					want.Spaces, want.Blocks, want.Pools, want.Reservations)
			}
		})
	}
}

// Bad files are refused with the line (and JSON path) of the fault.
func TestReadErrorsNameTheLine(t *testing.T) {
	var js, cs bytes.Buffer
	Write(&js, small(), JSON)
	Write(&cs, small(), CSV)
	for _, c := range []struct{ name, in, says string }{
		{"JSON syntax", strings.Replace(js.String(), `"vms",`, `"vms"`, 1), "line 20 ($.pools[1])"},
		{"JSON wrong type", strings.Replace(js.String(), `"borrow_unit":26`, `"borrow_unit":true`, 1), "line 9 ($.regions[1]): region: field borrow_unit: bool where int is wanted"},
		{"JSON unknown field", strings.Replace(js.String(), `"purpose":"vms"`, `"purpose":"vms","colour":"red"`, 1), `line 20 ($.pools[1]): pool: json: unknown field "colour"`},
		{"JSON key twice", strings.Replace(js.String(), `"version": 4,`, `"version": 4, "version": 4,`, 1), "key given twice"},
		{"JSON tags not an object", strings.Replace(js.String(), `"tags":{"nat":""}`, `"tags":["nat"]`, 1), "line 20 ($.pools[1]): pool: field tags: array where registry.Tags is wanted"},
		{"JSON use_all not a bool", strings.Replace(js.String(), `"use_all":false`, `"use_all":"no"`, 1), "line 19 ($.pools[0]): pool: field use_all: string where bool is wanted"},
		{"JSON record key twice", strings.Replace(js.String(), `"purpose":"vms"`, `"purpose":"vms","purpose":"db"`, 1), `line 20 ($.pools[1]): pool: duplicate key "purpose" in the object`},
		{"JSON record key in two cases", strings.Replace(js.String(), `"purpose":"vms"`, `"purpose":"vms","Purpose":"db"`, 1), `line 20 ($.pools[1]): pool: duplicate key "Purpose" in the object: "purpose" already names it`},
		{"JSON nested key twice", strings.Replace(js.String(), `"tags":{"nat":""}`, `"tags":{"nat":"","nat":"x"}`, 1), `line 20 ($.pools[1]): pool: duplicate key "nat" in the object at /tags`},
		{"JSON child pools twice", strings.Replace(js.String(), `"tenants": [`, `"child_pools": [], "tenants": [`, 1), "key given twice"},
		{"JSON unknown kind", strings.Replace(js.String(), `"tenants": [`, `"sub_pools": [], "tenants": [`, 1), `unknown key "sub_pools"`},
		{"JSON child pool parent not a prefix", strings.Replace(js.String(), `"parent":"40.64.0.0/24"`, `"parent":"site"`, 1), "child_pool"},
		{"CSV bad prefix", strings.Replace(cs.String(), "pool,40.64.0.0/24", "pool,40.64.0.0/33", 1), "line 14: pool: column prefix"},
		{"CSV record before its header", strings.Replace(cs.String(), "#pool,", "#poolx,", 1), "line 12"},
		{"CSV unknown column", strings.Replace(cs.String(), "#pool,prefix,region", "#pool,prefix,colour", 1), `pool has no column "colour"`},
		{"CSV too many fields", strings.Replace(cs.String(), "pool,40.64.0.0/24,east,vms,", "pool,40.64.0.0/24,east,vms,x,", 1), "line 14"},
		{"CSV bad use_all", strings.Replace(cs.String(), "vpc-a,false", "vpc-a,no", 1), "line 13: pool: column use_all: \"no\": write true or false"},
		{"CSV tag twice", strings.Replace(cs.String(), "env=prod&role=web", "env=prod&env=test", 1), "line 23: assignment: column tags: tag env: given twice"},
		{"CSV bad tag encoding", strings.Replace(cs.String(), "env=prod&role=web", "env=%zz", 1), "line 23: assignment: column tags"},
		{"CSV later version", strings.Replace(cs.String(), "cadastre-register,4", "cadastre-register,5", 1), "line 1: version 5"},
		{"CSV child pool bad prefix", strings.Replace(cs.String(), "child_pool,site1,40.64.0.32/27", "child_pool,site1,40.64.0.32/99", 1), "child_pool: column prefix"},
		{"not a dump", "hello,1\n", `line 1: format "hello"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read([]byte(c.in))
			if err == nil || !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %v, want ErrInvalid saying %q", err, c.says)
			}
		})
	}
}

// NetBox: aggregates become blocks with their RIR and date, containers
// and is_pool prefixes pools (region: site or region scope), leaves and
// addresses assignments of the pool holding them; the rest is listed.
func TestNetBoxMapping(t *testing.T) {
	data, err := os.ReadFile("testdata/netbox_small.json")
	if err != nil {
		t.Fatal(err)
	}
	d, un, err := ReadNetBox(data, ForeignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := "spaces:"
	for _, s := range d.Spaces {
		got += " " + s.Name + ";"
	}
	got += "\nblocks:"
	for _, b := range d.Blocks {
		got += fmt.Sprintf(" %s %s %s %s space=%s tags=%s;", b.Prefix, b.Source, b.Registry, b.Date, b.Space, b.Tags)
	}
	got += "\npools:"
	for _, p := range d.Pools {
		got += fmt.Sprintf(" %s %s space=%s tags=%s;", p.Prefix, p.Region, p.Space, p.Tags)
	}
	got += "\nreservations:"
	for _, v := range d.Reservations {
		got += fmt.Sprintf(" %s %q;", v.Prefix, v.Reason)
	}
	got += "\nassignments:"
	for _, a := range d.Assignments {
		got += fmt.Sprintf(" %s in %s tenant=%s name=%s resource=%s tags=%s;", a.Prefix, a.Pool, a.Tenant, a.Name, a.Resource, a.Tags)
	}
	got += "\nunmapped:\n"
	for _, u := range un {
		got += u.String() + "\n"
	}
	want := `spaces: blue;
blocks: 40.64.0.0/16 rir arin 2014-03-01 space= tags=-; 10.0.0.0/8 private   space= tags=lab=; 10.0.0.0/8 private   space=blue tags=lab=;
pools: 40.64.0.0/20 us-east space= tags=-; 40.64.16.0/20 eu-west space= tags=gold=; 10.1.0.0/16 us-east space=blue tags=-;
reservations: 40.64.3.0/24 "future racks"; 10.1.0.5/32 "reserved in NetBox";
assignments: 40.64.1.0/24 in 40.64.0.0/20 tenant=acme name= resource=web tags=-; 40.64.2.1/32 in 40.64.0.0/20 tenant=acme name=gw.acme.example resource= tags=-; 40.64.16.6/32 in 40.64.16.0/20 tenant= name= resource= tags=-; 10.1.0.6/32 in 10.1.0.0/16 tenant= name=db.blue.example resource= tags=gold=;
unmapped:
line 4 ($.aggregates.results[1]) id 2: aggregate 10.0.0.0/8: tag "bad!": tag key "bad!": only lower-case letters, digits and . _ - : /, starting with a letter or digit: invalid input
line 5 ($.aggregates.results[2]) id 3: aggregate 100.64.0.0/10: RIR "Carrier" is none of AFRINIC, APNIC, ARIN, LACNIC, RIPE NCC, nor private
line 17 ($.ip-addresses[1]) id 101: address 40.64.16.5: status "dhcp": only active addresses are mapped
line 18 ($.ip-addresses[2]) id 102: address 40.64.16.6: DNS name "Bad_Name": name "bad_name": label "bad_name": only lower-case letters, digits and hyphens; imported without a name
$.sites: sites: NetBox objects of this kind are not mapped
line 10 ($.prefixes[2]) id 12: pool 40.64.2.0/24: nested in pool 40.64.0.0/20: child pools are not supported by this version; what it holds goes to 40.64.0.0/20
line 19 ($.ip-addresses[3]) id 103: address 192.0.2.1: outside every pool of the file
`
	if got != want {
		t.Errorf("mapping:\n%s\nwant:\n%s", got, want)
	}
	// An active prefix outside every pool is ambiguous unless a flag says.
	amb := []byte(`{"prefixes": [{"id": 5, "prefix": "40.64.9.0/24", "status": {"value": "active"}}]}`)
	if _, _, err := ReadNetBox(amb, ForeignOptions{}); !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "--top-level") || !strings.Contains(err.Error(), "id 5") {
		t.Errorf("ambiguous top-level prefix: %v", err)
	}
	if d, _, err := ReadNetBox(amb, ForeignOptions{TopLevel: "pool", Region: "east"}); err != nil || len(d.Pools) != 1 || d.Pools[0].Region != "east" {
		t.Errorf("--top-level pool --region east: %+v %v", d.Pools, err)
	}
	// A status of the wrong type names its line and field.
	bad := []byte("{\"prefixes\": [\n{\"id\": 5, \"prefix\": \"40.64.9.0/24\", \"status\": 3}]}")
	if _, _, err := ReadNetBox(bad, ForeignOptions{}); !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "line 2 ($.prefixes[0])") {
		t.Errorf("status of the wrong type: %v", err)
	}
}

func TestPHPIPAMMapping(t *testing.T) {
	data, err := os.ReadFile("testdata/phpipam_small.csv")
	if err != nil {
		t.Fatal(err)
	}
	d, un, err := ReadPHPIPAM(data, ForeignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Pools) != 1 || d.Pools[0].Prefix.String() != "40.64.0.0/24" || d.Pools[0].Region != "customers" || d.Pools[0].At != "line 2" {
		t.Errorf("pools %+v", d.Pools)
	}
	if len(d.Assignments) != 1 || d.Assignments[0].Prefix.String() != "40.64.0.10/32" || d.Assignments[0].Name != "www.acme.example" || d.Assignments[0].Tenant != "acme" {
		t.Errorf("assignments %+v", d.Assignments)
	}
	if len(d.Reservations) != 1 || d.Reservations[0].Prefix.String() != "40.64.0.1/32" || d.Reservations[0].Reason != "gateway: gateway" || d.Reservations[0].At != "line 4" {
		t.Errorf("the gateway is a reservation: %+v", d.Reservations)
	}
	var got []string
	for _, u := range un {
		got = append(got, u.String())
	}
	want := []string{`line 1: column "MAC": not mapped`,
		`line 5: address 40.64.0.50: state "DHCP": only used, reserved and gateway addresses are mapped`,
		"line 6: 10.9.0.0/16: in VRF blue: spaces (VRFs) are not supported by this version"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unmapped:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, _, err := ReadPHPIPAM([]byte(`{"prefixes": []}`), ForeignOptions{}); !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "JSON") {
		t.Errorf("JSON given to --from phpipam: %v", err)
	}
}

// A version 1 file (written before spaces, reservations, tags and the
// address policy) still reads: its pools have no use_all (Load takes it
// as true, the behaviour of pools made before the policy), its blocks no
// space (Load gives them AddBlock's).
func TestReadVersion1(t *testing.T) {
	v1 := `{
  "format": "cadastre-register",
  "version": 1,
  "tenants": [],
  "regions": [
    {"name":"east","location":{"country":"US"},"borrow_from":"none","borrow_unit":24,"created_at":"2026-01-02T03:04:05Z"}
  ],
  "blocks": [
    {"prefix":"40.64.0.0/22","source":"rir","registry":"arin","created_at":"2026-01-02T03:04:05Z"}
  ],
  "pools": [
    {"prefix":"40.64.0.0/24","region":"east","created_at":"2026-01-02T03:04:05Z"}
  ],
  "relocations": [],
  "assignments": []
}
`
	d, err := Read([]byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != 1 || len(d.Pools) != 1 || d.Pools[0].UseAll != nil || d.Blocks[0].Space != "" {
		t.Fatalf("read %+v", d)
	}
	csv1 := "cadastre-register,1\n#pool,prefix,region,purpose,created_at\n"
	if d, err := Read([]byte(csv1)); err != nil || d.Version != 1 {
		t.Fatalf("CSV version 1: %v", err)
	}
}
