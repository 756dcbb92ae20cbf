package sqlite

import (
	"database/sql/driver"
	"fmt"
	"net/netip"

	msqlite "modernc.org/sqlite"
)

// An assignment's prefix is not stored (migration 00033): its first
// address and length say it, and the text cost 17 bytes an assignment
// (issue 16, storage). Statements that return it as text call
// cadastre_prefix(first, bits), a deterministic function registered with
// the driver for every connection this process opens. It appears in
// statements only, never in the schema, so other tools (the sqlite3
// shell) read the file as before.
func init() {
	msqlite.MustRegisterDeterministicScalarFunction("cadastre_prefix", 2, prefixFunc)
}

// prefixFunc is cadastre_prefix: the prefix (text, as netip.Prefix
// formats it) of a first address (4 or 16 bytes) and a length; NULL for
// NULL (a window's first row).
func prefixFunc(_ *msqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	if args[0] == nil || args[1] == nil {
		return nil, nil
	}
	first, ok := args[0].([]byte)
	bits, ok2 := args[1].(int64)
	if !ok || !ok2 {
		return nil, fmt.Errorf("cadastre_prefix(%T, %T): want a blob and an integer", args[0], args[1])
	}
	p, err := prefixOf(first, int(bits))
	if err != nil {
		return nil, err
	}
	return p.String(), nil
}

// prefixOf is the prefix of a stored first address and length.
func prefixOf(first []byte, bits int) (netip.Prefix, error) {
	a, ok := netip.AddrFromSlice(first)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("stored address %x: not 4 or 16 bytes", first)
	}
	p := netip.PrefixFrom(a, bits)
	if !p.IsValid() {
		return netip.Prefix{}, fmt.Errorf("stored prefix %s/%d: invalid", a, bits)
	}
	return p, nil
}
