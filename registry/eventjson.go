package registry

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/cadastre-ipam/cadastre/internal/jsonfast"
)

// marshalEvent is json.Marshal(after), an assignment's without
// reflection where it can: an import writes an event of each assignment
// it loads, and marshalling them was a tenth of its time. The bytes are
// json.Marshal's (TestMarshalEvent): an event means the same either way.
// An assignment may come as a pointer, which json.Marshal writes as the
// value (Assignment has no marshalling method), so that a caller holding
// one does not copy it into the interface.
func marshalEvent(buf []byte, after any) ([]byte, error) {
	switch a := after.(type) {
	case Assignment:
		if b, ok := appendAssignmentJSON(buf, &a); ok {
			return b, nil
		}
	case *Assignment:
		if b, ok := appendAssignmentJSON(buf, a); ok {
			return b, nil
		}
	case assignmentPayload:
		if b, ok := a.appendJSON(buf); ok {
			return b, nil
		}
		return json.Marshal(a.a)
	}
	return json.Marshal(after)
}

// assignmentPayload is an assignment's payload with the texts of its
// prefix and its pool when the caller has them (the event's subject, the
// registry's pool texts), which appendJSON then writes instead of
// formatting the prefixes again: an allocation's event wrote each twice,
// ~1.3k instructions an IPv6 prefix (issue 16). A text must be its
// prefix's String(); "" when there is none.
type assignmentPayload struct {
	a            *Assignment
	prefix, pool string
}

// appendJSON is appendAssignmentJSON(b, p.a) with p's texts.
func (p assignmentPayload) appendJSON(b []byte) ([]byte, bool) {
	return appendAssignmentJSONTexts(b, p.a, p.prefix, p.pool)
}

// appendAssignmentJSON appends json.Marshal(a), or declines (false) for
// what it does not write the same: a relocation, tags, a text that needs
// escaping, a time outside the plain RFC 3339 years.
func appendAssignmentJSON(b []byte, a *Assignment) ([]byte, bool) {
	return appendAssignmentJSONTexts(b, a, "", "")
}

// appendAssignmentJSONTexts is appendAssignmentJSON writing prefix and
// pool, when not "", as the texts of a.Prefix and a.Pool.
func appendAssignmentJSONTexts(b []byte, a *Assignment, prefix, pool string) ([]byte, bool) {
	if a.Relocation != nil || len(a.Tags) > 0 || !a.Prefix.IsValid() || !a.Pool.IsValid() ||
		!jsonfast.Plain(a.Region) || !jsonfast.Plain(a.Space) || !jsonfast.Plain(a.Tenant) || !jsonfast.Plain(a.Resource) ||
		!jsonfast.Plain(a.Name) || !jsonfast.Plain(string(a.State)) || !jsonfast.PlainTime(a.CreatedAt) ||
		(a.ReleasedAt != nil && !jsonfast.PlainTime(*a.ReleasedAt)) || (a.QuarantineUntil != nil && !jsonfast.PlainTime(*a.QuarantineUntil)) {
		return b, false
	}
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, a.ID, 10)
	b = append(b, `,"prefix":"`...)
	b = appendPrefix(b, a.Prefix, prefix)
	b = append(b, `","pool_id":`...)
	b = strconv.AppendInt(b, a.PoolID, 10)
	b = append(b, `,"pool":"`...)
	b = appendPrefix(b, a.Pool, pool)
	b = append(b, `","region":"`...)
	b = append(b, a.Region...)
	b = append(b, '"')
	if a.Space != "" {
		b = append(b, `,"space":"`...)
		b = append(b, a.Space...)
		b = append(b, '"')
	}
	b = append(b, `,"tenant":"`...)
	b = append(b, a.Tenant...)
	b = append(b, `","resource":"`...)
	b = append(b, a.Resource...)
	b = append(b, `","name":"`...)
	b = append(b, a.Name...)
	b = append(b, `","state":"`...)
	b = append(b, a.State...)
	b = append(b, `","borrowed":`...)
	b = strconv.AppendBool(b, a.Borrowed)
	b = append(b, `,"created_at":"`...)
	b = jsonfast.AppendTime(b, a.CreatedAt)
	b = append(b, '"')
	if a.ReleasedAt != nil {
		b = append(b, `,"released_at":"`...)
		b = jsonfast.AppendTime(b, *a.ReleasedAt)
		b = append(b, '"')
	}
	if a.QuarantineUntil != nil {
		b = append(b, `,"quarantine_until":"`...)
		b = jsonfast.AppendTime(b, *a.QuarantineUntil)
		b = append(b, '"')
	}
	return append(b, '}'), true
}

// appendPrefix appends text, p's, or p formatted when text is "".
func appendPrefix(b []byte, p netip.Prefix, text string) []byte {
	if text != "" {
		return append(b, text...)
	}
	return p.AppendTo(b)
}

// prefixTexts remembers the text of the prefixes it was last asked for
// (the pools allocations take from), in a few slots chosen by a hash of
// the prefix, so that an allocation's event does not format its pool's
// prefix again. A slot holds one prefix; another that hashes to it
// replaces it.
type prefixTexts struct {
	slots [64]atomic.Pointer[prefixText]
}

type prefixText struct {
	p netip.Prefix
	s string
}

// text returns p.String().
func (c *prefixTexts) text(p netip.Prefix) string {
	a := p.Addr().As16()
	h := (binary.LittleEndian.Uint64(a[:8]) ^ binary.LittleEndian.Uint64(a[8:]) ^ uint64(p.Bits())) * 0x9e3779b97f4a7c15
	slot := &c.slots[h>>(64-6)]
	if t := slot.Load(); t != nil && t.p == p {
		return t.s
	}
	s := p.String()
	slot.Store(&prefixText{p, s})
	return s
}
