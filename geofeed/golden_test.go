package geofeed

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .want golden files of testdata/bad and testdata/good")

// TestCatalogue runs every feed of testdata/bad and testdata/good and
// compares its diagnostics, one "LINE:COL: severity: code: message" per
// line, with NAME.want beside it. A bad feed must have at least one
// diagnostic; a good feed must have no error.
func TestCatalogue(t *testing.T) {
	for _, dir := range []string{"bad", "good"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.csv"))
		if err != nil {
			t.Fatal(err)
		}
		if dir == "bad" && len(files) < 40 {
			t.Errorf("testdata/bad has %d feeds, want at least 40", len(files))
		}
		for _, file := range files {
			name := strings.TrimSuffix(filepath.Base(file), ".csv")
			t.Run(dir+"/"+name, func(t *testing.T) {
				f, err := os.Open(file)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				diags, sum, err := Check(f, Options{})
				if err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				for _, d := range diags {
					if d.Line < 1 || d.Col < 1 || d.Code == "" || d.Message == "" {
						t.Errorf("incomplete diagnostic %+v", d)
					}
					got.WriteString(d.String())
					got.WriteByte('\n')
				}
				switch {
				case dir == "bad" && len(diags) == 0:
					t.Errorf("no diagnostic for a malformed feed")
				case dir == "good" && sum.Errors > 0:
					t.Errorf("errors in a good feed:\n%s", got.String())
				}
				wantFile := filepath.Join("testdata", dir, name+".want")
				if *update {
					if err := os.WriteFile(wantFile, got.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(wantFile)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got.String() != string(want) {
					t.Errorf("diagnostics differ from %s\ngot:\n%s\nwant:\n%s", wantFile, got.String(), want)
				}
			})
		}
	}
}
