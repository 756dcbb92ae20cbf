package geo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// corruptMMDBs writes, from a small valid MMDB, the corrupt files real
// downloads give: a data section cut short (the metadata still at the
// end, so the file opens and its first records read), a search tree whose
// node count is off by one, and a record size that is not the one written.
// It returns the valid file and the corrupt ones by name.
func corruptMMDBs(t *testing.T, dir string) (string, map[string]string) {
	t.Helper()
	var nets []netRecord
	for i := range 64 {
		nets = append(nets, netRecord{fmt.Sprintf("%d.0.0.0/8", i+1), flat("US", "", fmt.Sprintf("City %d", i))})
	}
	good := writeMMDB(t, dir, "good.mmdb", nets...)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	marker := bytes.LastIndex(data, []byte("\xab\xcd\xefMaxMind.com"))
	if marker < 0 {
		t.Fatal("no metadata marker")
	}
	meta := func(key string) int {
		i := bytes.Index(data[marker:], append([]byte{0x40 | byte(len(key))}, key...))
		if i < 0 {
			t.Fatalf("metadata has no %s", key)
		}
		return marker + i + 1 + len(key)
	}
	out := map[string]string{}
	write := func(name string, b []byte) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out[name] = p
	}
	// The data section loses its last 40 bytes.
	write("truncated", append(bytes.Clone(data[:marker-40]), data[marker:]...))
	// node_count is a uint32 (control byte 0xc0|length, big-endian).
	b := bytes.Clone(data)
	at := meta("node_count")
	if b[at]&0xe0 != 0xc0 || b[at]&0x1f == 0 {
		t.Fatalf("node_count encoded as %#x", b[at])
	}
	n := int(b[at] & 0x1f)
	b[at+n]++ // one node more than written (the last byte is not 0xff for this file)
	write("wrong-tree-size", b)
	// record_size is a uint16 24 (0xa1 0x18): say 28.
	b = bytes.Clone(data)
	at = meta("record_size")
	if b[at] != 0xa1 || b[at+1] != 24 {
		t.Fatalf("record_size encoded as %#x %#x", b[at], b[at+1])
	}
	b[at+1] = 28
	write("wrong-record-size", b)
	return good, out
}

// An MMDB is verified whole when it is added: a file the first records of
// which read well but whose tree or data are corrupt is refused, naming
// the file, instead of being kept and answering "not placed" afterwards.
func TestAddMMDBVerifiesTheWholeFile(t *testing.T) {
	_, bad := corruptMMDBs(t, t.TempDir())
	for _, name := range []string{"truncated", "wrong-tree-size", "wrong-record-size"} {
		t.Run("a file with a "+name+" is refused", func(t *testing.T) {
			st := &fakeStore{}
			added, err := AddMMDB(context.Background(), st, "s", bad[name], time.Now())
			if err == nil {
				t.Fatalf("AddMMDB accepted a corrupt file: %+v", added)
			}
			if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "source s") || !strings.Contains(err.Error(), name) {
				t.Errorf("error %q: want ErrInvalid naming the source and the file", err)
			}
		})
	}
}

// A reload that finds the file replaced by a corrupt one keeps answering
// from the copy read before, marks the source stale and says why.
func TestReloadOfACorruptMMDBKeepsThePreviousTable(t *testing.T) {
	dir := t.TempDir()
	good, bad := corruptMMDBs(t, dir)
	for _, name := range []string{"truncated", "wrong-tree-size", "wrong-record-size"} {
		t.Run("a reload onto a file with a "+name+" keeps the old table", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db.mmdb")
			copyFile(t, good, path)
			load := func(context.Context) (Inputs, error) {
				return Inputs{MMDBs: []MMDBFile{{Name: "world", Path: path}}}, nil
			}
			e, err := NewEngine(context.Background(), load, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r := e.Lookup(ma("64.1.2.3")); !r.Found || r.Location.Country != "US" {
				t.Fatalf("before: %+v", r)
			}
			copyFile(t, bad[name], path)
			// A different modification time, so the file reads as changed.
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Fatal(err)
			}
			err = e.Reload(context.Background())
			if err == nil || !strings.Contains(err.Error(), "source world") {
				t.Fatalf("Reload error %v, want one naming the source", err)
			}
			if r := e.Lookup(ma("64.1.2.3")); !r.Found || r.Location.Country != "US" || r.Source != "world" {
				t.Errorf("the previous table was dropped: %+v", r)
			}
			st := e.Table().Sources()
			if len(st) != 2 || !st[1].Stale || st[1].Err == "" || st[1].Entries == 0 {
				t.Errorf("sources %+v: want world stale, with why, still answering", st)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
