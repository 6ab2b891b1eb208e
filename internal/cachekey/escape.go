package cachekey

import (
	"fmt"
	"unicode/utf8"
)

// Byte classes, one bit each, in the table class.
const (
	pathRaw     = 1 << iota // kept as is when raw in a path segment
	queryRaw                // kept as is when raw in a query parameter
	pathDecode              // decoded when escaped in a path
	queryDecode             // decoded when escaped in a query parameter
)

// class maps each byte to its classes. RFC 3986: a path keeps pchar
// (unreserved, sub-delims, ':', '@'); a query also keeps '?' (and could keep
// '/', but a raw '/' is escaped there so that every '/' in a key separates
// path segments). Escapes are decoded for pchar bytes except '.' (so that a
// dot segment can only be written raw, and is then rejected), and in a query
// also except '&', '=' and '+', whose raw form means something else.
var class = func() (t [256]uint8) {
	set := func(chars string, bits uint8) {
		for i := range len(chars) {
			t[chars[i]] |= bits
		}
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = pathRaw | queryRaw | pathDecode | queryDecode
		t[c-'a'+'A'] = pathRaw | queryRaw | pathDecode | queryDecode
	}
	set("0123456789-_~!$'()*,;:@", pathRaw|queryRaw|pathDecode|queryDecode)
	set("&=+", pathRaw|queryRaw|pathDecode)
	set(".", pathRaw|queryRaw)
	set("?", queryRaw)
	return t
}()

const upperHex = "0123456789ABCDEF"

// unhex returns the value of hex digit c, or -1.
func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// escapeAt decodes the escape "%XX" that starts at s[i].
func escapeAt(s []byte, i int) (byte, bool) {
	if i+2 >= len(s) {
		return 0, false
	}
	hi, lo := unhex(s[i+1]), unhex(s[i+2])
	if hi < 0 || lo < 0 {
		return 0, false
	}
	return byte(hi<<4 | lo), true
}

func appendEscaped(buf []byte, b byte) []byte {
	return append(buf, '%', upperHex[b>>4], upperHex[b&0xF])
}

func isControl(b byte) bool { return b < 0x20 || b == 0x7F }

// utf8Check validates a byte stream as UTF-8, one byte at a time.
type utf8Check struct {
	pending [utf8.UTFMax]byte
	n       int // bytes of an unfinished sequence in pending
}

// add feeds b and reports whether the stream is still valid.
func (u *utf8Check) add(b byte) bool {
	if u.n == 0 && b < utf8.RuneSelf {
		return true
	}
	u.pending[u.n] = b
	u.n++
	if !utf8.FullRune(u.pending[:u.n]) {
		return true
	}
	// Called after every byte, so a valid sequence is complete exactly now.
	r, size := utf8.DecodeRune(u.pending[:u.n])
	u.n = 0
	return r != utf8.RuneError || size > 1
}

// appendPath appends the normalised form of path p to buf. uriStart is where
// the request-target starts in buf, for the length limit.
func (n *Normalizer) appendPath(buf, p []byte, uriStart int) ([]byte, error) {
	if len(p) == 0 {
		return append(buf, '/'), nil // absolute-form "http://host" or "http://host?q"
	}
	if p[0] != '/' {
		return buf, fmt.Errorf("%w: does not start with '/'", ErrBadPath)
	}
	var u utf8Check
	buf = append(buf, '/')
	seg := len(buf) // where the current segment starts in buf
	for i := 1; i < len(p); {
		c := p[i]
		switch {
		case c == '/':
			if u.n != 0 {
				return buf, fmt.Errorf("%w: invalid UTF-8 at byte %d", ErrBadPath, i)
			}
			i++
			if len(buf) == seg {
				continue // collapse an empty segment
			}
			if err := checkSegment(buf[seg:], i-1); err != nil {
				return buf, err
			}
			buf = append(buf, '/')
			seg = len(buf)
			continue
		case c == '%':
			b, ok := escapeAt(p, i)
			switch {
			case !ok:
				return buf, fmt.Errorf("%w: malformed escape at byte %d", ErrBadPath, i)
			case b == '/' || b == '.' || b == '\\':
				return buf, fmt.Errorf("%w: encoded %q at byte %d", ErrBadPath, b, i)
			case isControl(b):
				return buf, fmt.Errorf("%w: encoded control byte at byte %d", ErrBadPath, i)
			case !u.add(b):
				return buf, fmt.Errorf("%w: invalid UTF-8 at byte %d", ErrBadPath, i)
			case class[b]&pathDecode != 0:
				buf = append(buf, b)
			default:
				buf = appendEscaped(buf, b)
			}
			i += 3
		case class[c]&pathRaw != 0:
			if u.n != 0 {
				return buf, fmt.Errorf("%w: invalid UTF-8 at byte %d", ErrBadPath, i)
			}
			buf = append(buf, c)
			i++
		case isControl(c) || c == '\\' || c == '#':
			return buf, fmt.Errorf("%w: raw %q at byte %d", ErrBadPath, c, i)
		default: // non-ASCII or ASCII that may not appear raw in a path
			if !u.add(c) {
				return buf, fmt.Errorf("%w: invalid UTF-8 at byte %d", ErrBadPath, i)
			}
			buf = appendEscaped(buf, c)
			i++
		}
		if len(buf)-seg > n.maxSeg {
			return buf, fmt.Errorf("%w: path segment over %d bytes", ErrTooLong, n.maxSeg)
		}
		if len(buf)-uriStart > n.maxURI {
			return buf, fmt.Errorf("%w: request-target over %d bytes", ErrTooLong, n.maxURI)
		}
	}
	if u.n != 0 {
		return buf, fmt.Errorf("%w: truncated UTF-8 at end", ErrBadPath)
	}
	return buf, checkSegment(buf[seg:], len(p))
}

// checkSegment rejects the dot segments "." and "..". at is the segment's end
// in the raw path, for the message.
func checkSegment(seg []byte, at int) error {
	if string(seg) == "." || string(seg) == ".." {
		return fmt.Errorf("%w: dot segment before byte %d", ErrBadPath, at)
	}
	return nil
}

// appendParam appends the normalised form of query parameter p to buf and
// returns the index in buf where its name ends (the first raw '=', or the end).
func appendParam(buf, p []byte) ([]byte, int, error) {
	nameEnd := -1
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '%':
			b, ok := escapeAt(p, i)
			switch {
			case !ok:
				return buf, 0, fmt.Errorf("%w: malformed escape", ErrBadQuery)
			case isControl(b):
				return buf, 0, fmt.Errorf("%w: encoded control byte", ErrBadQuery)
			case class[b]&queryDecode != 0:
				buf = append(buf, b)
			default:
				buf = appendEscaped(buf, b)
			}
			i += 3
			continue
		case class[c]&queryRaw != 0:
			if c == '=' && nameEnd < 0 {
				nameEnd = len(buf)
			}
			buf = append(buf, c)
		case isControl(c):
			return buf, 0, fmt.Errorf("%w: raw control byte", ErrBadQuery)
		case c == '#':
			return buf, 0, fmt.Errorf("%w: fragment in request-target", ErrBadPath)
		default:
			buf = appendEscaped(buf, c)
		}
		i++
	}
	if nameEnd < 0 {
		nameEnd = len(buf)
	}
	return buf, nameEnd, nil
}

// nextDecoded returns the decoded byte of the normalised name s at i ('+' is a
// space, "%XX" a byte) and the index after it.
func nextDecoded(s []byte, i int) (byte, int) {
	switch s[i] {
	case '+':
		return ' ', i + 1
	case '%':
		if b, ok := escapeAt(s, i); ok {
			return b, i + 3
		}
	}
	return s[i], i + 1
}

// appendDecoded appends the decoded form of the normalised name s to buf.
func appendDecoded(buf, s []byte) []byte {
	for i := 0; i < len(s); {
		var b byte
		b, i = nextDecoded(s, i)
		buf = append(buf, b)
	}
	return buf
}

// compareDecoded compares the decoded forms of normalised names a and b.
func compareDecoded(a, b []byte) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		var x, y byte
		x, i = nextDecoded(a, i)
		y, j = nextDecoded(b, j)
		if x != y {
			return int(x) - int(y)
		}
	}
	switch {
	case i < len(a):
		return 1
	case j < len(b):
		return -1
	}
	return 0
}
