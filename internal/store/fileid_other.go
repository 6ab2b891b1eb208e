//go:build !unix

package store

import (
	"errors"
	"io/fs"
	"syscall"
)

// fileIdentity returns the modification time of a file; inodes are not
// available on this platform.
func fileIdentity(fi fs.FileInfo) fileID {
	return fileID{Mtime: fi.ModTime().UnixNano()}
}

// isNoSpace reports whether err means the disk is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC)
}

// isAbsent reports whether err means a file does not exist.
func isAbsent(err error) bool {
	return errors.Is(err, fs.ErrNotExist)
}
