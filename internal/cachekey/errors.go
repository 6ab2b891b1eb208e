package cachekey

import "errors"

// Sentinel errors. Normalize, FromURL and New wrap them with %w and a short
// reason, so callers test with errors.Is and map them to a status code (400
// for all of them; 421 is also reasonable for ErrUnknownHost).
var (
	// ErrBadPath means the path is malformed or dangerous: it does not start
	// with '/', has a fragment, an encoded '/', '.', '\' or control byte, a
	// raw control byte or '\', a malformed escape, a "." or ".." segment, or
	// does not decode to valid UTF-8.
	ErrBadPath = errors.New("cachekey: bad path")
	// ErrBadQuery means the query has a malformed escape or a control byte,
	// raw or encoded.
	ErrBadQuery = errors.New("cachekey: bad query")
	// ErrBadHost means a host is empty or malformed, or an absolute-form
	// request-target names a different host than the Host header.
	ErrBadHost = errors.New("cachekey: bad host")
	// ErrUnknownHost means the host is well formed but not in Rules.Hosts.
	ErrUnknownHost = errors.New("cachekey: unknown host")
	// ErrTooLong means a normalised path segment or the normalised
	// request-target exceeds its limit (Rules.MaxSegmentBytes,
	// Rules.MaxURIBytes).
	ErrTooLong = errors.New("cachekey: too long")
)
