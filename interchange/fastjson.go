package interchange

import (
	"encoding/json"

	"github.com/cadastre-ipam/cadastre/internal/jsonfast"

	"github.com/cadastre-ipam/cadastre/registry"
)

// appendAssignment appends what json.Marshal(a) gives, without its
// reflection: an export writes millions of these, and marshalling was a
// fifth of its time. Records it would not write byte for byte the same
// (tags, a text that needs escaping, a year outside 0-9999) go through
// json.Marshal; TestAppendAssignment holds the two together.
func appendAssignment(b []byte, a *registry.AssignmentRecord) ([]byte, bool) {
	if len(a.Tags) > 0 || !jsonfast.Plain(a.Region) || !jsonfast.Plain(a.ChildPool) || !jsonfast.Plain(string(a.State)) || !jsonfast.Plain(a.Tenant) ||
		!jsonfast.Plain(a.Resource) || !jsonfast.Plain(a.Name) || !jsonfast.Plain(a.Space) || !a.Prefix.IsValid() || !a.Pool.IsValid() || !jsonfast.PlainTime(a.CreatedAt) ||
		(a.ReleasedAt != nil && !jsonfast.PlainTime(*a.ReleasedAt)) || (a.QuarantineUntil != nil && !jsonfast.PlainTime(*a.QuarantineUntil)) {
		return b, false
	}
	b = append(b, `{"prefix":"`...)
	b = a.Prefix.AppendTo(b)
	b = append(b, `","pool":"`...)
	b = a.Pool.AppendTo(b)
	b = append(b, `","region":"`...)
	b = append(b, a.Region...)
	b = append(b, '"')
	b = field(b, "child_pool", a.ChildPool)
	b = append(b, `,"state":"`...)
	b = append(b, a.State...)
	b = append(b, '"')
	b = field(b, "tenant", a.Tenant)
	b = field(b, "resource", a.Resource)
	b = field(b, "name", a.Name)
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
	b = field(b, "space", a.Space)
	return append(b, '}'), true
}

// field appends an omitempty string field.
func field(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":"`...)
	b = append(b, v...)
	return append(b, '"')
}

// marshalRecord is json.Marshal of a record, the assignments' by
// appendAssignment where it can.
func marshalRecord(buf []byte, rec any) ([]byte, error) {
	if a, ok := rec.(*registry.AssignmentRecord); ok {
		if b, ok := appendAssignment(buf[:0], a); ok {
			return b, nil
		}
	}
	return json.Marshal(rec)
}
