package rowscan

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cadastre-ipam/cadastre/registry"
)

// TenantCols are the columns Tenant scans, in order.
const TenantCols = `id, name, names, max_ipv4, max_ipv6, used_ipv4, used_ipv6, note, created_at, may_delegate`

// Tenant scans a row of TenantCols.
func Tenant(rows Scanner) (registry.Tenant, error) {
	var t registry.Tenant
	var names string
	var created int64
	if err := rows.Scan(&t.ID, &t.Name, &names, &t.MaxIPv4, &t.MaxIPv6, &t.UsedIPv4, &t.UsedIPv6, &t.Note, &created, &t.MayDelegate); err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(names), &t.Names); err != nil {
		return t, fmt.Errorf("stored tenant %s: names %q: %w", t.Name, names, err)
	}
	if t.Names == nil {
		t.Names = []string{}
	}
	t.CreatedAt = FromMicros(created)
	return t, nil
}

// TenantNames is how a tenant's suffixes are stored: a JSON list.
func TenantNames(t registry.Tenant) string {
	if len(t.Names) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(t.Names)
	return string(b)
}

// NameArgs are the forms a name is compared in: with the trailing dot
// (as DNS tables keep names) and without (as an assignment may).
func NameArgs(fqdn string) (dotted, bare string) {
	if fqdn == "" || fqdn[len(fqdn)-1] != '.' {
		return fqdn + ".", fqdn
	}
	return fqdn, fqdn[:len(fqdn)-1]
}

// HolderKind maps the kind codes of a store's NameHolder query.
func HolderKind(code string) (registry.HolderKind, bool) {
	switch code {
	case "assignment":
		return registry.HolderAssignment, true
	case "apex":
		return registry.HolderApex, true
	case "ns":
		return registry.HolderNameServer, true
	case "glue":
		return registry.HolderGlue, true
	case "record":
		return registry.HolderRecord, true
	case "synthesis":
		return registry.HolderSynthesis, true
	case "cut":
		return registry.HolderDelegation, true
	case "delegated":
		return registry.HolderBelowDelegation, true
	}
	return "", false
}

// TemplateShaped reports whether name (with or without the trailing dot)
// is before + X + rest, X one or more characters without a dot: a name a
// synthesis template answers (registry.TenantTx.TemplateNames; the
// stores' queries only narrow the rows with a pattern).
func TemplateShaped(name, before, rest string) bool {
	if name == "" {
		return false
	}
	if name[len(name)-1] != '.' {
		name += "."
	}
	mid, ok := strings.CutPrefix(name, before)
	if !ok {
		return false
	}
	mid, ok = strings.CutSuffix(mid, rest)
	return ok && mid != "" && !strings.Contains(mid, ".")
}

// LikePattern is the SQL LIKE pattern (escape character \) that every
// name TemplateShaped accepts matches, stored with the trailing dot or
// without: before, anything, rest without its dot, anything.
func LikePattern(before, rest string) string {
	esc := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)
	return esc.Replace(before) + "%" + esc.Replace(strings.TrimSuffix(rest, ".")) + "%"
}

// BelowPattern is a LIKE pattern (escape character \) for the names
// below the name apex (no trailing dot): any labels, a dot, apex.
func BelowPattern(apex string) string {
	p := LikePattern("", apex) // %apex%
	return "%." + p[1:len(p)-1]
}
