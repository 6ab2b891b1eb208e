// Package cachekey owns edge's cache key: it turns a request's Host header and
// raw request-target into the key a page is stored under, the canonical host
// and the request-target sent to the origin, or rejects the request. It is
// pure (no I/O, standard library only); proxy calls Normalize on every
// request, and gen and invalidate call FromURL for URLs in lists, sitemaps and
// invalidation messages.
//
// The central promise is that the bytes of the key are the bytes sent to the
// origin: when a Result is not Bypass, Result.URI equals the key without its
// host, byte for byte. Nothing is decoded for the key that is not also decoded
// for the origin, so the origin can never see a different page than the key
// names (reliability.md §2.2, §2.15).
//
// # Key format
//
//	key   = [host] path ["?" query]
//	host  = canonical host, present only when Rules.Hosts is empty; it never
//	        contains '/' or '?'
//	path  = "/" *( segment "/" ) [segment]; always starts with '/'
//	query = param *( "&" param ); never empty when the '?' is present
//
// Split takes a key apart again. A key contains only printable ASCII
// (0x21–0x7E); every '/' in it separates path segments, and it never
// contains "//", a "." or ".." segment, '\', '#' or a control byte. Every
// '%' in a key starts an escape with two upper-case hex digits, and '@' and
// 'i' are never escaped, so a key never contains the text "%40" or "%69":
// the disk layer may use those as escapes of its own.
//
// # Host
//
// A host is lower-cased, loses one trailing dot and a default port (":80",
// ":443"), and must then be a DNS-style name (a-z, 0-9, '-', non-empty
// labels separated by '.', at most 253 bytes) or a bracketed IPv6 literal
// (rewritten to its RFC 5952 form), optionally followed by ":port" (1–65535,
// no leading zero). With Rules.Hosts set, the host must be one of them, the
// key carries no host, and the origin always gets Hosts[0]. An absolute-form
// request-target ("http://host/path") is accepted only if its host is the
// Host header's host.
//
// # Path
//
// Escapes of bytes that are unreserved (except '.'), sub-delims, ':' or '@'
// are decoded; other escapes are kept with upper-case hex; raw bytes that may
// not appear in a path (non-ASCII, space, '"', '<', '>', '[', ']', '^', '`',
// '{', '|', '}') are escaped. Empty segments collapse ("/a//b" is "/a/b"); a
// trailing '/' is kept and case is preserved. Encoded '/', '.', '\' and
// control bytes, raw '\' and control bytes, '.' and ".." segments, a '#'
// anywhere, and paths whose decoded bytes are not UTF-8 are rejected. Double
// encoding stays literal: "%252e" is kept as is.
//
// # Query
//
// The query is split on '&' only (as Django does; ';' is an ordinary byte)
// and empty parameters are dropped. Each parameter is normalised like the
// path, except that encoded '/', '.' and '\' are allowed (and kept encoded),
// a raw '/' is escaped, and "%26", "%3D" and "%2B" are never decoded, since
// '&', '=' and '+' mean something else raw. A parameter's name (before the first '=', decoded,
// '+' read as space) decides its fate: names in Rules.QueryAllow are kept,
// names matching Rules.QueryIgnore are removed from both the key and the
// origin request-target, and any other name makes the Result Bypass: serve
// from the origin, never store. Kept parameters are sorted by decoded name;
// parameters with the same name keep their order, so Django's "last value
// wins" and getlist see the same values as before.
package cachekey
