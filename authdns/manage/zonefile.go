package manage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Export writes a zone as RFC 1035 master-file text: the SOA (with the
// serial last served), the name servers, the static records and the
// names of the register's assignments, as a secondary receives them,
// without DNSSEC records (the signer makes those; a zone file of them
// would expire) and without synthesised names (made per query).
func (m *Manager) Export(ctx context.Context, name string, w io.Writer) error {
	z, err := m.Zone(ctx, name)
	if err != nil {
		return err
	}
	zs, err := m.store.Zones(ctx)
	if err != nil {
		return err
	}
	rs, err := m.store.Records(ctx, z.ID)
	if err != nil {
		return err
	}
	in := zone.BuildInput{Zones: zs, Records: rs}
	if reg, ok := m.store.(registry.Store); ok {
		if err := reg.View(ctx, func(tx registry.Tx) error {
			var err error
			if in.Pools, err = tx.Pools(ctx, registry.PoolFilter{}); err != nil {
				return err
			}
			if in.Assigns, err = tx.Assignments(ctx, registry.AssignmentFilter{States: []registry.State{registry.StateAssigned}}); err != nil {
				return err
			}
			// A tenant's quarantined address hides the static PTRs
			// written before it was handed out, as served
			// (zone.PTRShadowedBy); the live ones are read above.
			held, err := TenantsAtStaticPTRs(ctx, tx, []zone.Zone{z}, rs)
			if err != nil {
				return err
			}
			for _, a := range held {
				if a.State != registry.StateAssigned {
					in.Assigns = append(in.Assigns, a)
				}
			}
			// As the server does: the zone takes its own space's
			// (zone.Config.Serves).
			return nil
		}); err != nil {
			return fmt.Errorf("zone %s: export: read register: %w", z.Name, err)
		}
	}
	zd, err := zone.Build(z, &in)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "; zone %s exported by cadastre at %s\n; DNSSEC records are made by the signer and are not exported.\n$ORIGIN %s\n",
		z.Name, m.now().UTC().Format(time.RFC3339), z.Name)
	for i, rr := range zd.Records() {
		if i == 0 {
			soa := *rr.(*dns.SOA)
			soa.Serial = z.Serial
			rr = &soa
		}
		if _, err := fmt.Fprintln(w, rr.String()); err != nil {
			return err
		}
	}
	return nil
}

// ImportResult counts what Import did with a zone file's records.
type ImportResult struct {
	Added     int `json:"added"`
	Existing  int `json:"existing"`  // already static records of the zone
	SOA       int `json:"soa"`       // skipped: the zone's configuration makes its SOA
	ApexNS    int `json:"apex_ns"`   // skipped: name servers are configuration (zone update --ns)
	DNSSEC    int `json:"dnssec"`    // skipped: the signer makes them from the zone's keys
	Generated int `json:"generated"` // skipped: the register makes them (assignments' names)
}

// dnssecTypes are the records of a zone file that the signer makes.
var dnssecTypes = map[uint16]bool{dns.TypeDNSKEY: true, dns.TypeRRSIG: true, dns.TypeNSEC: true, dns.TypeNSEC3: true,
	dns.TypeNSEC3PARAM: true, dns.TypeCDS: true, dns.TypeCDNSKEY: true}

// Import reads a zone file (RFC 1035 master-file format, names relative
// to the zone unless they end in a dot) into static records of the zone,
// all or none. The SOA is skipped: the zone's configuration makes it
// (zone update changes the timers). NS records at the apex are skipped:
// the zone's name servers are configuration too (zone update --ns); NS
// below the apex are delegations and are imported. DNSSEC records
// (DNSKEY, RRSIG, NSEC, NSEC3, NSEC3PARAM, CDS, CDNSKEY) are skipped, as
// the signer makes them from the zone's own keys. Records equal to ones
// the zone has, static or from the register's assignments, are counted
// and skipped. Every other record follows the rules of AddRecord; the
// first error names the file and line.
func (m *Manager) Import(ctx context.Context, name, file string, r io.Reader) (ImportResult, error) {
	var res ImportResult
	z, err := m.Zone(ctx, name)
	if err != nil {
		return res, err
	}
	rs, err := m.store.Records(ctx, z.ID)
	if err != nil {
		return res, err
	}
	have := map[string]bool{}
	for _, r := range rs {
		have[r.Name+" "+r.Type+" "+r.Data] = true
	}
	zs, err := m.store.Zones(ctx)
	if err != nil {
		return res, err
	}
	generated := map[string]bool{}
	if reg, ok := m.store.(registry.Store); ok {
		var in zone.BuildInput
		in.Zones = zs
		if err := reg.View(ctx, func(tx registry.Tx) error {
			var err error
			if in.Assigns, err = tx.Assignments(ctx, registry.AssignmentFilter{States: []registry.State{registry.StateAssigned}}); err != nil {
				return err
			}
			// As the server does: the zone takes its own space's.
			return err
		}); err != nil {
			return res, fmt.Errorf("zone %s: import: read register: %w", z.Name, err)
		}
		zd, err := zone.Build(z, &in)
		if err != nil {
			return res, err
		}
		for _, rr := range zd.Records() {
			generated[strings.ToLower(rr.String())] = true
		}
	}
	text, err := io.ReadAll(r)
	if err != nil {
		return res, fmt.Errorf("zone %s: import %s: %w", z.Name, file, err)
	}
	if err := checkZoneText(file, text); err != nil {
		return res, err
	}
	zp := dns.NewZoneParser(bytes.NewReader(text), z.Name, file)
	zp.SetDefaultTTL(z.Config.TTL)
	var add []*zone.Record
	var addAt []string // where each record of add was read
	var events []registry.Event
	// The parser names the line of a syntax error; for a record it
	// parsed but the zone refuses, the message gives the record, its
	// place in the file and, where the file's text says it (recordLines),
	// the line it begins on (miekg/dns does not say).
	lines := recordLines(text)
	where := func(n int, rr dns.RR) string {
		at := fmt.Sprintf("%s: record %d", file, n)
		if n-1 < len(lines) {
			at = fmt.Sprintf("%s: line %d: record %d", file, lines[n-1], n)
		}
		return fmt.Sprintf("%s (%s)", at, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	// placeOf is where each record to add was read, by owner name: the
	// write transaction's name check refuses a name, and the message
	// names the first record of the file at it.
	placeOf := map[string]string{}
	n := 0
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		n++
		h := rr.Header()
		owner := strings.ToLower(h.Name)
		switch {
		case h.Class != dns.ClassINET:
			return ImportResult{}, fmt.Errorf("%s: record %d (%s): class %s: only IN: %w", file, n, rr, dns.ClassToString[h.Class], registry.ErrInvalid)
		case !dns.IsSubDomain(z.Name, owner):
			return ImportResult{}, fmt.Errorf("%s: record %d: %s: not in zone %s: %w", file, n, owner, z.Name, registry.ErrInvalid)
		case h.Rrtype == dns.TypeSOA:
			res.SOA++
			continue
		case h.Rrtype == dns.TypeNS && owner == z.Name:
			res.ApexNS++
			continue
		case dnssecTypes[h.Rrtype]:
			res.DNSSEC++
			continue
		case generated[strings.ToLower(rr.String())]:
			res.Generated++
			continue
		}
		data := strings.TrimPrefix(rr.String(), h.String())
		rec, err := m.prepareRecord(z, rs, owner, dns.TypeToString[h.Rrtype], data, h.Ttl)
		if err != nil {
			return ImportResult{}, fmt.Errorf("%s: %w", where(n, rr), err)
		}
		key := rec.Name + " " + rec.Type + " " + rec.Data
		if have[key] {
			res.Existing++
			continue
		}
		have[key] = true
		if _, ok := placeOf[rec.Name]; !ok {
			placeOf[rec.Name] = where(n, rr)
		}
		rs = append(rs, rec)
		add = append(add, &rec)
		addAt = append(addAt, where(n, rr))
		events = append(events, m.event(ctx, "record.add", zone.SubjectRecord, rec.Name+" "+rec.Type, nil, rec))
	}
	if err := zp.Err(); err != nil {
		// The parser's error names the file, the line and the column.
		return ImportResult{}, fmt.Errorf("zone %s: import: %v: %w", z.Name, err, registry.ErrInvalid)
	}
	if i, err := occludedInWrite(z, rs, add); err != nil {
		return ImportResult{}, fmt.Errorf("%s: %w", addAt[i], err)
	}
	if len(add) > 0 {
		// An admin's write (the CLI's): each name is checked in the
		// write transaction, under its lock, as record add checks it
		// (AdminRecordCheck): a name a tenant's live assignment holds is
		// refused, naming the line, and nothing of the file is written.
		adminCheck := AdminZoneRecordCheck(z)
		check := func(ctx context.Context, tx registry.Tx, r zone.Record) error {
			if err := adminCheck(ctx, tx, r); err != nil {
				return fmt.Errorf("%s: %w", placeOf[r.Name], err)
			}
			return nil
		}
		if err := m.store.InsertRecords(ctx, add, events, check); err != nil {
			return ImportResult{}, fmt.Errorf("zone %s: import %s: %w", z.Name, file, err)
		}
	}
	res.Added = len(add)
	return res, nil
}

// recordLines gives the line (from 1) on which each record of a zone file
// begins, in order: a line that starts outside parentheses with something
// other than a comment or a $ directive begins one record (RFC 1035 §5.1:
// parentheses continue a record over lines; ";" starts a comment outside
// quotes). A $GENERATE makes many records of one line: then the lines are
// not known (nil) and messages give the record's place only.
func recordLines(text []byte) []int {
	var out []int
	depth, quoted, escaped := 0, false, false
	line, start, first := 1, true, true
	comment := false
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == '\n' {
			line++
			start, first, comment, escaped = depth == 0, true, false, false
			continue
		}
		if comment {
			continue
		}
		if first && c != ' ' && c != '\t' && c != '\r' {
			first = false
			if start && c != ';' && c != '(' && c != ')' {
				if c == '$' {
					if bytes.HasPrefix(bytes.ToUpper(text[i:min(i+9, len(text))]), []byte("$GENERATE")) {
						return nil
					}
				} else {
					out = append(out, line)
				}
			}
		}
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ';':
			comment = true
		case c == '(':
			depth++
		case c == ')':
			depth = max(depth-1, 0)
		}
	}
	return out
}

// checkZoneText refuses a zone file holding a raw control character (other
// than TAB, CR and LF), DEL, a bidi override or bytes that are not UTF-8,
// naming its line: the parser would keep them in a name, or turn them
// into an escape in text without a word, where the operator most likely
// meant neither. RFC 1035 §5.1 writes such a byte as \DDD, which is
// imported as written.
func checkZoneText(file string, text []byte) error {
	for n, line := range bytes.Split(text, []byte("\n")) {
		l := strings.TrimSuffix(string(line), "\r")
		if err := registry.CheckText(fmt.Sprintf("%s: line %d", file, n+1), strings.ReplaceAll(l, "\t", " ")); err != nil {
			var te *registry.TextError
			if errors.As(err, &te) && te.Rune < 0x80 {
				return fmt.Errorf("%w (write it as \\%03d)", err, te.Rune)
			}
			return err
		}
	}
	return nil
}
