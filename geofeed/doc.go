// Package geofeed reads, checks and writes IP geolocation feeds: RFC 8805
// CSV lines "prefix,country,region,city,postal", with "#" comments, blank
// lines and the RFC 9632 signature block ("# RPKI Signature:" ...
// "# End Signature:"), which is recognised, kept apart from the data and
// checked for structure. It knows nothing of storage, HTTP or the register:
// it takes an io.Reader or a []Entry and gives back entries and diagnostics.
//
// Reader streams a feed with bounded memory: a line longer than
// Options.MaxLineLength is skipped a buffer at a time, fields beyond the
// fifth are counted but not split, and only 32 bytes per data line are kept
// for the rules that need the whole feed (duplicate prefix, redundant or
// overriding more specific, prefix outside the signed ranges), which run
// when the input ends. Check and ReadAll wrap it for whole feeds.
//
// Every Diagnostic has a 1-based line and a 1-based column counted in bytes
// of the line as stored, at the start of the field concerned, a severity, a
// stable Code (see the Code constants: one per rule) and a message naming
// the value and the rule. Errors make a line unusable; warnings ask for
// review. Codes are checked against the embedded ISO 3166 lists of package
// iso3166; prefixes against the IANA special-purpose registries of package
// prefix.
//
// Write and MergeByLocation publish a feed: deterministic order, the fewest
// CIDRs per location, no postal codes. What Write writes, Check passes
// without error and ReadAll reads back to the same prefix-to-location map.
//
// The CMS signature of a signed feed is not verified: that needs the RPKI
// certificate of its prefixes, which this package is not given; the reader
// says so in a warning (CodeSignatureUnverified).
package geofeed
