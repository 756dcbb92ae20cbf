package geofeed

import (
	"bytes"
	"net/netip"
)

// parsePrefix parses b exactly as netip.ParsePrefix parses string(b), but
// without allocating: the reader calls it on every data line. ok is false for
// anything netip.ParsePrefix rejects and also for IPv6 zones, which netip
// rejects in prefixes anyway; the caller then takes the slow path through
// prefix.Parse, which allocates but names the problem. FuzzParsePrefix keeps
// the two in step.
func parsePrefix(b []byte) (netip.Prefix, bool) {
	i := bytes.LastIndexByte(b, '/')
	if i < 0 {
		return netip.Prefix{}, false
	}
	a, ok := parseAddr(b[:i])
	if !ok {
		return netip.Prefix{}, false
	}
	bits, ok := parseBits(b[i+1:])
	if !ok || bits > a.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, bits), true
}

// parseBits accepts a decimal prefix length without sign or leading zero.
func parseBits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 3 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseAddr dispatches like netip.ParseAddr: the first '.' or ':' decides.
func parseAddr(b []byte) (netip.Addr, bool) {
	for _, c := range b {
		switch c {
		case '.':
			var f [4]byte
			if !parse4(b, f[:]) {
				return netip.Addr{}, false
			}
			return netip.AddrFrom4(f), true
		case ':':
			return parse6(b)
		case '%':
			return netip.Addr{}, false
		}
	}
	return netip.Addr{}, false
}

// parse4 parses dotted-quad b into f (len 4): four decimal octets, no
// leading zeros, each at most 255.
func parse4(b []byte, f []byte) bool {
	val, pos, digits := 0, 0, 0
	for i, c := range b {
		switch {
		case '0' <= c && c <= '9':
			if digits == 1 && val == 0 {
				return false
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return false
			}
		case c == '.':
			if i == 0 || i == len(b)-1 || b[i-1] == '.' || pos == 3 {
				return false
			}
			f[pos] = byte(val)
			pos++
			val, digits = 0, 0
		default:
			return false
		}
	}
	if pos < 3 {
		return false
	}
	f[3] = byte(val)
	return true
}

// parse6 is net/netip's parseIPv6 on a byte slice, without zones.
func parse6(s []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis = 0
		s = s[2:]
		if len(s) == 0 {
			return netip.IPv6Unspecified(), true
		}
	}
	i := 0
	for i < 16 {
		off := 0
		acc := uint32(0)
		for ; off < len(s); off++ {
			c := s[off]
			switch {
			case '0' <= c && c <= '9':
				acc = acc<<4 + uint32(c-'0')
			case 'a' <= c && c <= 'f':
				acc = acc<<4 + uint32(c-'a'+10)
			case 'A' <= c && c <= 'F':
				acc = acc<<4 + uint32(c-'A'+10)
			default:
				goto done
			}
			if off > 3 || acc > 0xffff {
				return netip.Addr{}, false
			}
		}
	done:
		if off == 0 {
			return netip.Addr{}, false
		}
		if off < len(s) && s[off] == '.' {
			if (ellipsis < 0 && i != 12) || i+4 > 16 {
				return netip.Addr{}, false
			}
			if !parse4(s, ip[i:i+4]) {
				return netip.Addr{}, false
			}
			s = nil
			i += 4
			break
		}
		ip[i] = byte(acc >> 8)
		ip[i+1] = byte(acc)
		i += 2
		s = s[off:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return netip.Addr{}, false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = i
			s = s[1:]
			if len(s) == 0 {
				break
			}
		}
	}
	if len(s) != 0 {
		return netip.Addr{}, false
	}
	if i < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		n := 16 - i
		for j := i - 1; j >= ellipsis; j-- {
			ip[j+n] = ip[j]
		}
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(ip), true
}
