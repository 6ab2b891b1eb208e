package s3store

import "errors"

// Errors of the S3 tier. An absent page is reported with the shared
// edge.ErrNotFound, wrapped with context.
var (
	// ErrBadObject means an object exists but is not a page this package
	// wrote (missing or malformed metadata), or its parts never matched.
	ErrBadObject = errors.New("s3store: bad page object")
	// ErrBackingOff means S3 is not called for a while after a failure;
	// the operation was not attempted.
	ErrBackingOff = errors.New("s3store: s3 unavailable, backing off")
)
