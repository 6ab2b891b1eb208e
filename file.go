package edge

import "os"

// File is one representation of a stored page, opened so that it can be
// sent straight from the file (sendfile) instead of being read into memory
// first: a disk hit then costs no copy through user space and no garbage.
//
// Page carries the metadata (status, headers, validators, staleness) and
// no bodies; Encoding says which representation Body holds, Size its
// length in bytes. Body is positioned at offset 0 and belongs to whoever
// received the File: it must be closed exactly once, whether or not it is
// sent. A File is not safe for concurrent use.
type File struct {
	Page     *Page
	Encoding Encoding
	Body     *os.File
	Size     int64
}
