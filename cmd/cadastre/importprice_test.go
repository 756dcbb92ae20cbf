package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportRefusesABadPrice{SQLite,PostgreSQL}: a block's price in a file
// for `import` follows the rules `block add --price --currency` and the
// API apply (an active ISO 4217 code, an amount not below zero): a
// currency carrying a control character, one that is no ISO code, or a
// negative amount is refused (exit 2, naming the file's place and the
// rule) and nothing is imported. Before, all three were stored as given.
func TestImportRefusesABadPriceSQLite(t *testing.T)     { importBadPrice(t, false) }
func TestImportRefusesABadPricePostgreSQL(t *testing.T) { importBadPrice(t, true) }

func importBadPrice(t *testing.T, postgres bool) {
	c := newNamesCLI(t, postgres)
	c.must("region", "add", "east", "--country", "US")
	for _, tc := range []struct {
		name, price, says string
	}{
		{"a control character in the currency", `{"cents":10000,"currency":"US\u001b[31m"}`, "currency"},
		{"a currency that is no ISO 4217 code", `{"cents":10000,"currency":"XYZ"}`, "ISO 4217"},
		{"a negative amount", `{"cents":-100,"currency":"USD"}`, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "in.json")
			body := `{"format":"cadastre-register","version":4,"blocks":[` +
				`{"prefix":"47.64.0.0/16","source":"transfer","registry":"arin","from":"Nortel","price":` + tc.price + `,"date":"2020-01-01"}]}`
			if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			before := c.must("block", "list", "--json")
			r := c.run("import", file)
			if r.code != exitUsage || !strings.Contains(r.stderr, "$.blocks[0]") || !strings.Contains(r.stderr, tc.says) {
				t.Errorf("want exit %d naming $.blocks[0] and %q:\n%s", exitUsage, tc.says, r)
			}
			if after := c.must("block", "list", "--json"); after != before {
				t.Errorf("a refused import changed the blocks:\n%s", after)
			}
		})
	}
	// The rule is the CLI's too: a good price still loads.
	file := filepath.Join(t.TempDir(), "ok.json")
	if err := os.WriteFile(file, []byte(`{"format":"cadastre-register","version":4,"blocks":[{"prefix":"47.64.0.0/16","source":"transfer","registry":"arin","price":{"cents":750000000,"currency":"USD"}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c.must("import", file)
	if out := c.must("block", "list"); !strings.Contains(out, "7500000.00 USD") {
		t.Errorf("the good price was not loaded:\n%s", out)
	}
}
