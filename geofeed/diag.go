package geofeed

import (
	"fmt"
	"strconv"
)

// Severity says whether a diagnostic makes a line unusable (Error) or only
// asks for review (Warning).
type Severity uint8

// Severities, in decreasing order of gravity. The zero Severity is invalid.
const (
	Error Severity = iota + 1
	Warning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "severity(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText implements encoding.TextMarshaler with String's words.
func (s Severity) MarshalText() ([]byte, error) {
	if s != Error && s != Warning {
		return nil, fmt.Errorf("geofeed: invalid severity %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler for "error" and "warning".
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "error":
		*s = Error
	case "warning":
		*s = Warning
	default:
		return fmt.Errorf("geofeed: unknown severity %q", b)
	}
	return nil
}

// Diagnostic is one finding about one place in a feed. Line and Col are
// 1-based; Col counts bytes from the start of the line as stored (a UTF-8
// byte-order mark on line 1 counts as 3 bytes) and points at the start of
// the field concerned, or just past the end of the line for a missing field.
// Code is a stable short identifier (see the Code constants) for programs;
// Message is for people and names the value and the rule.
type Diagnostic struct {
	Line     int      `json:"line"`
	Col      int      `json:"col"`
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	Message  string   `json:"message"`
}

// String formats d like a compiler: "LINE:COL: severity: code: message".
// A caller prefixes the file name.
func (d Diagnostic) String() string {
	return strconv.Itoa(d.Line) + ":" + strconv.Itoa(d.Col) + ": " + d.Severity.String() + ": " + d.Code + ": " + d.Message
}

// Codes of the diagnostics, one per rule. They are stable: tools match on them.
const (
	// Errors: the line is not used.
	CodeLineTooLong           = "line-too-long"          // longer than Options.MaxLineLength
	CodeNUL                   = "nul"                    // a NUL byte
	CodeBadUTF8               = "bad-utf8"               // not valid UTF-8
	CodeBadQuote              = "bad-quote"              // a quoted field is not closed or has text after its quote
	CodeBadPrefix             = "bad-prefix"             // the prefix does not parse (or is missing, or has no /length)
	CodeHostBits              = "host-bits"              // bits set after the prefix length
	CodeZone                  = "zone"                   // an IPv6 zone (%eth0)
	CodeIPv4Mapped            = "ipv4-mapped"            // ::ffff:a.b.c.d/n instead of a.b.c.d/n-96
	CodeSpecialPurpose        = "special-purpose"        // not globally reachable (private, documentation, ...)
	CodeMissingCountry        = "missing-country"        // region or city without a country
	CodeUnknownCountry        = "unknown-country"        // not an assigned ISO 3166-1 alpha-2 code
	CodeUnknownRegion         = "unknown-region"         // not a current ISO 3166-2 code
	CodeWrongCountry          = "wrong-country"          // an ISO 3166-2 code of another country
	CodeBadCity               = "bad-city"               // too long, or quotes or control characters
	CodeDuplicate             = "duplicate"              // the same prefix, after normalising, again
	CodeAfterSignature        = "after-signature"        // anything after the RFC 9632 signature block
	CodeSignatureSyntax       = "signature-syntax"       // a malformed RFC 9632 signature block
	CodeSignatureBase64       = "signature-base64"       // the signature is not valid base64
	CodeSignatureMismatch     = "signature-mismatch"     // End Signature names other prefixes than RPKI Signature
	CodeSignatureUnterminated = "signature-unterminated" // no End Signature line

	// Warnings: the line is used, but should be reviewed.
	CodeBOM                 = "bom"                  // a UTF-8 byte-order mark
	CodeFewFields           = "few-fields"           // fewer than 5 fields
	CodeExtraFields         = "extra-fields"         // more than 5 fields (the rest is ignored)
	CodeSpace               = "space"                // spaces or tabs around a field
	CodeLowerCase           = "lower-case"           // a country or region code in lower case
	CodeWithdrawnRegion     = "withdrawn-region"     // a former ISO 3166-2 code (the message names the successor)
	CodePostal              = "postal"               // a postal code (deprecated by RFC 8805)
	CodePlaceholderCity     = "placeholder-city"     // "n/a", "-", "unknown", ...
	CodeLargePrefix         = "large-prefix"         // shorter than Options.LargeIPv4Bits / LargeIPv6Bits
	CodeRedundant           = "redundant"            // covered by a less specific entry with the same location
	CodeOverride            = "override"             // a more specific entry with another location
	CodeOutsideSignature    = "outside-signature"    // a prefix outside the ranges the signature block names
	CodeSignatureUnverified = "signature-unverified" // the CMS signature was not verified
)
