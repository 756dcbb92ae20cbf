package interchange

import (
	"encoding/json"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// appendAssignment appends what json.Marshal(a) gives, without its
// reflection: an export writes millions of these, and marshalling was a
// fifth of its time. Records it would not write byte for byte the same
// (tags, a text that needs escaping, a year outside 0-9999) go through
// json.Marshal; TestAppendAssignment holds the two together.
func appendAssignment(b []byte, a *registry.AssignmentRecord) ([]byte, bool) {
	if len(a.Tags) > 0 || !plain(a.Region) || !plain(a.ChildPool) || !plain(string(a.State)) || !plain(a.Tenant) ||
		!plain(a.Resource) || !plain(a.Name) || !plain(a.Space) || !a.Prefix.IsValid() || !a.Pool.IsValid() || !plainTime(a.CreatedAt) ||
		(a.ReleasedAt != nil && !plainTime(*a.ReleasedAt)) || (a.QuarantineUntil != nil && !plainTime(*a.QuarantineUntil)) {
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
	b = a.CreatedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if a.ReleasedAt != nil {
		b = append(b, `,"released_at":"`...)
		b = a.ReleasedAt.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if a.QuarantineUntil != nil {
		b = append(b, `,"quarantine_until":"`...)
		b = a.QuarantineUntil.AppendFormat(b, time.RFC3339Nano)
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

// plain says whether json.Marshal writes s as it is, between quotes:
// printable ASCII other than the quote, the backslash and the characters
// it escapes for HTML.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// plainTime says whether time.Time's MarshalJSON is RFC 3339 with
// nanoseconds as AppendFormat writes it (it refuses other years).
func plainTime(t time.Time) bool {
	y := t.Year()
	if y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	return off%60 == 0
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
