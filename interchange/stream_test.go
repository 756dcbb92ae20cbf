package interchange

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// readChunks reads file with a Reader of chunk assignments a call, and
// returns its head and the assignments of its chunks.
func readChunks(t *testing.T, file []byte, chunk int) (registry.Dump, []registry.AssignmentRecord, error) {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(file), chunk)
	if err != nil {
		return registry.Dump{}, nil, err
	}
	defer rd.Close()
	var as []registry.AssignmentRecord
	for {
		recs, err := rd.Next()
		if err == io.EOF {
			return rd.Head(), as, nil
		}
		if err != nil {
			return rd.Head(), as, err
		}
		if len(recs) > chunk {
			t.Fatalf("a chunk of %d, want at most %d", len(recs), chunk)
		}
		as = append(as, recs...)
	}
}

// A file in export order is read a chunk at a time: the head holds no
// assignment, and the chunks hold what Read reads, positions included.
func TestReaderChunks(t *testing.T) {
	for _, f := range []Format{JSON, CSV} {
		for _, chunk := range []int{1, 2, 100} {
			var b bytes.Buffer
			if err := Write(&b, small(), f); err != nil {
				t.Fatal(err)
			}
			whole, err := Read(b.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			head, as, err := readChunks(t, b.Bytes(), chunk)
			if err != nil {
				t.Fatalf("%s, chunk %d: %v", f, chunk, err)
			}
			if len(head.Assignments) != 0 {
				t.Errorf("%s, chunk %d: the head holds %d assignments", f, chunk, len(head.Assignments))
			}
			if !reflect.DeepEqual(as, whole.Assignments) {
				t.Errorf("%s, chunk %d: chunks\n%+v\nwant\n%+v", f, chunk, as, whole.Assignments)
			}
			head.Assignments = whole.Assignments
			if !reflect.DeepEqual(head, whole) {
				t.Errorf("%s, chunk %d: head\n%+v\nwant\n%+v", f, chunk, head, whole)
			}
		}
	}
}

// Files out of export order: JSON with the assignments before another
// list is read whole (the head holds them); CSV with another kind's
// record after the assignments is refused at its line once assignments
// were handed out; a byte that is not UTF-8 far into a file is named by
// its line.
func TestReaderOrder(t *testing.T) {
	var js, cs bytes.Buffer
	if err := Write(&js, small(), JSON); err != nil {
		t.Fatal(err)
	}
	if err := Write(&cs, small(), CSV); err != nil {
		t.Fatal(err)
	}
	// Move the assignments' list before the tenants'.
	text := js.String()
	i := strings.Index(text, `  "assignments": [`)
	moved := strings.Replace(text[:i-2]+"\n}\n", `  "tenants": [`, text[i:len(text)-3]+",\n  \"tenants\": [", 1)
	head, as, err := readChunks(t, []byte(moved), 1)
	if err != nil {
		t.Fatalf("assignments first: %v\n%s", err, moved)
	}
	if len(head.Assignments) != 3 || len(as) != 0 {
		t.Fatalf("assignments first: head holds %d, chunks %d; want the file read whole", len(head.Assignments), len(as))
	}

	lines := strings.Split(strings.TrimSuffix(cs.String(), "\n"), "\n")
	after := strings.Join(append(lines, lines[2]), "\n") + "\n" // a tenant record last
	_, _, err = readChunks(t, []byte(after), 1)
	if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "line "+itoa(len(lines)+1)+": a tenant after the assignments") {
		t.Fatalf("a tenant after the assignments: %v", err)
	}

	bad := bytes.Replace(js.Bytes(), []byte("vm 1"), []byte("vm \xff"), 1)
	want := "line " + itoa(bytes.Count(bad[:bytes.IndexByte(bad, 0xff)], []byte("\n"))+1) + ": not UTF-8 text"
	_, _, err = readChunks(t, bad, 1)
	if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), want) {
		t.Fatalf("a byte not UTF-8: %v, want %q", err, want)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
