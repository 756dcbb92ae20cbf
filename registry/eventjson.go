package registry

import (
	"encoding/json"
	"strconv"

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
	}
	return json.Marshal(after)
}

// appendAssignmentJSON appends json.Marshal(a), or declines (false) for
// what it does not write the same: a relocation, tags, a text that needs
// escaping, a time outside the plain RFC 3339 years.
func appendAssignmentJSON(b []byte, a *Assignment) ([]byte, bool) {
	if a.Relocation != nil || len(a.Tags) > 0 || !a.Prefix.IsValid() || !a.Pool.IsValid() ||
		!jsonfast.Plain(a.Region) || !jsonfast.Plain(a.Space) || !jsonfast.Plain(a.Tenant) || !jsonfast.Plain(a.Resource) ||
		!jsonfast.Plain(a.Name) || !jsonfast.Plain(string(a.State)) || !jsonfast.PlainTime(a.CreatedAt) ||
		(a.ReleasedAt != nil && !jsonfast.PlainTime(*a.ReleasedAt)) || (a.QuarantineUntil != nil && !jsonfast.PlainTime(*a.QuarantineUntil)) {
		return b, false
	}
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, a.ID, 10)
	b = append(b, `,"prefix":"`...)
	b = a.Prefix.AppendTo(b)
	b = append(b, `","pool_id":`...)
	b = strconv.AppendInt(b, a.PoolID, 10)
	b = append(b, `,"pool":"`...)
	b = a.Pool.AppendTo(b)
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
