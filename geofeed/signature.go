package geofeed

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cadastre-ipam/cadastre/prefix"
)

// RFC 9632 §5 signature block:
//
//	# RPKI Signature: 192.0.2.0/24
//	# MIIGlwYJKoZIhvcNAQcCoIIGiDCCBoQCAQMxDTALBglghkgBZQMEAgEwggEVBgsq
//	# ...
//	# End Signature: 192.0.2.0/24
//
// It must be the last thing in the file; the signed content is every line
// before it, with CRLF line endings. The CMS signature itself needs the
// RPKI certificate of the prefixes, which the reader is not given: it checks
// the structure and says the signature was not verified.
const (
	sigStartMarker = "# RPKI Signature:"
	sigEndMarker   = "# End Signature:"
	maxSigPrefixes = 64
)

const (
	sigNone = iota
	sigIn
	sigAfter
)

type sigState struct {
	state     int
	startLine int
	startCol  int
	endLine   int
	header    string
	prefixes  []netip.Prefix
	b64Len    int
	padding   bool // '=' seen: only '=' may follow
	b64Bad    bool
}

func (r *Reader) sigSyntax(col int, msg string) {
	r.report(r.line, col, Error, CodeSignatureSyntax, msg)
}

// comment handles a line starting with '#': an ordinary comment, or part
// of the signature block.
func (r *Reader) comment(c []byte, off int) {
	s := &r.sig
	switch {
	case s.state == sigNone && bytes.HasPrefix(c, []byte(sigStartMarker)):
		s.state, s.startLine, s.startCol = sigIn, r.line, off+1
		s.header = strings.TrimSpace(string(c[len(sigStartMarker):]))
		r.sigHeader(off + len(sigStartMarker) + 2)
	case s.state == sigNone && bytes.HasPrefix(c, []byte(sigEndMarker)):
		r.sigSyntax(off+1, "\"# End Signature:\" without a \"# RPKI Signature:\" line before it")
	case s.state == sigIn && bytes.HasPrefix(c, []byte(sigEndMarker)):
		s.state, s.endLine = sigAfter, r.line
		if end := strings.TrimSpace(string(c[len(sigEndMarker):])); end != s.header {
			r.report(r.line, off+len(sigEndMarker)+2, Error, CodeSignatureMismatch,
				fmt.Sprintf("\"# End Signature: %s\" does not match \"# RPKI Signature: %s\" on line %d", end, s.header, s.startLine))
		}
		switch {
		case s.b64Bad:
		case s.b64Len == 0:
			r.report(s.startLine, s.startCol, Error, CodeSignatureBase64, "empty signature block: no base64 lines between the markers")
		case s.b64Len%4 != 0:
			r.report(r.line, off+1, Error, CodeSignatureBase64,
				fmt.Sprintf("signature is %d base64 characters, not a multiple of 4: truncated or padded wrongly", s.b64Len))
		}
		r.report(s.startLine, s.startCol, Warning, CodeSignatureUnverified,
			fmt.Sprintf("RPKI signature not verified: no RPKI certificate given (it signs every line before line %d, with CRLF line endings, RFC 9632 §5)", s.startLine))
	case s.state == sigIn:
		r.sigLine(c, off)
	}
}

// sigHeader parses the prefixes after "# RPKI Signature:".
func (r *Reader) sigHeader(col int) {
	s := &r.sig
	if s.header == "" {
		r.sigSyntax(col, "\"# RPKI Signature:\" must name the signed prefixes")
		return
	}
	for _, tok := range strings.FieldsFunc(s.header, func(c rune) bool { return c == ',' || c == ' ' }) {
		p, err := prefix.Parse(tok)
		if err != nil {
			r.sigSyntax(col, "signature header: "+err.Error())
			s.prefixes = nil
			return
		}
		if len(s.prefixes) < maxSigPrefixes {
			s.prefixes = append(s.prefixes, p)
		}
	}
}

// sigLine checks one "# " + base64 line inside the block.
func (r *Reader) sigLine(c []byte, off int) {
	s := &r.sig
	if !bytes.HasPrefix(c, []byte("# ")) || len(c) == 2 {
		r.sigSyntax(off+1, "inside the signature block every line is \"# \" followed by base64")
		s.b64Bad = true
		return
	}
	for i, ch := range c[2:] {
		ok := 'A' <= ch && ch <= 'Z' || 'a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' || ch == '+' || ch == '/'
		switch {
		case ch == '=':
			s.padding = true
		case ok && !s.padding:
		default:
			if !s.b64Bad {
				msg := fmt.Sprintf("%q is not a base64 character", rune(ch))
				if ok {
					msg = "base64 continues after '=' padding"
				}
				r.report(r.line, off+3+i, Error, CodeSignatureBase64, msg)
			}
			s.b64Bad = true
			return
		}
	}
	s.b64Len += len(c) - 2
}

// checkSigned reports a prefix outside every range of the signature header
// (RFC 9632 §5: the signing certificate must cover every prefix of the feed).
func (r *Reader) checkSigned(rec record) {
	p := rec.prefix()
	for _, sp := range r.sig.prefixes {
		if prefix.Covers(sp, p) {
			return
		}
	}
	r.report(int(rec.line), r.prefixCol(rec.line), Warning, CodeOutsideSignature,
		fmt.Sprintf("%v is outside the prefixes the signature block names (%s): the signing certificate must cover every prefix (RFC 9632 §5)", p, r.sig.header))
}
