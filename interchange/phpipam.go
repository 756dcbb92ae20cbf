package interchange

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/cadastre-ipam/cadastre/registry"
)

// phpIPAM's export columns (its subnet and IP address exports, saved as
// CSV with their header row), by the header's lower-case text.
var phpColumns = map[string]string{
	"section": "section", "subnet": "subnet", "mask": "mask", "ip address": "ip", "ip_addr": "ip", "ip": "ip",
	"hostname": "hostname", "dns_name": "hostname", "description": "description", "vrf": "vrf", "owner": "owner",
	"state": "state", "tag": "state", "gateway": "gateway", "is_gateway": "gateway",
}

// ReadPHPIPAM maps phpIPAM's CSV export to a dump: subnets become pools
// (region: --region, else the section's name), addresses /32 or /128
// assignments of the subnet holding them (Hostname the name, Owner the
// tenant, Description the resource). It lists what it cannot map.
func ReadPHPIPAM(data []byte, opt ForeignOptions) (registry.Dump, []Unmapped, error) {
	d := registry.Dump{Format: registry.DumpFormat, Version: registry.DumpVersion}
	var un []Unmapped
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return d, nil, fmt.Errorf("line 1: this is JSON, not phpIPAM's CSV export (NetBox's is --from netbox, cadastre's needs no --from): %w", ErrInvalid)
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = 0
	head, err := cr.Read()
	if err != nil {
		return d, nil, fmt.Errorf("line 1: %w: %w", csvErr(err), ErrInvalid)
	}
	if len(head) > 0 && strings.HasPrefix(head[0], registry.DumpFormat) {
		return d, nil, fmt.Errorf("line 1: this is a cadastre export: import it without --from: %w", ErrInvalid)
	}
	col := map[string]int{}
	for i, h := range head {
		k, ok := phpColumns[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))]
		if !ok {
			un = append(un, Unmapped{"line 1", "column " + strconv.Quote(h), "not mapped"})
			continue
		}
		if _, dup := col[k]; dup {
			return d, nil, fmt.Errorf("line 1: column %q given twice: %w", h, ErrInvalid)
		}
		col[k] = i
	}
	_, hasIP := col["ip"]
	_, hasSubnet := col["subnet"]
	if !hasIP && !hasSubnet {
		return d, nil, fmt.Errorf("line 1: no \"Subnet\" nor \"IP Address\" column: not a phpIPAM export: %w", ErrInvalid)
	}
	var cs []candidate
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return d, nil, fmt.Errorf("%w: %w", csvErr(err), ErrInvalid)
		}
		line, _ := cr.FieldPos(0)
		at := fmt.Sprintf("line %d", line)
		get := func(k string) string {
			if i, ok := col[k]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		if v := get("vrf"); v != "" && !strings.EqualFold(v, "default") {
			un = append(un, Unmapped{at, cmpOr(get("ip"), get("subnet")), fmt.Sprintf("in VRF %s: spaces (VRFs) are not supported by this version", v)})
			continue
		}
		if ip := get("ip"); ip != "" {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return d, nil, fmt.Errorf("%s: IP address %q: not an address: %w", at, ip, ErrInvalid)
			}
			what := "address " + ip
			host := netip.PrefixFrom(a, a.BitLen())
			// A gateway or a reserved address is space never handed out:
			// a reservation of the subnet holding it.
			if g := strings.ToLower(get("gateway")); g == "yes" || g == "1" {
				cs = append(cs, candidate{at: at, p: host, leafOnly: true, reserved: phpReason("gateway", get("description"), get("hostname"))})
				continue
			}
			if s := strings.ToLower(get("state")); s == "reserved" || s == "2" {
				cs = append(cs, candidate{at: at, p: host, leafOnly: true, reserved: phpReason("reserved in phpIPAM", get("description"), "")})
				continue
			}
			if s := strings.ToLower(get("state")); s != "" && s != "used" && s != "active" && s != "offline" && s != "1" {
				un = append(un, Unmapped{at, what, fmt.Sprintf("state %q: only used, reserved and gateway addresses are mapped", get("state"))})
				continue
			}
			c := candidate{at: at, p: host, leafOnly: true}
			c.rec.Tenant, c.rec.Resource = get("owner"), get("description")
			c.rec.Name = dnsName(at, what, get("hostname"), &un)
			cs = append(cs, c)
			continue
		}
		s := get("subnet")
		if s == "" {
			un = append(un, Unmapped{at, "row", "neither subnet nor IP address"})
			continue
		}
		if m := get("mask"); m != "" && !strings.Contains(s, "/") {
			s += "/" + m
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return d, nil, fmt.Errorf("%s: subnet %q: not a prefix: %w", at, s, ErrInvalid)
		}
		region := opt.Region
		if region == "" {
			region = slug(get("section"))
		}
		cs = append(cs, candidate{at: at, p: p, pool: true, region: region})
	}
	if err := place(cs, ForeignOptions{Region: opt.Region, TopLevel: "pool"}, &d, &un); err != nil {
		return d, nil, err
	}
	if len(d.Pools) == 0 && len(d.Assignments) == 0 && len(un) == 0 {
		return d, nil, errors.New("nothing to import: the file has no subnet nor address")
	}
	return d, un, nil
}

// phpReason is the reason of a reservation made of a phpIPAM address:
// what it is, with its description or hostname.
func phpReason(what, description, hostname string) string {
	if d := cmpOr(description, hostname); d != "" {
		if what == "reserved in phpIPAM" {
			return d
		}
		return what + ": " + d
	}
	return what
}
