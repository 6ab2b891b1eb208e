package store

import "errors"

// Errors specific to the disk tier. Absent pages and full disks are reported
// with the shared edge.ErrNotFound and edge.ErrStoreFull, wrapped with context.
var (
	// ErrBadKey means a key cannot be mapped to a directory inside the store
	// root: it is not a normalised cache key (empty or "."/".." segments,
	// backslashes, control bytes, over-long names, …). Callers should treat
	// it as a client error (400), never as a server error.
	ErrBadKey = errors.New("store: bad key")
	// ErrBadTag means a page carries a tag the tag index cannot hold: empty,
	// containing NUL, or longer than 1024 bytes.
	ErrBadTag = errors.New("store: bad tag")
	// ErrLocked means another process (or another Store in this process)
	// already has the store directory open.
	ErrLocked = errors.New("store: directory in use by another edge process")
)
