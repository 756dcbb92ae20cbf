package interchange

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// kinds are the record kinds of a dump, in the order they are written and
// loaded. Adding a kind is one entry here (with a list in registry.Dump)
// and one function binding its CSV columns; JSON follows the record's
// struct tags.
var kinds = []kind{
	kindOf("tenant", "tenants", func(d *registry.Dump) *[]registry.TenantRecord { return &d.Tenants }, tenantColumns),
	kindOf("region", "regions", func(d *registry.Dump) *[]registry.RegionRecord { return &d.Regions }, regionColumns),
	kindOf("space", "spaces", func(d *registry.Dump) *[]registry.SpaceRecord { return &d.Spaces }, spaceColumns),
	kindOf("block", "blocks", func(d *registry.Dump) *[]registry.BlockRecord { return &d.Blocks }, blockColumns),
	kindOf("pool", "pools", func(d *registry.Dump) *[]registry.PoolRecord { return &d.Pools }, poolColumns),
	kindOf("relocation", "relocations", func(d *registry.Dump) *[]registry.RelocationRecord { return &d.Relocations }, relocationColumns),
	kindOf("child_pool", "child_pools", func(d *registry.Dump) *[]registry.ChildPoolRecord { return &d.ChildPools }, childPoolColumns),
	kindOf("reservation", "reservations", func(d *registry.Dump) *[]registry.ReservationRecord { return &d.Reservations }, reservationColumns),
	kindOf("assignment", "assignments", func(d *registry.Dump) *[]registry.AssignmentRecord { return &d.Assignments }, assignmentColumns),
}

func tenantColumns(t *registry.TenantRecord) []column {
	return []column{text("name", &t.Name), list("names", &t.Names), optInt("max_ipv4", &t.MaxIPv4), optInt("max_ipv6", &t.MaxIPv6),
		text("note", &t.Note), flag("may_delegate", &t.MayDelegate), at("created_at", &t.CreatedAt)}
}

func regionColumns(g *registry.RegionRecord) []column {
	return []column{text("name", &g.Name), text("country", &g.Location.Country), text("subdivision", &g.Location.Subdivision),
		text("city", &g.Location.City), textual("borrow_from", &g.Borrow), integer("borrow_unit", &g.BorrowBits), tags("tags", &g.Tags),
		at("created_at", &g.CreatedAt)}
}

func spaceColumns(s *registry.SpaceRecord) []column {
	return []column{text("name", &s.Name), text("note", &s.Note), at("created_at", &s.CreatedAt)}
}

func reservationColumns(v *registry.ReservationRecord) []column {
	return []column{pfx("prefix", &v.Prefix), text("reason", &v.Reason), optAt("until", &v.Until), at("created_at", &v.CreatedAt)}
}

func blockColumns(b *registry.BlockRecord) []column {
	return []column{pfx("prefix", &b.Prefix), text("source", (*string)(&b.Source)), text("registry", &b.Registry),
		text("registered_country", &b.RegisteredCountry), text("from", &b.From), money("price", &b.Price), text("date", &b.Date),
		text("note", &b.Note), text("space", &b.Space), tags("tags", &b.Tags), at("created_at", &b.CreatedAt)}
}

func poolColumns(p *registry.PoolRecord) []column {
	return []column{pfx("prefix", &p.Prefix), text("region", &p.Region), text("purpose", &p.Purpose), text("space", &p.Space),
		optBool("use_all", &p.UseAll), tags("tags", &p.Tags), at("created_at", &p.CreatedAt)}
}

func relocationColumns(r *registry.RelocationRecord) []column {
	return []column{pfx("prefix", &r.Prefix), pfx("from_pool", &r.FromPool), text("from_region", &r.FromRegion),
		text("to_region", &r.ToRegion), text("reason", &r.Reason), at("created_at", &r.CreatedAt)}
}

func childPoolColumns(c *registry.ChildPoolRecord) []column {
	return []column{text("name", &c.Name), pfx("prefix", &c.Prefix), pfx("parent", &c.Parent), text("region", &c.Region),
		text("tenant", &c.Tenant), text("purpose", &c.Purpose), tags("tags", &c.Tags), at("created_at", &c.CreatedAt)}
}

func assignmentColumns(a *registry.AssignmentRecord) []column {
	return []column{pfx("prefix", &a.Prefix), pfx("pool", &a.Pool), text("region", &a.Region), text("child_pool", &a.ChildPool), text("state", (*string)(&a.State)),
		text("tenant", &a.Tenant), text("resource", &a.Resource), text("name", &a.Name), tags("tags", &a.Tags), at("created_at", &a.CreatedAt),
		optAt("released_at", &a.ReleasedAt), optAt("quarantine_until", &a.QuarantineUntil)}
}

// kind is what the codecs need of one record kind.
type kind struct {
	name, list string
	len        func(*registry.Dump) int
	record     func(*registry.Dump, int) any
	decode     func(*json.Decoder, *registry.Dump, string) error
	add        func(*registry.Dump) int
	setAt      func(*registry.Dump, int, string)
	// columns binds the CSV columns of record i (of a zero record when
	// i < 0, for the names).
	columns func(*registry.Dump, int) []column
}

// positioned is a pointer to a record, which says where it was read.
type positioned[T any] interface {
	*T
	SetAt(string)
}

func kindOf[T any, P positioned[T]](name, list string, slice func(*registry.Dump) *[]T, cols func(*T) []column) kind {
	return kind{
		name: name, list: list,
		len:    func(d *registry.Dump) int { return len(*slice(d)) },
		record: func(d *registry.Dump, i int) any { return &(*slice(d))[i] },
		decode: func(dec *json.Decoder, d *registry.Dump, at string) error {
			var r T
			if err := dec.Decode(&r); err != nil {
				return err
			}
			P(&r).SetAt(at)
			s := slice(d)
			*s = append(*s, r)
			return nil
		},
		add: func(d *registry.Dump) int {
			s := slice(d)
			var zero T
			*s = append(*s, zero)
			return len(*s) - 1
		},
		setAt: func(d *registry.Dump, i int, at string) { P(&(*slice(d))[i]).SetAt(at) },
		columns: func(d *registry.Dump, i int) []column {
			if i < 0 {
				var zero T
				return cols(&zero)
			}
			return cols(&(*slice(d))[i])
		},
	}
}

// column binds one CSV column to a field of a record.
type column struct {
	name string
	get  func() string
	set  func(string) error
}

func text(name string, v *string) column {
	return column{name, func() string { return *v }, func(s string) error { *v = s; return nil }}
}

// list is a space-separated list (DNS suffixes have no spaces).
func list(name string, v *[]string) column {
	return column{name, func() string { return strings.Join(*v, " ") }, func(s string) error { *v = strings.Fields(s); return nil }}
}

func integer(name string, v *int) column {
	return column{name, func() string { return strconv.Itoa(*v) }, func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q: not a whole number", s)
		}
		*v = n
		return nil
	}}
}

func optInt(name string, v **int64) column {
	return column{name, func() string {
		if *v == nil {
			return ""
		}
		return strconv.FormatInt(**v, 10)
	}, func(s string) error {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q: not a whole number", s)
		}
		*v = &n
		return nil
	}}
}

func pfx(name string, v *netip.Prefix) column {
	return column{name, func() string {
		if !v.IsValid() {
			return ""
		}
		return v.String()
	}, func(s string) error {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("%q: not a prefix", s)
		}
		*v = p
		return nil
	}}
}

func at(name string, v *time.Time) column {
	return column{name, func() string {
		if v.IsZero() {
			return ""
		}
		return v.Format(time.RFC3339Nano)
	}, func(s string) error {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("%q: not a time (RFC 3339, such as 2026-01-02T15:04:05Z)", s)
		}
		*v = t
		return nil
	}}
}

func optAt(name string, v **time.Time) column {
	var t time.Time
	c := at(name, &t)
	return column{name, func() string {
		if *v == nil {
			return ""
		}
		t = **v
		return c.get()
	}, func(s string) error {
		if err := c.set(s); err != nil {
			return err
		}
		x := t
		*v = &x
		return nil
	}}
}

// textual is a value with a text form (a borrow policy).
func textual(name string, v interface {
	MarshalText() ([]byte, error)
	UnmarshalText([]byte) error
}) column {
	return column{name, func() string { b, _ := v.MarshalText(); return string(b) }, func(s string) error { return v.UnmarshalText([]byte(s)) }}
}

// money is "7500000.00 USD".
func money(name string, v **registry.Money) column {
	return column{name, func() string {
		if *v == nil {
			return ""
		}
		return (*v).String()
	}, func(s string) error {
		amount, cur, ok := strings.Cut(s, " ")
		if !ok {
			return fmt.Errorf("%q: write an amount and its currency, such as 7500000.00 USD", s)
		}
		m, err := registry.ParseMoney(amount, cur)
		if err != nil {
			return err
		}
		*v = &m
		return nil
	}}
}

// optBool is true or false; empty is unset (nil).
// flag is a yes-or-no that is usually no: "true", or empty for false.
func flag(name string, v *bool) column {
	return column{name, func() string {
		if *v {
			return "true"
		}
		return ""
	}, func(s string) error {
		switch s {
		case "", "false":
			*v = false
		case "true":
			*v = true
		default:
			return fmt.Errorf("%q: write true, false or nothing", s)
		}
		return nil
	}}
}

func optBool(name string, v **bool) column {
	return column{name, func() string {
		if *v == nil {
			return ""
		}
		return strconv.FormatBool(**v)
	}, func(s string) error {
		b, err := strconv.ParseBool(s)
		if err != nil || (s != "true" && s != "false") {
			return fmt.Errorf("%q: write true or false", s)
		}
		*v = &b
		return nil
	}}
}

// tags is KEY=VALUE pairs in URL query form, keys sorted:
// "env=prod&team=net+ops" (a value may hold spaces, '=' and '&').
func tags(name string, v *registry.Tags) column {
	return column{name, func() string {
		if len(*v) == 0 {
			return ""
		}
		q := url.Values{}
		for k, x := range *v {
			q.Set(k, x)
		}
		return q.Encode()
	}, func(s string) error {
		q, err := url.ParseQuery(s)
		if err != nil {
			return fmt.Errorf("%q: write KEY=VALUE pairs joined by '&', URL-encoded (env=prod&team=net+ops)", s)
		}
		t := registry.Tags{}
		for k, xs := range q {
			if len(xs) > 1 {
				return fmt.Errorf("tag %s: given twice", k)
			}
			t[k] = xs[0]
		}
		*v = t
		return nil
	}}
}
