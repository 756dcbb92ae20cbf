package server

import (
	"encoding/hex"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server cookies are RFC 9018's, byte for byte: the examples of its
// appendix A (so that cadastre and BIND, Knot or another server sharing
// the secret accept each other's cookies).
func TestServerCookieRFC9018Examples(t *testing.T) {
	secret := [cookieSecretLen]byte(mustHex(t, "e5e973e5a6b2a43f48e7dc849e37bfcf"))
	tests := []struct {
		name   string
		client string
		addr   string
		ts     uint32
		want   string
	}{
		{"A.1 a new server cookie (IPv4)", "2464c4abcf10c957", "198.51.100.100", 1559731985, "010000005cf79f111f8130c3eee29480"},
		{"A.2 the same client, renewed", "2464c4abcf10c957", "198.51.100.100", 1559734385, "010000005cf7a871d4a564a1442aca77"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := serverCookie(secret, mustHex(t, tc.client), tc.ts, netip.MustParseAddr(tc.addr))
			if hex.EncodeToString(got[:]) != tc.want {
				t.Fatalf("got %x, want %s", got, tc.want)
			}
		})
	}
}

// A cookie is valid from five minutes ahead to an hour old, renewed when
// more than half an hour old, and verified with every secret of the file
// while only the first makes new ones (rotation).
func TestCookieTimesAndRotation(t *testing.T) {
	old := [cookieSecretLen]byte{1}
	cur := [cookieSecretLen]byte{2}
	j := &cookieJar{secrets: [][cookieSecretLen]byte{cur, old}}
	a := netip.MustParseAddr("192.0.2.1")
	client := mustHex(t, "0102030405060708")
	now := time.Unix(1_700_000_000, 0)
	opt := func(secret [cookieSecretLen]byte, at time.Time) *dns.OPT {
		sc := serverCookie(secret, client, uint32(at.Unix()), a)
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(client) + hex.EncodeToString(sc[:])})
		return o
	}
	tests := []struct {
		name    string
		secret  [cookieSecretLen]byte
		age     time.Duration
		want    cookieState
		renewed bool
	}{
		{"fresh", cur, time.Minute, cookieValid, false},
		{"over half an hour: renewed", cur, 40 * time.Minute, cookieValid, true},
		{"over an hour: bad", cur, 61 * time.Minute, cookieBad, true},
		{"from the future within five minutes", cur, -4 * time.Minute, cookieValid, false},
		{"further in the future: bad", cur, -6 * time.Minute, cookieBad, true},
		{"the previous secret: valid, renewed with the current", old, time.Minute, cookieValid, true},
		{"a secret not in the file: bad", [cookieSecretLen]byte{3}, time.Minute, cookieBad, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := opt(tc.secret, now.Add(-tc.age))
			st, out := j.check(in, a, now)
			if st != tc.want {
				t.Fatalf("state %s, want %s", cookieStateNames[st], cookieStateNames[tc.want])
			}
			sent := in.Option[0].(*dns.EDNS0_COOKIE).Cookie
			if renewed := out.Cookie != sent; renewed != tc.renewed {
				t.Fatalf("renewed %v, want %v", renewed, tc.renewed)
			}
			want := serverCookie(cur, client, uint32(now.Unix()), a)
			if tc.renewed && out.Cookie != hex.EncodeToString(client)+hex.EncodeToString(want[:]) {
				t.Fatalf("renewed cookie %s is not the current secret's at now", out.Cookie)
			}
		})
	}
}

func TestCookieSecretFile(t *testing.T) {
	tests := []struct {
		name, text string
		n          int
		err        bool
	}{
		{"current and previous", "# rotated 2026-12-05\n00112233445566778899aabbccddeeff\n\nffeeddccbbaa99887766554433221100\n", 2, false},
		{"too short", "0011\n", 0, true},
		{"not hex", "zz112233445566778899aabbccddeeff\n", 0, true},
		{"empty", "# nothing\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := parseCookieSecrets("secrets", []byte(tc.text))
			if (err != nil) != tc.err || len(ks) != tc.n {
				t.Fatalf("%d secrets, err %v", len(ks), err)
			}
		})
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
