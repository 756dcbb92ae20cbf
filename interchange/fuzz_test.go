package interchange

import (
	"bytes"
	"os"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// seeds adds the files of testdata and the small dump in both formats.
func seeds(f *testing.F) {
	for _, name := range []string{"testdata/netbox_small.json", "testdata/phpipam_small.csv", "testdata/dump_v1.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, fm := range []Format{JSON, CSV} {
		var b bytes.Buffer
		if err := Write(&b, small(), fm); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
}

// FuzzRead: no input makes the dump reader panic, and what it reads
// writes and reads back to the same bytes (the round trip of the format).
func FuzzRead(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Read(data)
		if err != nil {
			return
		}
		for _, fm := range []Format{JSON, CSV} {
			var b1, b2 bytes.Buffer
			if err := Write(&b1, d, fm); err != nil {
				return // a value the format cannot hold (a zero prefix) is not written
			}
			d2, err := Read(b1.Bytes())
			if err != nil {
				t.Fatalf("%s written from a read dump does not read back: %v\n%s", fm, err, b1.String())
			}
			if err := Write(&b2, d2, fm); err != nil || !bytes.Equal(b1.Bytes(), b2.Bytes()) {
				t.Fatalf("%s round trip differs (%v):\n%s\n---\n%s", fm, err, b1.String(), b2.String())
			}
		}
	})
}

// FuzzForeign: no input makes the NetBox or phpIPAM reader panic, and
// every record they map says where it was read.
func FuzzForeign(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, read := range []func([]byte, ForeignOptions) (registry.Dump, []Unmapped, error){ReadNetBox, ReadPHPIPAM} {
			d, _, err := read(data, ForeignOptions{Region: "east", TopLevel: "pool"})
			if err != nil {
				continue
			}
			for _, p := range d.Pools {
				if p.At == "" {
					t.Fatalf("pool %s without a position", p.Prefix)
				}
			}
			for _, a := range d.Assignments {
				if a.At == "" || !a.Pool.Contains(a.Prefix.Addr()) {
					t.Fatalf("assignment %+v: no position, or outside its pool", a)
				}
			}
		}
	})
}
