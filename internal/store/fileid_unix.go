//go:build unix

package store

import (
	"errors"
	"io/fs"
	"syscall"
)

// fileIdentity returns the inode and modification time of a file, which
// together tell the file this process wrote from one put in its place.
func fileIdentity(fi fs.FileInfo) fileID {
	id := fileID{Mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.Ino = uint64(st.Ino)
	}
	return id
}

// isNoSpace reports whether err means the disk or the quota is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// isAbsent reports whether err means a file or one of its parents does not
// exist (a parent that is a plain file counts as absent).
func isAbsent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
