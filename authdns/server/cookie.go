package server

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dchest/siphash"
	"github.com/miekg/dns"
)

// DNS cookies (RFC 7873) with interoperable server cookies (RFC 9018):
// a server cookie is version 1, three reserved bytes, a timestamp and
// SipHash-2-4 over the client cookie, those eight bytes and the client's
// address, keyed by a secret that every server of a set shares, so that a
// cookie one anycast instance gave is valid at the others.
//
// A request with a valid server cookie comes from the address it claims
// (the cookie went there and came back): it is not response-rate
// limited. What other requests get follows RFC 7873 §5.2:
//   - a malformed COOKIE option: FORMERR (§5.2.2);
//   - a client cookie alone: a normal answer with a new server cookie
//     (§5.2.3), rate limited, and when a limited response slips it is a
//     BADCOOKIE with the cookie rather than TC: the client learns the
//     cookie and is no longer limited;
//   - a server cookie that is not valid (another secret, too old, not
//     ours): over UDP, BADCOOKIE with a new server cookie, so that the
//     client retries with it (§5.2.4); over TCP, whose address is proven,
//     a normal answer with a new cookie.

// cookieSecretLen is the SipHash-2-4 key length.
const cookieSecretLen = 16

// Timestamps of RFC 9018 §4.3: a cookie is valid from 5 minutes in the
// future to an hour in the past, and renewed when more than half an hour
// old.
const (
	cookieFuture = 5 * time.Minute
	cookieMaxAge = time.Hour
	cookieRenew  = 30 * time.Minute
)

// cookieState is what a request's COOKIE option says.
type cookieState uint8

const (
	cookieMissing    cookieState = iota // no COOKIE option (or no OPT)
	cookieClientOnly                    // a client cookie alone
	cookieValid                         // with a server cookie of ours, in date
	cookieBad                           // with a server cookie not ours, or out of date
	cookieMalformed                     // a length RFC 7873 §5.2.2 refuses
	cookieStates
)

var cookieStateNames = [cookieStates]string{"missing", "client_only", "valid", "bad", "malformed"}

// cookieJar holds the secrets: the first makes server cookies, all of
// them verify (RFC 9018 §5: a new secret is first accepted everywhere,
// then used). With a file the secrets are read from it again when it
// changes; without one a random secret is made and replaced every day.
type cookieJar struct {
	file string

	mu      sync.RWMutex
	secrets [][cookieSecretLen]byte
	mod     time.Time // the file's modification time, or when the secret was made
}

// newCookieJar reads the secret file, or makes a random secret.
func newCookieJar(file string, now time.Time) (*cookieJar, error) {
	j := &cookieJar{file: file}
	if file == "" {
		var k [cookieSecretLen]byte
		rand.Read(k[:])
		j.secrets, j.mod = [][cookieSecretLen]byte{k}, now
		return j, nil
	}
	if _, err := j.reload(now); err != nil {
		return nil, err
	}
	return j, nil
}

// reload reads the file again if it changed, or rotates the random
// secret when it is a day old (keeping the old one to verify with); it
// says whether the secrets changed.
func (j *cookieJar) reload(now time.Time) (bool, error) {
	if j.file == "" {
		j.mu.Lock()
		defer j.mu.Unlock()
		if now.Sub(j.mod) < 24*time.Hour {
			return false, nil
		}
		var k [cookieSecretLen]byte
		rand.Read(k[:])
		j.secrets, j.mod = [][cookieSecretLen]byte{k, j.secrets[0]}, now
		return true, nil
	}
	fi, err := os.Stat(j.file)
	if err != nil {
		return false, fmt.Errorf("dns cookie secret file: %w", err)
	}
	j.mu.RLock()
	same := fi.ModTime().Equal(j.mod) && len(j.secrets) > 0
	j.mu.RUnlock()
	if same {
		return false, nil
	}
	b, err := os.ReadFile(j.file)
	if err != nil {
		return false, fmt.Errorf("dns cookie secret file: %w", err)
	}
	ks, err := parseCookieSecrets(j.file, b)
	if err != nil {
		return false, err
	}
	j.mu.Lock()
	j.secrets, j.mod = ks, fi.ModTime()
	j.mu.Unlock()
	return true, nil
}

// parseCookieSecrets reads a secret file: one secret a line, 32 hex
// digits (16 bytes), the current one first, then those still accepted;
// blank lines and lines starting with # are skipped.
func parseCookieSecrets(name string, b []byte) ([][cookieSecretLen]byte, error) {
	var ks [][cookieSecretLen]byte
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		raw, err := hex.DecodeString(line)
		if err != nil || len(raw) != cookieSecretLen {
			return nil, fmt.Errorf("dns cookie secret file %s line %d: want %d hex digits (%d bytes, e.g. from `openssl rand -hex 16`)", name, i+1, 2*cookieSecretLen, cookieSecretLen)
		}
		ks = append(ks, [cookieSecretLen]byte(raw))
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("dns cookie secret file %s: no secret (want lines of %d hex digits, the current one first)", name, 2*cookieSecretLen)
	}
	return ks, nil
}

// serverCookie is the RFC 9018 §4 server cookie for a client cookie and
// address at ts, made with secret.
func serverCookie(secret [cookieSecretLen]byte, client []byte, ts uint32, a netip.Addr) [16]byte {
	var sc [16]byte
	sc[0] = 1 // version; reserved stays 0
	binary.BigEndian.PutUint32(sc[4:], ts)
	h := siphash.New(secret[:])
	h.Write(client)
	h.Write(sc[:8])
	a = a.Unmap()
	h.Write(a.AsSlice())
	copy(sc[8:], h.Sum(nil))
	return sc
}

// check reads a request's COOKIE option (opt may be nil) from client a
// and returns its state and the COOKIE option for the response (nil when
// the request had none or a malformed one).
func (j *cookieJar) check(opt *dns.OPT, a netip.Addr, now time.Time) (cookieState, *dns.EDNS0_COOKIE) {
	if opt == nil {
		return cookieMissing, nil
	}
	var c *dns.EDNS0_COOKIE
	for _, o := range opt.Option {
		if x, ok := o.(*dns.EDNS0_COOKIE); ok {
			c = x
			break
		}
	}
	if c == nil {
		return cookieMissing, nil
	}
	raw, err := hex.DecodeString(c.Cookie)
	// RFC 7873 §5.2.2: the client cookie is 8 bytes, the server cookie
	// 8 to 32.
	if err != nil || len(raw) < 8 || len(raw) > 8 && len(raw) < 16 || len(raw) > 40 {
		return cookieMalformed, nil
	}
	client := raw[:8]
	state := cookieClientOnly
	j.mu.RLock()
	secrets := j.secrets
	j.mu.RUnlock()
	var sc [16]byte
	renew := true
	if len(raw) == 24 && raw[8] == 1 && raw[9] == 0 && raw[10] == 0 && raw[11] == 0 {
		state = cookieBad
		ts := binary.BigEndian.Uint32(raw[12:16])
		// RFC 9018 §4.3: serial-number arithmetic on the timestamp.
		age := time.Duration(int32(uint32(now.Unix())-ts)) * time.Second
		if age >= -cookieFuture && age <= cookieMaxAge {
			for _, k := range secrets {
				if want := serverCookie(k, client, ts, a); bytes.Equal(want[:], raw[8:]) {
					state = cookieValid
					if age < cookieRenew && k == secrets[0] {
						sc, renew = want, false
					}
					break
				}
			}
		}
	} else if len(raw) > 8 {
		state = cookieBad
	}
	if renew {
		sc = serverCookie(secrets[0], client, uint32(now.Unix()), a)
	}
	out := &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(client) + hex.EncodeToString(sc[:])}
	return state, out
}
