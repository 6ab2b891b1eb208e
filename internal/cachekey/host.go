package cachekey

import (
	"bytes"
	"fmt"
	"net/netip"
)

// maxHostName is the longest DNS name accepted, without its trailing dot.
const maxHostName = 253

// appendHost appends the canonical form of host h to buf. It allocates only
// when it fails or when buf must grow.
func appendHost(buf, h []byte) ([]byte, error) {
	if len(h) == 0 {
		return buf, fmt.Errorf("%w: empty", ErrBadHost)
	}
	var port []byte
	hasPort := false
	if h[0] == '[' {
		end := bytes.IndexByte(h, ']')
		if end < 0 {
			return buf, fmt.Errorf("%w: unclosed '['", ErrBadHost)
		}
		ip, ok := parseIPv6(h[1:end])
		if !ok {
			return buf, fmt.Errorf("%w: bad IPv6 literal", ErrBadHost)
		}
		if rest := h[end+1:]; len(rest) > 0 {
			if rest[0] != ':' {
				return buf, fmt.Errorf("%w: junk after IPv6 literal", ErrBadHost)
			}
			port, hasPort = rest[1:], true
		}
		buf = append(buf, '[')
		buf = netip.AddrFrom16(ip).AppendTo(buf)
		buf = append(buf, ']')
	} else {
		name := h
		if i := bytes.IndexByte(h, ':'); i >= 0 {
			name, port, hasPort = h[:i], h[i+1:], true
		}
		if len(name) > 0 && name[len(name)-1] == '.' {
			name = name[:len(name)-1]
		}
		if len(name) == 0 || len(name) > maxHostName {
			return buf, fmt.Errorf("%w: name length %d", ErrBadHost, len(name))
		}
		start := len(buf)
		prev := byte('.') // a name may not start with an empty label
		for _, c := range name {
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c == '.':
				if prev == '.' {
					return buf[:start], fmt.Errorf("%w: empty label", ErrBadHost)
				}
			default:
				return buf[:start], fmt.Errorf("%w: byte %#02x in name", ErrBadHost, c)
			}
			buf = append(buf, c)
			prev = c
		}
		if prev == '.' {
			return buf[:start], fmt.Errorf("%w: empty label", ErrBadHost)
		}
	}
	if !hasPort {
		return buf, nil
	}
	if !validPort(port) {
		return buf, fmt.Errorf("%w: bad port %q", ErrBadHost, port)
	}
	if string(port) == "80" || string(port) == "443" {
		return buf, nil
	}
	buf = append(buf, ':')
	return append(buf, port...), nil
}

// validPort reports whether p is a decimal port 1–65535 without a leading 0.
func validPort(p []byte) bool {
	if len(p) == 0 || len(p) > 5 || p[0] == '0' {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// parseIPv6 parses an IPv6 address without a zone, like netip.ParseAddr but
// on bytes and without allocating. An embedded IPv4 tail ("::ffff:1.2.3.4")
// is accepted; an IPv4 address alone is not.
func parseIPv6(s []byte) (ip [16]byte, ok bool) {
	ellipsis := -1 // index in ip where "::" stands, or -1
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis = 0
		s = s[2:]
		if len(s) == 0 {
			return ip, true
		}
	}
	i := 0
	for i < 16 {
		off, acc := 0, 0
		for ; off < len(s); off++ {
			d := unhex(s[off])
			if d < 0 {
				break
			}
			if off == 4 {
				return ip, false
			}
			acc = acc<<4 | d
		}
		if off == 0 {
			return ip, false
		}
		if off < len(s) && s[off] == '.' {
			// An IPv4 tail fills the last four bytes.
			if (ellipsis < 0 && i != 12) || i+4 > 16 {
				return ip, false
			}
			v4, ok := parseIPv4(s)
			if !ok {
				return ip, false
			}
			copy(ip[i:], v4[:])
			i += 4
			s = nil
			break
		}
		ip[i], ip[i+1] = byte(acc>>8), byte(acc)
		i += 2
		s = s[off:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return ip, false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return ip, false
			}
			ellipsis = i
			s = s[1:]
			if len(s) == 0 {
				break
			}
		}
	}
	if len(s) != 0 {
		return ip, false
	}
	if i < 16 {
		if ellipsis < 0 {
			return ip, false
		}
		n := 16 - i
		copy(ip[ellipsis+n:], ip[ellipsis:i])
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return ip, false // "::" must stand for at least one group
	}
	return ip, true
}

// parseIPv4 parses a dotted-quad IPv4 address without leading zeros.
func parseIPv4(s []byte) (ip [4]byte, ok bool) {
	parts, val, digits := 0, 0, 0
	for k := 0; k <= len(s); k++ {
		if k == len(s) || s[k] == '.' {
			if digits == 0 || parts == 4 {
				return ip, false
			}
			ip[parts] = byte(val)
			parts++
			val, digits = 0, 0
			continue
		}
		c := s[k]
		if c < '0' || c > '9' || (digits == 1 && val == 0) {
			return ip, false
		}
		val = val*10 + int(c-'0')
		digits++
		if val > 255 {
			return ip, false
		}
	}
	return ip, parts == 4
}
