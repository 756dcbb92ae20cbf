package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest/migrated"
)

// namesCLI is a register for the name-ownership tests of issue 10: on
// SQLite (pg nil) or in a fresh PostgreSQL database. state is everything
// a refused write must leave as it was: every table, on either store
// (dump, pgDump).
type namesCLI struct {
	t  *testing.T
	db string
	pg []string
}

func newNamesCLI(t *testing.T, postgres bool) *namesCLI {
	c := &namesCLI{t: t, db: filepath.Join(t.TempDir(), "names.db")}
	if postgres {
		c.pg = []string{"--postgres", migrated.Database(t)}
	}
	return c
}

func (c *namesCLI) run(args ...string) result {
	c.t.Helper()
	return cli(c.t, c.db, append(slices.Clone(c.pg), args...)...)
}

func (c *namesCLI) must(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("want success:\n%s", r)
	}
	return r.stdout
}

func (c *namesCLI) state() string {
	c.t.Helper()
	if c.pg == nil {
		return dump(c.t, c.db)
	}
	return pgDump(c.t, c.pg[1])
}

// refused runs args and wants exit 4 (conflict) with stderr saying each
// of says, and the register's state unchanged.
func (c *namesCLI) refused(args []string, says ...string) {
	c.t.Helper()
	before := c.state()
	r := c.run(args...)
	if r.code != exitConflict {
		c.t.Errorf("%v: want exit %d:\n%s", args, exitConflict, r)
	}
	for _, s := range says {
		if !strings.Contains(r.stderr, s) {
			c.t.Errorf("%v: stderr does not say %q:\n%s", args, s, r)
		}
	}
	if after := c.state(); after != before {
		c.t.Errorf("%v: a refused command changed the register: %s", args, firstDifference(before, after))
	}
}

// firstDifference names the first line where two states differ.
func firstDifference(before, after string) string {
	a, b := strings.Split(before, "\n"), strings.Split(after, "\n")
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			line := func(l []string) string {
				if i < len(l) {
					return l[i]
				}
				return "(none)"
			}
			return fmt.Sprintf("line %d was %q, is %q", i+1, line(a), line(b))
		}
	}
	return "no line differs"
}

// tenantVM gives the register a region, a pool, tenant acme and its live
// assignment vm1.acme.example.net, and the zone example.net.
func (c *namesCLI) tenantVM() {
	c.must("region", "add", "east", "--country", "US", "--subdivision", "US-VA")
	c.must("block", "add", "10.9.0.0/16", "--source", "private")
	c.must("pool", "add", "10.9.0.0/24", "--region", "east")
	c.must("tenant", "add", "acme", "--names", "acme.example.net")
	c.must("zone", "add", "example.net", "--ns", "ns1.provider.example")
	c.must("alloc", "--region", "east", "--family", "4", "--tenant", "acme", "--name", "vm1.acme.example.net")
}

// TestZoneFileImportRefusesALiveName{SQLite,PostgreSQL}: `zone import`
// is an admin's write of many records; a record of the file at the name
// of a tenant's live assignment is refused as `record add` refuses it
// (exit 4, the holder's kind, the file's line), and nothing of the file is
// written: the import is one transaction. Before, the file's A record was
// stored and the VM's name answered with two addresses.
func TestZoneFileImportRefusesALiveNameSQLite(t *testing.T)     { zoneFileImportLiveName(t, false) }
func TestZoneFileImportRefusesALiveNamePostgreSQL(t *testing.T) { zoneFileImportLiveName(t, true) }

func zoneFileImportLiveName(t *testing.T, postgres bool) {
	c := newNamesCLI(t, postgres)
	c.tenantVM()
	file := filepath.Join(t.TempDir(), "in.zone")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`$TTL 600
www IN A 192.0.2.10
; a comment
txt IN TXT ( "one"
             "two" )
vm1.acme IN A 192.0.2.66
mail IN A 192.0.2.25
`)
	c.refused([]string{"zone", "import", "example.net", file}, "in.zone: line 6", "vm1.acme.example.net", "assignment of another tenant")
	// An NS delegation's target is a name server: at the VM's name, too.
	write("www IN A 192.0.2.10\nsub IN NS vm1.acme.example.net.\n")
	c.refused([]string{"zone", "import", "example.net", file}, "in.zone: line 2", "assignment of another tenant")
	// The same file without them imports.
	write("www IN A 192.0.2.10\nmail IN A 192.0.2.25\n")
	if out := c.must("zone", "import", "example.net", file); !strings.HasPrefix(out, "2 added") {
		t.Fatalf("import: %q", out)
	}
}

// TestZoneUpdateRefusesALiveNameAsNS{SQLite,PostgreSQL}: `zone update
// --ns` may not make a tenant's live name a name server of a zone (nor
// its glue), as `zone add` may not: exit 4, nothing written, no glue left
// behind. Before, the update was stored.
func TestZoneUpdateRefusesALiveNameAsNSSQLite(t *testing.T)     { zoneUpdateLiveName(t, false) }
func TestZoneUpdateRefusesALiveNameAsNSPostgreSQL(t *testing.T) { zoneUpdateLiveName(t, true) }

func zoneUpdateLiveName(t *testing.T, postgres bool) {
	c := newNamesCLI(t, postgres)
	c.tenantVM()
	c.must("zone", "add", "other.example", "--ns", "ns1.provider.example")
	c.refused([]string{"zone", "update", "other.example", "--ns", "vm1.acme.example.net"}, "assignment of another tenant")
	c.refused([]string{"zone", "update", "other.example", "--ns", "ns1.provider.example", "--ns", "VM1.acme.example.net."}, "assignment of another tenant")
	c.refused([]string{"zone", "update", "example.net", "--ns", "ns1.provider.example", "--ns", "vm1.acme.example.net", "--ns-addr", "vm1.acme.example.net=192.0.2.9"},
		"assignment of another tenant")
	// Other changes, and other name servers, are taken.
	c.must("zone", "update", "example.net", "--ttl", "300")
	c.must("zone", "update", "example.net", "--ns", "ns1.provider.example", "--ns", "ns1.example.net", "--ns-addr", "ns1.example.net=192.0.2.53")
}

// TestReverseZoneRefusesALiveName{SQLite,PostgreSQL}: a reverse zone's
// name servers (and apex) are checked against tenants' live names as a
// forward zone's are, on add and on update. Before, a reverse zone named
// a tenant's VM as its name server.
func TestReverseZoneRefusesALiveNameSQLite(t *testing.T)     { reverseZoneLiveName(t, false) }
func TestReverseZoneRefusesALiveNamePostgreSQL(t *testing.T) { reverseZoneLiveName(t, true) }

func reverseZoneLiveName(t *testing.T, postgres bool) {
	c := newNamesCLI(t, postgres)
	c.tenantVM()
	c.refused([]string{"zone", "add", "--kind", "reverse", "--prefix", "10.9.0.0/24", "--ns", "vm1.acme.example.net", "-"}, "assignment of another tenant")
	c.refused([]string{"zone", "add", "--kind", "reverse", "--prefix", "10.9.0.0/23", "--ns", "vm1.acme.example.net", "-"}, "assignment of another tenant")
	// An admin may give an assignment a name under in-addr.arpa; a zone
	// at that name is then refused, as a forward apex is.
	c.must("alloc", "--region", "east", "--family", "4", "--tenant", "acme", "--name", "1.9.10.in-addr.arpa")
	c.refused([]string{"zone", "add", "--kind", "reverse", "--prefix", "10.9.1.0/24", "--ns", "ns1.provider.example", "-"}, "assignment of another tenant")
	c.must("zone", "add", "--kind", "reverse", "--prefix", "10.9.0.0/24", "--ns", "ns1.provider.example", "-")
	c.refused([]string{"zone", "update", "0.9.10.in-addr.arpa.", "--ns", "vm1.acme.example.net"}, "assignment of another tenant")
}

// TestImportRefusesNamesHeldByZones{SQLite,PostgreSQL}: `cadastre import`
// into a register that holds zones and static records but no assignments
// checks each live name against them: an assignment named at a zone's
// apex, a name server or a static record is refused (exit 4, naming the
// line and the holder's kind), and nothing is written. Before, such names
// were checked only when the register held assignments already.
func TestImportRefusesNamesHeldByZonesSQLite(t *testing.T)     { importNamesHeldByZones(t, false) }
func TestImportRefusesNamesHeldByZonesPostgreSQL(t *testing.T) { importNamesHeldByZones(t, true) }

// exportedTenantVM is the file of the import tests: one tenant's named
// assignment (vm1.acme.example.net), exported from a SQLite register into
// dir, and its text.
func exportedTenantVM(t *testing.T) (dir, exported string, text []byte) {
	t.Helper()
	src := newNamesCLI(t, false)
	src.tenantVM()
	dir = t.TempDir()
	exported = filepath.Join(dir, "src.json")
	src.must("export", "-o", exported)
	text, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), `"vm1.acme.example.net"`) {
		t.Fatalf("the export lacks the name:\n%s", text)
	}
	return dir, exported, text
}

func importNamesHeldByZones(t *testing.T, postgres bool) {
	dir, exported, text := exportedTenantVM(t)
	c := newNamesCLI(t, postgres)
	c.must("zone", "add", "example.net", "--ns", "ns1.provider.example")
	c.must("record", "add", "example.net", "www", "A", "192.0.2.10")
	for _, k := range []struct{ name, holder string }{
		{"example.net", "zone apex"},
		{"ns1.provider.example", "name server"},
		{"www.example.net", "static record"},
	} {
		f := filepath.Join(dir, k.name+".json")
		// The tenant may use every name (no suffixes), as an upgraded one.
		s := strings.ReplaceAll(string(text), `"vm1.acme.example.net"`, `"`+k.name+`"`)
		s = strings.ReplaceAll(s, `"names":["acme.example.net."],`, "")
		if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		c.refused([]string{"import", f}, "line ", k.name, k.holder)
	}
	// The file as it was imports.
	c.must("import", exported)
}

// TestImportRefusesNamesBelowADelegation{SQLite,PostgreSQL}: `cadastre
// import` into a register without assignments refuses an assignment named
// at or below a delegation (an NS record below its zone's apex) exactly
// as an allocation of the name is refused (exit 4, naming the line and
// "below a delegation"), nothing written; a name a zone of the register
// below the delegation answers is loaded. Before, only the names a zone
// or a record holds were looked up: vm1.acme.example.net below the NS
// records of acme.example.net was loaded, and never served (audit12).
func TestImportRefusesNamesBelowADelegationSQLite(t *testing.T) { importNamesBelowDelegation(t, false) }
func TestImportRefusesNamesBelowADelegationPostgreSQL(t *testing.T) {
	importNamesBelowDelegation(t, true)
}

func importNamesBelowDelegation(t *testing.T, postgres bool) {
	dir, exported, text := exportedTenantVM(t)
	c := newNamesCLI(t, postgres)
	c.must("zone", "add", "example.net", "--ns", "ns1.provider.example")
	c.must("zone", "add", "kid.example.net", "--ns", "ns1.provider.example")
	c.must("record", "add", "example.net", "acme", "NS", "ns1.elsewhere.example.")
	c.must("record", "add", "example.net", "kid", "NS", "ns1.provider.example.")
	file := func(name string) string {
		f := filepath.Join(dir, name+".json")
		// The tenant may use every name (no suffixes), as an upgraded one.
		s := strings.ReplaceAll(string(text), `"vm1.acme.example.net"`, `"`+name+`"`)
		s = strings.ReplaceAll(s, `"names":["acme.example.net."],`, "")
		if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	c.refused([]string{"import", exported}, "line ", "vm1.acme.example.net", "below a delegation")
	c.refused([]string{"import", file("a.b.acme.example.net")}, "line ", "a.b.acme.example.net", "below a delegation")
	c.refused([]string{"import", file("acme.example.net")}, "line ", "acme.example.net", "a delegation")
	// kid.example.net is delegated to a zone of the register, which
	// answers its names.
	c.must("import", file("vm1.kid.example.net"))
}

// TestRecordAddRefusesALiveAddressesPTR{SQLite,PostgreSQL}: `record add`
// and `zone import` of a static record at the reverse name of a tenant's
// live address (a PTR at 1.0.9.10.in-addr.arpa. while 10.9.0.1 is acme's
// VM) are refused (exit 4, the holder's kind), nothing written; the
// operator's other addresses take one. Before, the PTR was stored and the
// reverse zone answered for acme's address with it.
func TestRecordAddRefusesALiveAddressesPTRSQLite(t *testing.T)     { recordAddLivePTR(t, false) }
func TestRecordAddRefusesALiveAddressesPTRPostgreSQL(t *testing.T) { recordAddLivePTR(t, true) }

func recordAddLivePTR(t *testing.T, postgres bool) {
	c := newNamesCLI(t, postgres)
	c.tenantVM()
	if out := c.must("show", "10.9.0.1/32"); !strings.Contains(out, "vm1.acme.example.net") {
		t.Fatalf("the VM is not at 10.9.0.1:\n%s", out)
	}
	c.must("zone", "add", "--kind", "reverse", "--prefix", "10.9.0.0/24", "--ns", "ns1.provider.example", "-")
	c.refused([]string{"record", "add", "0.9.10.in-addr.arpa.", "1", "PTR", "evil.example."}, "assignment of another tenant")
	c.refused([]string{"record", "add", "0.9.10.in-addr.arpa.", "1.0.9.10.in-addr.arpa.", "TXT", `"x"`}, "assignment of another tenant")
	file := filepath.Join(t.TempDir(), "rev.zone")
	if err := os.WriteFile(file, []byte("9 IN PTR free.example.\n1 IN PTR evil.example.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.refused([]string{"zone", "import", "0.9.10.in-addr.arpa.", file}, "rev.zone: line 2", "assignment of another tenant")
	c.must("record", "add", "0.9.10.in-addr.arpa.", "9", "PTR", "free.example.")
}

// The PostgreSQL state the name-ownership tests compare (pgDump) sees a
// write: were it blind, every refusal above would pass whatever the
// refused command wrote.
func TestNamesStateSeesAWritePostgreSQL(t *testing.T) {
	c := newNamesCLI(t, true)
	before := c.state()
	c.must("zone", "add", "example.net", "--ns", "ns1.provider.example")
	if after := c.state(); after == before {
		t.Fatalf("a zone added, the state is the same:\n%s", after)
	}
}
