package edge

import "errors"

// Errors shared across packages. Each package wraps them with %w and context.
var (
	// ErrNotFound means no stored page exists for a key.
	ErrNotFound = errors.New("edge: not found")
	// ErrOriginTimeout means the origin did not answer within a deadline.
	ErrOriginTimeout = errors.New("edge: origin timeout")
	// ErrOriginUnavailable means the origin could not be reached or broke the
	// response (refused, reset, truncated, malformed).
	ErrOriginUnavailable = errors.New("edge: origin unavailable")
	// ErrOverloaded means a bounded queue (origin budget, waiters) is full.
	ErrOverloaded = errors.New("edge: overloaded")
	// ErrStoreFull means a write was refused for lack of space; serving goes on.
	ErrStoreFull = errors.New("edge: store full")
)
