package geofeed

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

var (
	ashburn   = location.Location{Country: "US", Subdivision: "US-VA", City: "Ashburn"}
	frankfurt = location.Location{Country: "DE", Subdivision: "DE-HE", City: "Frankfurt am Main"}
	paris     = location.Location{Country: "FR", Subdivision: "FR-75C", City: "Paris"}
	nowhere   = location.Location{}
)

func TestReaderEntries(t *testing.T) {
	feed := "# header\r\n8.8.8.0/24,us,US-VA,Ashburn,20147\r\n2001:4860::/32,,,,\r\n10.0.0.0/8,US,,,\r\n193.51.0.0/24,FR,FR-75C,Paris"
	r := NewReader(strings.NewReader(feed), Options{})
	var got []Entry
	for r.Next() {
		got = append(got, r.Entry())
	}
	want := []Entry{
		{Line: 2, Prefix: mustPrefix("8.8.8.0/24"), Location: ashburn, Postal: "20147"},
		{Line: 3, Prefix: mustPrefix("2001:4860::/32"), Location: nowhere},
		{Line: 5, Prefix: mustPrefix("193.51.0.0/24"), Location: paris},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if s := r.Summary(); s.Lines != 5 || s.Entries != 3 || s.Errors != 1 {
		t.Errorf("summary %+v", s)
	}
}

func TestReadAllDropsLaterDuplicates(t *testing.T) {
	feed := "8.8.8.0/24,US,,,\n8.8.8.0/24,DE,,,\n8.8.9.0/24,US,,,\n"
	entries, diags, err := ReadAll(strings.NewReader(feed), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Line != 1 || entries[1].Line != 3 {
		t.Errorf("entries %+v", entries)
	}
	if len(diags) != 1 || diags[0].Code != CodeDuplicate || diags[0].Line != 2 {
		t.Errorf("diagnostics %v", diags)
	}
}

// endless yields n bytes of b repeated, then a newline and a good line,
// without holding them.
type endless struct {
	n    int
	fill byte
	tail []byte
}

func (e *endless) Read(p []byte) (int, error) {
	if e.n > 0 {
		k := min(len(p), e.n)
		for i := range k {
			p[i] = e.fill
		}
		e.n -= k
		return k, nil
	}
	if len(e.tail) == 0 {
		return 0, io.EOF
	}
	k := copy(p, e.tail)
	e.tail = e.tail[k:]
	return k, nil
}

func TestHostileInputBoundedMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		fill byte
		code string
	}{
		{"a 100 MB line", 'A', CodeLineTooLong},
		{"a 100 MB line of commas", ',', CodeLineTooLong},
		{"100 MB of NUL", 0, CodeLineTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &endless{n: 100 << 20, fill: tc.fill, tail: []byte("\n8.8.8.0/24,US,,,\n")}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			diags, sum, err := Check(src, Options{})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if len(diags) != 1 || diags[0].Code != tc.code || diags[0].Line != 1 || sum.Entries != 1 {
				t.Errorf("diagnostics %v, summary %+v", diags, sum)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
				t.Errorf("allocated %d bytes for a 100 MB line", alloc)
			}
		})
	}
	t.Run("a million columns", func(t *testing.T) {
		line := "8.8.8.0/24,US,,," + strings.Repeat(",", 1_000_000) + "\n"
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		diags, _, err := Check(strings.NewReader(line), Options{MaxLineLength: 2 << 20})
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if len(diags) != 1 || diags[0].Code != CodeExtraFields || !strings.HasPrefix(diags[0].Message, "1000000 fields") {
			t.Errorf("diagnostics %v", diags)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
			t.Errorf("allocated %d bytes for a million columns", alloc)
		}
	})
}

func TestMaybeSpecialAgreesWithPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var probes []netip.Prefix
	for _, s := range prefix.Specials() {
		probes = append(probes, s.Prefix, prefix.Parent(s.Prefix))
		if lo, hi, ok := prefix.Halves(s.Prefix); ok {
			probes = append(probes, lo, hi)
		}
	}
	for range 20000 {
		var a [16]byte
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		if rng.IntN(2) == 0 {
			probes = append(probes, netip.PrefixFrom(netip.AddrFrom4([4]byte(a[:4])), rng.IntN(33)).Masked())
		} else {
			probes = append(probes, netip.PrefixFrom(netip.AddrFrom16(a), rng.IntN(129)).Masked())
		}
	}
	for _, p := range probes {
		if !maybeSpecial(p) && !prefix.GloballyReachable(p) {
			t.Errorf("maybeSpecial(%v) = false, but it is not globally reachable", p)
		}
	}
}

func TestDiagnosticString(t *testing.T) {
	d := Diagnostic{Line: 3, Col: 12, Severity: Warning, Code: CodeLowerCase, Message: "m"}
	if got := d.String(); got != "3:12: warning: lower-case: m" {
		t.Errorf("String() = %q", got)
	}
	b, _ := Error.MarshalText()
	var s Severity
	if err := s.UnmarshalText(b); err != nil || s != Error {
		t.Errorf("round trip of Error: %v %v", s, err)
	}
}

func TestMergeByLocation(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []Entry
		want string
	}{
		{"adjacent prefixes with one location merge",
			[]Entry{{Prefix: mustPrefix("8.8.9.0/24"), Location: ashburn}, {Prefix: mustPrefix("8.8.8.0/24"), Location: ashburn}},
			"8.8.8.0/23 US/US-VA/Ashburn"},
		{"adjacent prefixes with two locations stay apart",
			[]Entry{{Prefix: mustPrefix("8.8.8.0/24"), Location: ashburn}, {Prefix: mustPrefix("8.8.9.0/24"), Location: frankfurt}},
			"8.8.8.0/24 US/US-VA/Ashburn; 8.8.9.0/24 DE/DE-HE/Frankfurt am Main"},
		{"a more specific carves its space out of the less specific",
			[]Entry{{Prefix: mustPrefix("8.8.8.0/22"), Location: ashburn}, {Prefix: mustPrefix("8.8.9.0/24"), Location: frankfurt}},
			"8.8.8.0/24 US/US-VA/Ashburn; 8.8.9.0/24 DE/DE-HE/Frankfurt am Main; 8.8.10.0/23 US/US-VA/Ashburn"},
		{"a redundant more specific disappears",
			[]Entry{{Prefix: mustPrefix("8.8.8.0/22"), Location: ashburn}, {Prefix: mustPrefix("8.8.9.0/24"), Location: ashburn}},
			"8.8.8.0/22 US/US-VA/Ashburn"},
		{"do not geolocate is a location of its own; IPv4 first",
			[]Entry{{Prefix: mustPrefix("2001:4860::/32"), Location: nowhere}, {Prefix: mustPrefix("8.8.8.0/24"), Location: nowhere}},
			"8.8.8.0/24 ; 2001:4860::/32 "},
		{"the same prefix twice with one location is kept once",
			[]Entry{{Prefix: mustPrefix("8.8.8.0/24"), Location: paris}, {Prefix: mustPrefix("8.8.8.0/24"), Location: paris}},
			"8.8.8.0/24 FR/FR-75C/Paris"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := MergeByLocation(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, e := range out {
				parts = append(parts, e.Prefix.String()+" "+e.Location.String())
			}
			if got := strings.Join(parts, "; "); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestWriteRefusesWhatCheckWouldReject(t *testing.T) {
	for _, e := range []Entry{
		{Prefix: mustPrefix("10.0.0.0/8"), Location: ashburn},
		{Prefix: netip.PrefixFrom(netip.MustParseAddr("8.8.8.1"), 24), Location: ashburn},
		{Prefix: mustPrefix("8.8.8.0/24"), Location: location.Location{Country: "MX", Subdivision: "MX-DIF"}},
		{Prefix: mustPrefix("8.8.8.0/24"), Location: location.Location{Country: "US", City: "a,b"}},
		{Prefix: mustPrefix("8.8.8.0/24"), Location: location.Location{City: "Ashburn"}},
		{},
	} {
		if err := Write(io.Discard, []Entry{e}, WriteOptions{}); !errors.Is(err, ErrNotPublishable) {
			t.Errorf("Write(%+v) = %v, want ErrNotPublishable", e, err)
		}
	}
	two := []Entry{{Prefix: mustPrefix("8.8.8.0/24"), Location: ashburn}, {Prefix: mustPrefix("8.8.8.0/24"), Location: paris}}
	if err := Write(io.Discard, two, WriteOptions{}); !errors.Is(err, ErrNotPublishable) {
		t.Errorf("two locations for one prefix: %v", err)
	}
	if err := Write(io.Discard, nil, WriteOptions{Header: []string{"a\nb"}}); err == nil {
		t.Error("header with a newline accepted")
	}
}

func TestWriteFormat(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, []Entry{
		{Prefix: mustPrefix("2001:4860::/32"), Location: frankfurt, Postal: "60311"},
		{Prefix: mustPrefix("8.8.9.0/24"), Location: ashburn},
		{Prefix: mustPrefix("8.8.8.0/24"), Location: ashburn, Postal: "20147"},
		{Prefix: mustPrefix("8.8.10.0/24"), Location: nowhere},
	}, WriteOptions{Header: []string{"generated 2026-11-26T00:00:00Z", "event 42"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "# generated 2026-11-26T00:00:00Z\n# event 42\n" +
		"8.8.8.0/23,US,US-VA,Ashburn,\n8.8.10.0/24,,,,\n2001:4860::/32,DE,DE-HE,Frankfurt am Main,\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// locate is the longest-match location of a, as a feed consumer reads it.
func locate(entries []Entry, a netip.Addr) (location.Location, bool) {
	best, found := -1, false
	var loc location.Location
	for _, e := range entries {
		if e.Prefix.Contains(a) && e.Prefix.Bits() > best {
			best, loc, found = e.Prefix.Bits(), e.Location, true
		}
	}
	return loc, found
}

// TestRoundTrip: what Write writes, Check passes with no error, and
// ReadAll reads back to the same prefix-to-location map; every address
// keeps its location.
func TestRoundTrip(t *testing.T) {
	locs := []location.Location{ashburn, frankfurt, paris, nowhere, {Country: "SG", Subdivision: "SG-01", City: "Singapore"}, {Country: "IN", Subdivision: "IN-TS"}, {Country: "JP", City: "東京"}}
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 50 {
		var in []Entry
		seen := map[netip.Prefix]bool{}
		for range 1 + rng.IntN(60) {
			var p netip.Prefix
			if rng.IntN(3) > 0 {
				// Inside 8.8.0.0/16 so that prefixes nest and touch.
				a := netip.AddrFrom4([4]byte{8, 8, byte(rng.IntN(8)), byte(rng.IntN(256))})
				p = netip.PrefixFrom(a, 18+rng.IntN(15)).Masked()
			} else {
				a := netip.AddrFrom16([16]byte{0x2a, 0x00, 0x14, 0x50, byte(rng.IntN(4)), byte(rng.IntN(256))})
				p = netip.PrefixFrom(a, 30+rng.IntN(20)).Masked()
			}
			if seen[p] {
				continue
			}
			seen[p] = true
			in = append(in, Entry{Prefix: p, Location: locs[rng.IntN(len(locs))]})
		}
		var buf bytes.Buffer
		if err := Write(&buf, in, WriteOptions{Header: []string{"round trip"}}); err != nil {
			t.Fatal(err)
		}
		out, diags, err := ReadAll(bytes.NewReader(buf.Bytes()), Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range diags {
			if d.Severity == Error || d.Code == CodeOverride || d.Code == CodeRedundant {
				t.Fatalf("round %d: %v in\n%s", round, d, buf.String())
			}
		}
		merged, _ := MergeByLocation(in)
		if len(out) != len(merged) {
			t.Fatalf("round %d: read %d entries, wrote %d", round, len(out), len(merged))
		}
		for i := range out {
			if out[i].Prefix != merged[i].Prefix || out[i].Location != merged[i].Location {
				t.Fatalf("round %d: entry %d read %+v, wrote %+v", round, i, out[i], merged[i])
			}
		}
		// Every address keeps its location: probe the edges of each input.
		for _, e := range in {
			for _, a := range []netip.Addr{e.Prefix.Addr(), prefix.Last(e.Prefix), e.Prefix.Addr().Prev(), prefix.Last(e.Prefix).Next()} {
				if !a.IsValid() {
					continue
				}
				wl, wok := locate(in, a)
				gl, gok := locate(out, a)
				if wl != gl || wok != gok {
					t.Fatalf("round %d: %v was %v (%v), reads back %v (%v)", round, a, wl, wok, gl, gok)
				}
			}
		}
	}
}

// RFC 8805 §2.1.1.1 allows "an IP address or an IP prefix": a single
// address is read as its /32 or /128, with no diagnostic.
func TestSingleAddressRowsAreHostPrefixes(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{"an IPv4 address is its /32", "8.8.8.8,US,US-CA,Mountain View,", "8.8.8.8/32"},
		{"an IPv6 address is its /128", "2606:4700:4700::1111,US,US-CA,,", "2606:4700:4700::1111/128"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, diags, err := ReadAll(strings.NewReader(tc.line+"\n"), Options{})
			if err != nil || len(diags) != 0 || len(entries) != 1 || entries[0].Prefix.String() != tc.want {
				t.Fatalf("got %v %v %v, want one entry %s and no diagnostic", entries, diags, err, tc.want)
			}
		})
	}
}

// Withdrawn region codes are one rule: a warning naming the successor
// (CN-11, ZA-GT, ZA-NL and IN-DD were errors, FR-J and IN-OR warnings), an
// error only when ISO named no successor; Norway's 2024 counties pass.
func TestWithdrawnRegionsAreOneRule(t *testing.T) {
	tests := []struct {
		name, line string
		sev        Severity // 0: no diagnostic
		mention    string
	}{
		{"CN-11 warns naming CN-BJ", "8.8.8.0/24,CN,CN-11,,", Warning, "CN-BJ"},
		{"ZA-GT warns naming ZA-GP", "8.8.8.0/24,ZA,ZA-GT,,", Warning, "ZA-GP"},
		{"ZA-NL warns naming ZA-KZN", "8.8.8.0/24,ZA,ZA-NL,,", Warning, "ZA-KZN"},
		{"IN-DD warns naming IN-DH", "8.8.8.0/24,IN,IN-DD,,", Warning, "IN-DH"},
		{"FR-J warns naming FR-IDF", "8.8.8.0/24,FR,FR-J,,", Warning, "FR-IDF"},
		{"IN-OR warns naming IN-OD", "8.8.8.0/24,IN,IN-OR,,", Warning, "IN-OD"},
		{"NO-30 warns naming its three successors", "8.8.8.0/24,NO,NO-30,,", Warning, "NO-31 and NO-32 and NO-33"},
		{"a Nepalese zone with no successor is an error", "8.8.8.0/24,NP,NP-BA,,", Error, "no single successor"},
		{"NO-32 is current", "8.8.8.0/24,NO,NO-32,,", 0, ""},
		{"NO-56 is current", "8.8.8.0/24,NO,NO-56,,", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, diags, err := ReadAll(strings.NewReader(tc.line+"\n"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.sev == 0 {
				if len(diags) != 0 {
					t.Errorf("diagnostics %v, want none", diags)
				}
				return
			}
			if len(diags) != 1 || diags[0].Severity != tc.sev || diags[0].Code != CodeWithdrawnRegion || !strings.Contains(diags[0].Message, tc.mention) {
				t.Errorf("diagnostics %v, want one %v withdrawn-region naming %q", diags, tc.sev, tc.mention)
			}
		})
	}
}
