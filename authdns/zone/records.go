package zone

import (
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/registry"
)

// QuoteTXT makes one TXT character-string of s in presentation format:
// quotes and backslashes escaped, so that `v=spf1 -all` stays one string
// and is not split on its space (RFC 1035 §5.1). Strings longer than 255
// bytes become several, the usual way of writing a long DKIM key.
func QuoteTXT(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, s[:255])
		s = s[255:]
	}
	parts = append(parts, s)
	for i, p := range parts {
		p = strings.ReplaceAll(p, `\`, `\\`)
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `\"`) + `"`
	}
	return strings.Join(parts, " ")
}

// ParseRecord checks a static record as an operator writes it and returns
// it with its data as the parser understood it (so that one record written
// two ways is one record): the data is parsed and packed once, here, with
// the wire rules of its type, and a record that would not survive a
// transfer is refused with the parser's reason. TXT (and SPF) data without
// quotes is one character-string; with quotes it is read as written,
// several quoted strings staying several. Control characters are refused:
// in DNS text they are written as \DDD escapes (RFC 1035 §5.1).
// Names in the data are relative to origin (the zone) unless they end
// in a dot.
func ParseRecord(r Record, origin string) (Record, dns.RR, error) {
	where := fmt.Sprintf("record %s %s", r.Name, r.Type)
	if err := registry.CheckText(where+" data", r.Data); err != nil {
		// A TextError (400 over the API); the hint says how DNS text
		// carries such a byte (RFC 1035 §5.1).
		var te *registry.TextError
		if errors.As(err, &te) && te.Rune < 0x80 {
			if r.Type == "TXT" || r.Type == "SPF" {
				// Unquoted TXT is taken as written, backslashes too.
				return r, nil, fmt.Errorf("%w (write it as \\%03d inside a quoted string)", err, te.Rune)
			}
			return r, nil, fmt.Errorf("%w (write it as \\%03d)", err, te.Rune)
		}
		return r, nil, err
	}
	data := strings.TrimSpace(r.Data)
	if (r.Type == "TXT" || r.Type == "SPF") && !strings.HasPrefix(data, `"`) {
		data = QuoteTXT(data)
	}
	r.Data = data
	zp := dns.NewZoneParser(strings.NewReader(fmt.Sprintf("%s %d IN %s %s", r.Name, r.TTL, r.Type, r.Data)), origin, "")
	rr, _ := zp.Next()
	if err := zp.Err(); err != nil {
		return r, nil, fmt.Errorf("%s %q: %v: %w", where, r.Data, err, registry.ErrInvalid)
	}
	if rr == nil {
		return r, nil, fmt.Errorf("%s: empty data: %w", where, registry.ErrInvalid)
	}
	// Pack and unpack: what the wire cannot carry, or carries as
	// something else, is refused now rather than in a secondary's AXFR.
	buf := make([]byte, dns.MaxMsgSize)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return r, nil, fmt.Errorf("%s %q: does not pack: %v: %w", where, r.Data, err, registry.ErrInvalid)
	}
	back, _, err := dns.UnpackRR(buf[:n], 0)
	if err != nil || back.String() != rr.String() {
		return r, nil, fmt.Errorf("%s %q: does not survive the wire (%v): %w", where, r.Data, err, registry.ErrInvalid)
	}
	if err := checkRData(rr); err != nil {
		return r, nil, fmt.Errorf("%s %q: %v: %w", where, r.Data, err, registry.ErrInvalid)
	}
	r.Data = strings.TrimPrefix(rr.String(), rr.Header().String())
	return r, rr, nil
}

// checkRData holds the rules of a type the parser leaves to the reader,
// which other servers enforce when they load or transfer the record.
func checkRData(rr dns.RR) error {
	switch rr := rr.(type) {
	case *dns.NAPTR:
		// RFC 3403 §4.1: flags are alphanumeric; regexp and
		// replacement are exclusive; a regexp is
		// delim ere delim repl delim [i] (RFC 3402 §3.2). BIND
		// refuses a zone, or a transfer, breaking these.
		for _, c := range rr.Flags {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				return fmt.Errorf("NAPTR flags %q: letters and digits only (RFC 3403 §4.1)", rr.Flags)
			}
		}
		if rr.Regexp != "" && rr.Replacement != "." {
			return fmt.Errorf("NAPTR: regexp and replacement %s both set; one of them must be empty (\"\" or .) (RFC 3403 §4.1)", rr.Replacement)
		}
		if rr.Regexp != "" {
			if err := checkNAPTRRegexp(rr.Regexp); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkNAPTRRegexp checks the substitution expression of RFC 3402 §3.2:
// delim-char ere delim-char repl delim-char *flags, flags only "i".
func checkNAPTRRegexp(s string) error {
	if s == "" {
		return nil
	}
	delim := s[0]
	if delim == '\\' || delim == 'i' || '0' <= delim && delim <= '9' {
		return fmt.Errorf("NAPTR regexp %q: delimiter %q may be neither a digit, a backslash nor i (RFC 3402 §3.2)", s, delim)
	}
	parts, cur := []string{}, []byte{}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			cur = append(cur, c, s[i+1])
			i++
		case c == delim:
			parts = append(parts, string(cur))
			cur = cur[:0]
		default:
			cur = append(cur, c)
		}
	}
	if len(parts) != 2 || (string(cur) != "" && string(cur) != "i") {
		return fmt.Errorf("NAPTR regexp %q: want %cERE%cREPLACEMENT%c with flag i at most (RFC 3402 §3.2)", s, delim, delim, delim)
	}
	if parts[0] == "" {
		return fmt.Errorf("NAPTR regexp %q: empty regular expression", s)
	}
	return nil
}
