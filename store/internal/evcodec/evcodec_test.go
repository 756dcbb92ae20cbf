package evcodec

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/internal/jsonfast"
)

// payload is an assignment as the registry writes it into an event.
type payload struct {
	ID              int64             `json:"id"`
	Prefix          netip.Prefix      `json:"prefix"`
	PoolID          int64             `json:"pool_id"`
	Pool            netip.Prefix      `json:"pool"`
	Region          string            `json:"region"`
	Space           string            `json:"space,omitempty"`
	Tenant          string            `json:"tenant"`
	Resource        string            `json:"resource"`
	Name            string            `json:"name"`
	State           string            `json:"state"`
	Borrowed        bool              `json:"borrowed"`
	Tags            map[string]string `json:"tags,omitempty"`
	CreatedAt       time.Time         `json:"created_at"`
	ReleasedAt      *time.Time        `json:"released_at,omitempty"`
	QuarantineUntil *time.Time        `json:"quarantine_until,omitempty"`
}

func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 30, 23, 12, 22, 227947000, time.UTC)
	later := at.Add(time.Hour)
	tests := []struct {
		name  string
		json  string
		s     Subject
		kept  bool // stored as JSON text (Encode declines)
		under int  // the encoding is at most this long
	}{
		{name: "an IPv4 assignment as the registry writes it",
			json: `{"id":184843,"prefix":"1.80.4.22/32","pool_id":1181,"pool":"1.80.0.0/14","region":"india-central","space":"global","tenant":"tenant00003","resource":"vm-0185039","name":"","state":"assigned","borrowed":false,"created_at":"2026-11-30T23:12:22.227947Z"}`,
			s:    Subject{ID: 184843, Text: "1.80.4.22/32"}, under: 70},
		{name: "an IPv6 assignment with a name, released",
			json: mustJSON(t, payload{ID: 7, Prefix: netip.MustParsePrefix("2603:1000:0:12::1a/128"), PoolID: 1300, Pool: netip.MustParsePrefix("2603:1000::/32"), Region: "us-east", Space: "global", Tenant: "t", Resource: "vm-1", Name: "vm-1.us-east.cloud.example", State: "released", CreatedAt: at, ReleasedAt: &later, QuarantineUntil: &later}),
			s:    Subject{ID: 7, Text: "2603:1000:0:12::1a/128"}, under: 100},
		{name: "escapes stay as they were written",
			json: `{"note":"a \"quoted\" \u003cb\u003e and \\ and é","tags":{"env":"prod"}}`, under: 80},
		{name: "numbers that are not canonical integers", json: `[1.5,-0,1e3,-9223372036854775808,9223372036854775807,0,63,64,-1]`, under: 60},
		{name: "a time not in UTC is a string", json: `{"created_at":"2026-11-30T23:12:22+01:00"}`, under: 40},
		{name: "a prefix not in netip's form is a string", json: `["1.2.3.4/024","::ffff:1.2.3.4/128","2001:DB8::/32"]`, under: 60},
		{name: "prefixes without host bits, either family, any length", json: `["2001:db8::1/128","2603:1000::/32","10.0.0.0/8","0.0.0.0/0","::/0","10.1.2.3/32","2001:db8::/64","10.1.2.0/23"]`, under: 60},
		{name: "an object that begins like an assignment and ends otherwise",
			json: `{"id":1,"prefix":"10.0.0.1/32","pool_id":2,"pool":"10.0.0.0/8","region":"r","space":"global","tenant":"","resource":"","name":"","state":"assigned","borrowed":true}`, under: 30},
		{name: "an object with the shape's keys in another order",
			json: `{"prefix":"10.0.0.1/32","id":1,"pool_id":2,"pool":"10.0.0.0/8","region":"r","space":"global","tenant":"","resource":"","name":"","state":"assigned","borrowed":true,"x":1}`, under: 40},
		{name: "nested, empty, null", json: `{"a":{},"b":[],"c":null,"d":[{"x":true}]}`, under: 30},
		{name: "whitespace is not the registry's form", json: `{"id": 1}`, kept: true},
		{name: "invalid JSON", json: `{"id":1`, kept: true},
		{name: "trailing bytes", json: `{"id":1}x`, kept: true},
		{name: "a bare string", json: `"1.2.3.0/24"`, under: 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := Encode([]byte(tc.json), tc.s)
			if tc.kept {
				if enc != nil {
					t.Fatalf("Encode(%s) = %x, want nil (kept as JSON)", tc.json, enc)
				}
				if got, err := Text([]byte(tc.json), tc.s); err != nil || string(got) != tc.json {
					t.Fatalf("Text of JSON text = %q, %v", got, err)
				}
				return
			}
			if enc == nil {
				t.Fatalf("Encode(%s) declined", tc.json)
			}
			if len(enc) > tc.under {
				t.Errorf("encoding of %d bytes is %d bytes, want <= %d", len(tc.json), len(enc), tc.under)
			}
			got, err := Text(enc, tc.s)
			if err != nil || string(got) != tc.json {
				t.Fatalf("Text(Encode(x)) = %s, %v; want %s", got, err, tc.json)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRandomPayloads: every payload json.Marshal writes round-trips, and
// the subject given at decoding is the one given at encoding.
func TestRandomPayloads(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"", "global", "us-east", "a\"b", "<&>", "ü", "vm-0000001.us-east.cloud.example", "2001:db8::/32", "tenant00001"}
	for i := range 2000 {
		var a [16]byte
		for j := range a {
			a[j] = byte(r.IntN(256))
		}
		addr := netip.AddrFrom16(a)
		if r.IntN(2) == 0 {
			addr = netip.AddrFrom4([4]byte(a[:4]))
		}
		p := netip.PrefixFrom(addr, r.IntN(addr.BitLen()+1))
		at := time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC()
		v := payload{ID: r.Int64N(1 << 40), Prefix: p, PoolID: r.Int64N(100), Pool: p.Masked(), Region: words[r.IntN(len(words))],
			Tenant: words[r.IntN(len(words))], Name: words[r.IntN(len(words))], State: "assigned", Borrowed: r.IntN(2) == 0, CreatedAt: at}
		if r.IntN(3) == 0 {
			v.ReleasedAt = &at
			v.Tags = map[string]string{words[r.IntN(len(words))]: words[r.IntN(len(words))]}
		}
		js := []byte(mustJSON(t, v))
		s := Subject{ID: v.ID, Text: p.String()}
		enc := Encode(js, s)
		if enc == nil {
			t.Fatalf("case %d: Encode(%s) declined", i, js)
		}
		got, err := Decode(enc, s)
		if err != nil || !bytes.Equal(got, js) {
			t.Fatalf("case %d: Decode(Encode(%s)) = %s, %v", i, js, got, err)
		}
	}
}

// TestPrefixMemo: Encode remembers the last prefix each direction
// converted (an allocation's pool); what it writes with the memos is
// what the encoder writes without them, and decodes back, for runs of
// events that repeat a pool, change it, or hold the remembered text
// elsewhere (another field, the subject, a prefix of another form).
func TestPrefixMemo(t *testing.T) {
	at := time.Date(2026, 12, 6, 19, 0, 0, 1000, time.UTC)
	pools := []string{"2603:1000::/32", "2603:1000::/32", "10.0.0.0/8", "10.0.0.0/8", "2603:1000::/32", "10.0.0.1/8", "10.0.0.1/8", "::ffff:1.2.3.4/128", "10.0.0.0/8"}
	// The scratches are per P: one P, so every Encode below shares one.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for i, pool := range pools {
		p := netip.MustParsePrefix(pool)
		for _, v := range []payload{
			{ID: int64(i), Prefix: netip.PrefixFrom(p.Addr(), p.Addr().BitLen()), PoolID: 3, Pool: p, Region: "r", State: "assigned", CreatedAt: at},
			{ID: int64(i), Prefix: p, PoolID: 3, Pool: p, Region: "r", Name: pool, State: "assigned", CreatedAt: at},
		} {
			js := []byte(mustJSON(t, v))
			for _, s := range []Subject{{ID: v.ID, Text: v.Prefix.String()}, {ID: 9, Text: pool}, {}} {
				enc := Encode(js, s)
				plain := encoder{in: js, s: s, out: []byte{Version1}}
				if !plain.value() || enc == nil || !bytes.Equal(enc, plain.out) {
					t.Fatalf("event %d, subject %v: Encode(%s) = %x, the encoder without memo %x", i, s, js, enc, plain.out)
				}
				if got, err := Decode(enc, s); err != nil || !bytes.Equal(got, js) {
					t.Fatalf("event %d: Decode(Encode(%s)) = %s, %v", i, js, got, err)
				}
			}
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	s := Subject{ID: 1, Text: "x"}
	good := Encode([]byte(`{"id":1,"name":"a long enough string","pool":"10.0.0.0/8"}`), s)
	for n := 1; n < len(good); n++ {
		if _, err := Decode(good[:n], s); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Decode of the first %d of %d bytes: err %v, want ErrCorrupt", n, len(good), err)
		}
	}
	for _, b := range [][]byte{{Version1, 0xfe}, {Version1, tagDict + 0x6f}, {Version1, tagPrefix4, 33, 1, 2, 3, 4}, append([]byte{Version1}, bytes.Repeat([]byte{tagArray}, 100)...)} {
		if _, err := Decode(b, s); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Decode(%x): err %v, want ErrCorrupt", b, err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	js := []byte(`{"id":184842,"prefix":"1.80.4.21/32","pool_id":1181,"pool":"1.80.0.0/14","region":"india-central","space":"global","tenant":"tenant00027","resource":"vm-0185038","name":"vm-0185038.india-central.cloud.example","state":"assigned","borrowed":false,"created_at":"2026-11-30T22:24:44.454929Z"}`)
	s := Subject{ID: 184842, Text: "1.80.4.21/32"}
	for b.Loop() {
		Encode(js, s)
	}
}

func BenchmarkDecode(b *testing.B) {
	js := []byte(`{"id":184842,"prefix":"1.80.4.21/32","pool_id":1181,"pool":"1.80.0.0/14","region":"india-central","space":"global","tenant":"tenant00027","resource":"vm-0185038","name":"vm-0185038.india-central.cloud.example","state":"assigned","borrowed":false,"created_at":"2026-11-30T22:24:44.454929Z"}`)
	s := Subject{ID: 184842, Text: "1.80.4.21/32"}
	enc := Encode(js, s)
	for b.Loop() {
		Decode(enc, s)
	}
}

// TestDictLookup holds dictLookup to what a map of the dictionary finds:
// every entry at its index, and strings that are none (other lengths,
// same length and first byte, longer than any) not found.
func TestDictLookup(t *testing.T) {
	m := make(map[string]byte, len(dict1))
	for i, s := range dict1 {
		m[s] = byte(i)
	}
	tries := []string{"x", "i", "ids", "pool_ids", "regio", "registered_countryx", "registered_country!", "RIPE  NCC", "vm-0185038", "1.80.0.0/14", "2026-11-30T22:24:44.454929Z"}
	for _, s := range dict1 {
		tries = append(tries, s, s+"x", "x"+s)
		if len(s) > 1 {
			tries = append(tries, s[:len(s)-1]+"!")
		}
	}
	for _, s := range tries {
		want, wantOK := m[s]
		got, ok := dictLookup([]byte(s))
		if ok != wantOK || got != want {
			t.Errorf("dictLookup(%q) = %d, %v; the dictionary: %d, %v", s, got, ok, want, wantOK)
		}
	}
}

// TestParseUTC: where parseAppended reads a time that formats back to
// its text (what str requires), time.Parse reads the same instant; and
// every time AppendTime writes in UTC is read back.
func TestParseUTC(t *testing.T) {
	texts := []string{"2026-12-06T19:00:00Z", "2026-12-06T19:00:00.000001Z", "2026-12-06T19:00:00.123456789Z",
		"0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
		"2026-12-06T24:00:00Z", "2026-12-06T19:00:60Z", "2026-12-06T19:00:00.Z", "2026-12-06T19:00:00.1234567890Z",
		"2026-12-06T19:00:00.10Z", "2026-12-06T19:00:00+01:00", "2026-12-06 19:00:00Z", "2026-12-0aT19:00:00Z", "-026-12-06T19:00:00Z"}
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		at := time.Unix(r.Int64N(250e9)-62e9, r.Int64N(1e9)).UTC()
		if r.IntN(2) == 0 {
			at = at.Truncate(time.Microsecond)
		}
		texts = append(texts, string(jsonfast.AppendTime(nil, at)))
	}
	for _, text := range texts {
		got, ok := parseAppended([]byte(text))
		if !ok || string(jsonfast.AppendTime(nil, got.UTC())) != text {
			if _, err := time.Parse(time.RFC3339Nano, text); err == nil && len(text) <= 30 && text[len(text)-1] == 'Z' {
				// Parse reads it: AppendTime's form must be read too.
				if p, _ := time.Parse(time.RFC3339Nano, text); string(jsonfast.AppendTime(nil, p)) == text {
					t.Errorf("%s: not read (%v, %v)", text, got, ok)
				}
			}
			continue
		}
		want, err := time.Parse(time.RFC3339Nano, text)
		if err != nil || !want.Equal(got) {
			t.Errorf("%s: %v, time.Parse %v (%v)", text, got, want, err)
		}
	}
}
