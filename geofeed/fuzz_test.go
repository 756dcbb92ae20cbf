package geofeed

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzReader: whatever the input, the reader does not panic, every
// diagnostic has a line and column, and every entry it returns is a valid,
// masked prefix on an existing line.
func FuzzReader(f *testing.F) {
	f.Add([]byte("8.8.8.0/24,US,US-CA,Mountain View,\n"))
	f.Add([]byte("8.8.8.0/24,US,US-CA,Mount\x00ain View,\n\x00"))
	f.Add([]byte("\xef\xbb\xbf2001:4860::/32,us,us-ca,\"a\"\"b\",9\r\n\xff\xfe"))
	f.Add(append([]byte("8.8.8.0/24,US,"), bytes.Repeat([]byte("x"), 5000)...))
	f.Add([]byte("# RPKI Signature: 8.8.8.0/24\n# QUJD\n# End Signature: 8.8.8.0/24\nx"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), Options{MaxLineLength: 256})
		lines := bytes.Count(data, []byte{'\n'}) + 1
		check := func(ds []Diagnostic) {
			for _, d := range ds {
				if d.Line < 1 || d.Col < 1 || d.Line > lines || d.Code == "" || d.Message == "" {
					t.Fatalf("bad diagnostic %+v", d)
				}
				if d.Severity != Error && d.Severity != Warning {
					t.Fatalf("bad severity %+v", d)
				}
			}
		}
		for r.Next() {
			e := r.Entry()
			if !e.Prefix.IsValid() || e.Prefix.Masked() != e.Prefix || e.Line < 1 || e.Line > lines {
				t.Fatalf("bad entry %+v", e)
			}
			check(r.Diagnostics())
		}
		check(r.Diagnostics())
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
	})
}

// FuzzParsePrefix keeps the allocation-free parser in step with
// netip.ParsePrefix: same verdict, same prefix (zones aside, which the
// fast parser sends to the slow path).
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{
		"8.8.8.0/24", "2001:db8::/32", "::/0", "::ffff:1.2.3.4/128", "1:2:3:4:5:6:1.2.3.4/128",
		"1::2:3:4:5:6:7/64", "1:2:3:4:5:6:7::/64", "fe80::1%eth0/64", "1.2.3.4/01", "1.2.3.4/-1",
		"01.2.3.4/8", "::1.2.3.4/1", "1:2:3:4:5:6:7:8:9/1", "12345::/8", ":1::/8", "1::2::3/8",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := netip.ParsePrefix(s)
		got, ok := parsePrefix([]byte(s))
		switch {
		case ok && err != nil:
			t.Fatalf("parsePrefix(%q) = %v, netip says %v", s, got, err)
		case ok && got != want:
			t.Fatalf("parsePrefix(%q) = %v, netip says %v", s, got, want)
		case !ok && err == nil && want.Addr().Zone() == "":
			t.Fatalf("parsePrefix(%q) failed, netip says %v", s, want)
		}
	})
}
