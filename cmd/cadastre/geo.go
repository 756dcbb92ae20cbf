package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/geo/cloudregions"
)

func newGeoCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "geo",
		Short: "Where are addresses? Sources, look-ups and the register as an MMDB",
		Long: `Answer "where is this address?" from every source cadastre knows, ranked by
trust: the register (authoritative for our own space), imported geofeeds, then
MMDB databases in the order they were added.
  source       add, list and remove MMDB sources
  lookup       look addresses up, from arguments, a file or standard input
  export-mmdb  write the register as an MMDB database`,
		Example: `  cadastre geo source add geolite2 --mmdb geolite2-country.mmdb
  cadastre geo lookup 8.8.8.8 2001:0:4136:e378:8000:63bf:3fff:fdd2`,
		Args: cobra.NoArgs,
	}
	src := &cobra.Command{
		Use:     "source",
		Short:   "Add, list and remove MMDB sources",
		Example: "  cadastre geo source list",
		Args:    unknownCommand,
		RunE:    showHelp,
	}
	src.AddCommand(newGeoSourceAdd(a), newGeoSourceList(a), newGeoSourceRemove(a))
	c.AddCommand(src, newGeoLookup(a), newGeoExportMMDB(a))
	return c
}

func newGeoSourceAdd(a *app) *cobra.Command {
	var file, ranges, format string
	c := &cobra.Command{
		Use:   "add NAME --mmdb FILE | --ranges FILE --format aws|azure|gcp|oracle",
		Short: "Add an MMDB database as a source",
		Long: `Add an MMDB database (MaxMind GeoIP2/GeoLite2, or the flat schema of the
ip-location-db packages) as the source NAME, ranked after the sources added
before it. The file is checked now and read at every start; a server reloads it
when it changes. Adding under an existing name replaces that source.
With --server, the server reads the file, at the same absolute path.

With --ranges, a cloud provider's published ranges (AWS ip-ranges.json, Azure
service tags, Google cloud.json, Oracle public_ip_ranges.json; --format says
which) become the source NAME, stored and ranked like an imported geofeed:
each prefix is placed where the provider documents its region to be (an
embedded, versioned table). Global prefixes and regions the table does not
know are kept unplaced and reported, never guessed. With --server the file is
read here and sent.`,
		Example: `  cadastre geo source add whois --mmdb .cache/geodata/geo-whois-asn-country.mmdb
  cadastre geo source add aws --ranges ip-ranges.json --format aws`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if ranges != "" || format != "" {
				if file != "" {
					return usagef("--mmdb and --ranges exclude each other")
				}
				return addRanges(cmd, a, name, ranges, format)
			}
			if file == "" {
				return usagef("--mmdb FILE or --ranges FILE is required")
			}
			if err := geo.ValidateSourceName(name); err != nil {
				return usageError{err}
			}
			abs, err := filepath.Abs(file)
			if err != nil {
				return usageError{err}
			}
			g, err := a.geo(cmd.Context())
			if err != nil {
				return err
			}
			m, err := g.AddMMDB(cmd.Context(), name, abs)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "source %s: %s (%s schema, %s, built %s)\n", name, m.Source.Origin, m.Schema, m.DatabaseType, m.BuildTime.UTC().Format("2006-01-02"))
			return nil
		},
	}
	c.Flags().StringVar(&file, "mmdb", "", "the MMDB file")
	c.Flags().StringVar(&ranges, "ranges", "", "a cloud provider's published ranges file (JSON)")
	c.Flags().StringVar(&format, "format", "", "the ranges file's provider: aws, azure, gcp or oracle")
	return c
}

// addRanges is `geo source add NAME --ranges FILE --format F`.
func addRanges(cmd *cobra.Command, a *app, name, file, format string) error {
	if file == "" {
		return usagef("--ranges FILE is required with --format")
	}
	if !slices.Contains(cloudregions.Providers, format) {
		return usagef("--format %q: want one of %s", format, strings.Join(cloudregions.Providers, ", "))
	}
	if err := geo.ValidateSourceName(name); err != nil {
		return usageError{err}
	}
	f, err := os.Open(file)
	if err != nil {
		return usageError{err}
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return usagef("--ranges %s: is a directory", file)
	}
	g, err := a.geo(cmd.Context())
	if err != nil {
		return err
	}
	rep, err := g.ImportRanges(cmd.Context(), name, file, format, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.cfg.stdout, "source %s: %d prefixes from %s (%s, regions table %s): %d placed, %d global (not placed), %d duplicates\n",
		name, rep.Source.Entries, file, format, rep.RegionsVersion, rep.Placed, rep.Global, rep.Duplicates)
	if len(rep.UnknownRegions) > 0 {
		fmt.Fprintf(a.cfg.stdout, "unknown regions, %d prefixes not placed: %s\n", rep.Unknown, strings.Join(rep.UnknownRegions, ", "))
	}
	return nil
}

func newGeoSourceList(a *app) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "list",
		Short:   "List sources in rank order, with how each loads",
		Example: "  cadastre geo source list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := a.geo(cmd.Context())
			if err != nil {
				return err
			}
			st, err := g.GeoSources(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, st)
			}
			rows := make([][]string, 0, len(st))
			for _, s := range st {
				state := "ok"
				if s.Err != "" {
					state = s.Err
				}
				rows = append(rows, []string{s.Name, string(s.Kind), strconv.Itoa(s.Entries), dash(string(s.Schema)), dash(s.Origin), state})
			}
			return table(a.cfg.stdout, "NAME\tKIND\tENTRIES\tSCHEMA\tORIGIN\tSTATE", rows)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newGeoSourceRemove(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Short:   "Remove a source (an MMDB or an imported geofeed)",
		Example: "  cadastre geo source remove whois",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			g, err := a.geo(cmd.Context())
			if err != nil {
				return err
			}
			if err := g.RemoveSource(cmd.Context(), name); err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "source %s removed\n", name)
			return nil
		},
	}
}

// geoEngine opens the register and builds the look-up table from it and
// every stored source. A source that fails to load is reported on
// standard error; the others answer.
func (a *app) geoEngine(ctx context.Context) (*geo.Engine, error) {
	reg, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	return a.geoEngineOf(ctx, reg)
}

// geoEngineOf is geoEngine with the register's placements read from pl
// (geo.InSpace for a private space).
func (a *app) geoEngineOf(ctx context.Context, pl geo.Placer) (*geo.Engine, error) {
	if _, err := a.open(ctx); err != nil {
		return nil, err
	}
	e, err := geo.NewEngine(ctx, geo.StoreLoader(pl, a.store), nil)
	if e == nil {
		return nil, err
	}
	if err != nil {
		warnSources(a.cfg.stderr, e.Table().Sources())
	}
	return e, nil
}

// warnSources reports on w each source that failed to load.
func warnSources(w io.Writer, srcs []geo.SourceStatus) {
	for _, s := range srcs {
		if s.Err != "" {
			fmt.Fprintf(w, "cadastre: warning: %s\n", s.Err)
		}
	}
}

// badLines is the exit status 1 of `geo lookup`: some lines were not
// addresses; the others were answered.
type badLines struct{ bad, total int }

func (e badLines) Error() string {
	return fmt.Sprintf("geo lookup: %d of %d lines are not addresses (see the errors above)", e.bad, e.total)
}

// parseLookupAddr reads one line of a batch: an address, without a zone.
func parseLookupAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, errors.New("empty line")
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if z := a.Zone(); z != "" {
		return netip.Addr{}, fmt.Errorf("%s: zone %%%s refused: a zone names a local interface, not a place (give %s)", s, z, a.WithZone(""))
	}
	return a, nil
}

func newGeoLookup(a *app) *cobra.Command {
	var asJSON, asCSV, all bool
	var file, space string
	c := &cobra.Command{
		Use:   "lookup [IP... | - | --file FILE]",
		Short: "Look addresses up: location, source, special use, transition decoding",
		Long: `Look addresses up, from the arguments, or one a line from a file (--file) or
standard input (-). Each answer carries the address, the matched prefix, the
location and its source (the best-ranked source that places it; --all shows
every source's answer), the IANA special-purpose classification, and for
transition addresses (Teredo, 6to4, NAT64, IPv4-mapped and -compatible, ISATAP)
the decoding: they are located by the IPv4 address they carry, and say so.
A line that is not an address (a zone such as fe80::1%eth0, an empty line,
garbage, a line over 64 KiB) gets an error of its own; the others are answered.
CRLF line ends, surrounding spaces and a UTF-8 byte-order mark are accepted;
lines starting with # are skipped. UTF-16 input is refused once, with a hint.
Special-purpose space that is not globally reachable (private, shared,
documentation, loopback, ...) is answered by its class, never placed from an
MMDB. The register answers from its global space: a private space's pools
(two VPCs may both hold 10.0.0.0/8) place addresses only with --space NAME.
Exit status: 0 all answered, 1 some lines were not addresses, 2 bad usage or
an unreadable input (missing file, directory, UTF-16).`,
		Example: `  cadastre geo lookup 8.8.8.8 2002:c000:0204::1
  cadastre geo lookup --all 191.232.0.1
  cadastre geo lookup --space vpc-a 10.1.2.3
  cadastre geo lookup --csv --file addresses.txt > located.csv
  zcat access.log.gz | cut -d' ' -f1 | cadastre geo lookup --json - | jq .location.country`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON && asCSV {
				return usagef("--json and --csv exclude each other")
			}
			var in io.Reader
			name := file
			switch {
			case file != "" && len(args) > 0:
				return usagef("give addresses as arguments or --file, not both")
			case file == "-" || (len(args) == 1 && args[0] == "-"):
				in, name = a.cfg.stdin, "<stdin>"
			case file != "":
				f, err := os.Open(file)
				if err != nil {
					return unreadable{fmt.Errorf("geo lookup: %w", err)}
				}
				defer f.Close()
				if st, err := f.Stat(); err != nil {
					return unreadable{fmt.Errorf("geo lookup: %w", err)}
				} else if st.IsDir() {
					return unreadable{fmt.Errorf("geo lookup: %s is a directory: give a file of addresses, one a line", file)}
				}
				in = f
			case len(args) == 0:
				return usagef("give addresses, - for standard input, or --file FILE (see `cadastre geo lookup --help`)")
			default:
				in, name = strings.NewReader(strings.Join(args, "\n")), "argument"
			}
			g, err := a.geoIn(cmd.Context(), space)
			if err != nil {
				return err
			}
			out := bufio.NewWriterSize(a.cfg.stdout, 256<<10)
			defer out.Flush()
			w := newLookupWriter(out, asJSON, asCSV, all)
			lr := newLineReader(in)
			if err := lr.checkEncoding(); err != nil {
				return unreadable{fmt.Errorf("geo lookup: %s: %w", name, err)}
			}
			b := newLookupBatch(g, w, a.cfg.stderr, name, all)
			total := 0
			for line := 1; ; line++ {
				text, tooLong, err := lr.next()
				if err == io.EOF {
					break
				}
				if err != nil {
					w.flush()
					return fmt.Errorf("geo lookup: %s: line %d: %w", name, line, err)
				}
				if tooLong {
					total++
					if err := b.addBad(cmd.Context(), line, text, fmt.Errorf("line longer than %d KiB", maxLookupLine>>10)); err != nil {
						return err
					}
					continue
				}
				s := strings.TrimSpace(text) // also the \r of CRLF
				if strings.HasPrefix(s, "#") {
					continue
				}
				total++
				if err := b.add(cmd.Context(), line, s); err != nil {
					return err
				}
			}
			if err := b.flush(cmd.Context()); err != nil {
				return err
			}
			bad := b.bad
			if err := w.flush(); err != nil {
				return err
			}
			if bad > 0 {
				return badLines{bad, total}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object a line (NDJSON)")
	c.Flags().BoolVar(&asCSV, "csv", false, "CSV with a header")
	c.Flags().BoolVar(&all, "all", false, "every source's answer, not only the best-ranked")
	c.Flags().StringVarP(&file, "file", "f", "", "read addresses from FILE, one a line (- for standard input)")
	c.Flags().StringVar(&space, "space", "", "place addresses from the pools of space `NAME` (a VRF, as cadastre space lists them) instead of the global space's")
	return c
}

// lookupBatch gathers the lines of a look-up until there are as many
// addresses as the backend takes at once, then answers them in line
// order; a bad line waiting behind no address is reported at once.
type lookupBatch struct {
	g      geoBackend
	w      *lookupWriter
	stderr io.Writer
	name   string
	all    bool
	lines  []pendingLine
	addrs  []netip.Addr
	res    []geo.Result
	bad    int
}

type pendingLine struct {
	line  int
	input string
	err   error // the line is not an address
}

func newLookupBatch(g geoBackend, w *lookupWriter, stderr io.Writer, name string, all bool) *lookupBatch {
	n := g.Batch()
	return &lookupBatch{g: g, w: w, stderr: stderr, name: name, all: all,
		addrs: make([]netip.Addr, 0, n), res: make([]geo.Result, n)}
}

func (b *lookupBatch) add(ctx context.Context, line int, s string) error {
	addr, err := parseLookupAddr(s)
	b.lines = append(b.lines, pendingLine{line: line, input: s, err: err})
	if err == nil {
		b.addrs = append(b.addrs, addr)
	}
	if len(b.addrs) == cap(b.addrs) || len(b.addrs) == 0 {
		return b.flush(ctx)
	}
	return nil
}

// addBad records a line that is refused before parsing (too long).
func (b *lookupBatch) addBad(ctx context.Context, line int, input string, err error) error {
	b.lines = append(b.lines, pendingLine{line: line, input: input, err: err})
	if len(b.addrs) == 0 {
		return b.flush(ctx)
	}
	return nil
}

func (b *lookupBatch) flush(ctx context.Context) error {
	if len(b.addrs) > 0 {
		if err := b.g.Locate(ctx, b.addrs, b.all, b.res[:len(b.addrs)]); err != nil {
			return err
		}
	}
	i := 0
	for _, l := range b.lines {
		if l.err != nil {
			b.bad++
			b.w.fail(l.line, l.input, l.err)
			fmt.Fprintf(b.stderr, "%s:%d: %v\n", b.name, l.line, l.err)
			continue
		}
		if err := b.w.write(l.line, &b.res[i]); err != nil {
			return err
		}
		i++
	}
	b.lines, b.addrs = b.lines[:0], b.addrs[:0]
	return nil
}

// lookupWriter formats answers as text, NDJSON or CSV.
type lookupWriter struct {
	w         *bufio.Writer
	json, csv bool
	all       bool
	cw        *csv.Writer
	enc       *json.Encoder
	buf       []byte
}

var lookupCSVHeader = []string{"line", "address", "found", "prefix", "country", "subdivision", "city", "source", "source_kind", "special", "transition", "located_by", "error"}

func newLookupWriter(w *bufio.Writer, asJSON, asCSV, all bool) *lookupWriter {
	lw := &lookupWriter{w: w, json: asJSON, csv: asCSV, all: all}
	switch {
	case asCSV:
		lw.cw = csv.NewWriter(w) // for the error rows
		w.WriteString(strings.Join(lookupCSVHeader, ",") + "\n")
	case asJSON:
		lw.enc = json.NewEncoder(w)
	}
	return lw
}

// lookupLine is one NDJSON line: the line number, and the answer or why
// there is none.
type lookupLine struct {
	Line  int    `json:"line"`
	Input string `json:"input,omitempty"`
	Error string `json:"error,omitempty"`
	*geo.Result
}

func (lw *lookupWriter) fail(line int, input string, err error) {
	switch {
	case lw.csv:
		lw.cw.Write([]string{strconv.Itoa(line), input, "false", "", "", "", "", "", "", "", "", "", err.Error()})
		lw.cw.Flush()
	case lw.json:
		lw.enc.Encode(lookupLine{Line: line, Input: input, Error: err.Error()})
	}
}

func (lw *lookupWriter) write(line int, r *geo.Result) error {
	switch {
	case lw.json:
		return lw.enc.Encode(lookupLine{Line: line, Result: r})
	case lw.csv:
		if lw.all {
			for _, ans := range r.All {
				lw.csvRow(line, r, ans, true)
			}
			if len(r.All) > 0 {
				return nil
			}
		}
		lw.csvRow(line, r, r.Answer, r.Found)
		return nil
	}
	b := lw.buf[:0]
	b = r.Addr.AppendTo(b)
	if r.Found {
		b = append(b, '\t')
		b = r.Prefix.AppendTo(b)
		b = append(b, '\t')
		b = appendLocation(b, r.Answer)
		b = append(b, '\t')
		b = append(b, r.Source...)
	} else {
		b = append(b, "\t-\tnot placed\t-"...)
	}
	b = appendNotes(b, r)
	b = append(b, '\n')
	if lw.all {
		for _, ans := range r.All {
			b = append(b, "  "...)
			b = append(b, ans.Source...)
			b = append(b, '\t')
			b = ans.Prefix.AppendTo(b)
			b = append(b, '\t')
			b = appendLocation(b, ans)
			b = append(b, '\n')
		}
		for _, e := range r.Errors {
			b = append(b, "  error: "...)
			b = append(b, e...)
			b = append(b, '\n')
		}
	}
	lw.buf = b
	_, err := lw.w.Write(b)
	return err
}

func appendLocation(b []byte, ans geo.Answer) []byte {
	l := ans.Location
	if l.Country == "" {
		return append(b, "placed nowhere"...)
	}
	b = append(b, l.Country...)
	if l.Subdivision != "" {
		b = append(b, ' ')
		b = append(b, l.Subdivision...)
	}
	if l.City != "" {
		b = append(b, ' ')
		b = append(b, l.City...)
	}
	return b
}

func appendNotes(b []byte, r *geo.Result) []byte {
	if r.Special.Kind != "" {
		b = append(b, "\tspecial: "...)
		b = append(b, r.Special.Kind...)
		b = append(b, " ("...)
		b = append(b, r.Special.Name...)
		b = append(b, ')')
	}
	if r.Transition.Kind != "" {
		b = append(b, "\ttransition: "...)
		b = append(b, r.Transition.Kind...)
		b = append(b, " carrying "...)
		b = r.Transition.IPv4.AppendTo(b)
		if r.Transition.Server.IsValid() {
			b = append(b, " via server "...)
			b = r.Transition.Server.AppendTo(b)
			b = append(b, " port "...)
			b = strconv.AppendUint(b, uint64(r.Transition.Port), 10)
		}
	}
	if r.LocatedBy.IsValid() {
		b = append(b, "\tlocated by "...)
		b = r.LocatedBy.AppendTo(b)
	}
	return b
}

// csvRow appends one CSV row by hand: encoding/csv with a string per
// field costs twice the rest of a look-up.
func (lw *lookupWriter) csvRow(line int, r *geo.Result, ans geo.Answer, found bool) {
	b := strconv.AppendInt(lw.buf[:0], int64(line), 10)
	b = append(b, ',')
	b = r.Addr.AppendTo(b)
	b = append(b, ',')
	b = strconv.AppendBool(b, found)
	b = append(b, ',')
	if found {
		b = ans.Prefix.AppendTo(b)
	}
	for _, f := range []string{ans.Location.Country, ans.Location.Subdivision, ans.Location.City, ans.Source, string(ans.Kind), r.Special.Kind, r.Transition.Kind} {
		b = append(b, ',')
		b = appendCSVField(b, f)
	}
	b = append(b, ',')
	if r.LocatedBy.IsValid() {
		b = r.LocatedBy.AppendTo(b)
	}
	b = append(b, ',')
	if len(r.Errors) > 0 {
		b = appendCSVField(b, strings.Join(r.Errors, "; "))
	}
	b = append(b, '\n')
	lw.buf = b
	lw.w.Write(b)
}

// appendCSVField appends s, quoted as RFC 4180 says when it must be.
func appendCSVField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(b, s...)
	}
	b = append(b, '"')
	b = append(b, strings.ReplaceAll(s, `"`, `""`)...)
	return append(b, '"')
}

func (lw *lookupWriter) flush() error {
	if lw.cw != nil {
		lw.cw.Flush()
		if err := lw.cw.Error(); err != nil {
			return err
		}
	}
	return lw.w.Flush()
}

func newGeoExportMMDB(a *app) *cobra.Command {
	var space string
	c := &cobra.Command{
		Use:   "export-mmdb FILE",
		Short: "Write the register as an MMDB database",
		Long: `Write where every pool and relocated unit is used as an MMDB database in the
GeoIP2 layout (country, subdivision, city), which standard readers open
(mmdblookup, maxminddb libraries), for systems that read MMDB files only.
The global space only, unless --space names a private one (a VRF).`,
		Example: `  cadastre geo export-mmdb register.mmdb && mmdblookup -f register.mmdb -i 191.232.0.1 country iso_code
  cadastre geo export-mmdb --space vpc-a vpc-a.mmdb`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := a.backend(cmd.Context())
			if err != nil {
				return err
			}
			places, _, err := reg.PlacementsIn(cmd.Context(), space)
			if err != nil {
				return err
			}
			tmp := args[0] + ".part"
			f, err := os.Create(tmp)
			if err != nil {
				return unreadable{err}
			}
			n, err := geo.ExportMMDB(f, places, time.Now())
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(tmp, args[0])
			}
			if err != nil {
				os.Remove(tmp)
				return err
			}
			fmt.Fprintf(a.cfg.stderr, "wrote %d networks to %s\n", n, args[0])
			return nil
		},
	}
	c.Flags().StringVar(&space, "space", "", "the space (VRF) to write (default the global space)")
	return c
}

// maxLookupLine is the longest line geo lookup reads as one: a longer one
// is an error of its own, and the run goes on.
const maxLookupLine = 64 << 10

// lineReader reads the lines of a look-up's input without a limit that
// stops the run: a line over maxLookupLine is skipped to its end and
// reported.
type lineReader struct {
	r     *bufio.Reader
	first bool
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, maxLookupLine+1), first: true}
}

// checkEncoding skips a UTF-8 byte-order mark and refuses UTF-16 (with
// or without its mark: NUL bytes in the first line), once, instead of an
// error for every line.
func (l *lineReader) checkEncoding() error {
	head, _ := l.r.Peek(512)
	switch {
	case bytes.HasPrefix(head, []byte{0xef, 0xbb, 0xbf}):
		l.r.Discard(3)
		return nil
	case bytes.HasPrefix(head, []byte{0xff, 0xfe}), bytes.HasPrefix(head, []byte{0xfe, 0xff}):
		return errors.New("the input is UTF-16 (it starts with a UTF-16 byte-order mark): convert it to UTF-8 or ASCII first, e.g. iconv -f UTF-16 -t UTF-8")
	}
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return errors.New("the input has NUL bytes: it looks like UTF-16 without a byte-order mark; convert it to UTF-8 or ASCII first, e.g. iconv -f UTF-16LE -t UTF-8")
	}
	return nil
}

// next returns the next line without its line end; tooLong says the line
// was longer than maxLookupLine (text is then its start, shortened). It
// returns io.EOF after the last line.
func (l *lineReader) next() (text string, tooLong bool, err error) {
	b, err := l.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		start := string(b[:64]) + "..."
		for err == bufio.ErrBufferFull {
			_, err = l.r.ReadSlice('\n')
		}
		if err == io.EOF {
			err = nil
		}
		return start, true, err
	}
	if err == io.EOF {
		if len(b) == 0 {
			return "", false, io.EOF
		}
		err = nil
	}
	if err != nil {
		return "", false, err
	}
	return string(bytes.TrimSuffix(b, []byte("\n"))), false, nil
}
