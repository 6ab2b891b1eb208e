package store

import (
	"errors"
	"io"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// beneath holds the store root opened as a plain directory for openat2,
// which resolves a whole relative path in one system call while refusing
// to leave the directory or to follow a symbolic link (the guarantees
// os.Root gives by walking the path one component at a time).
type beneath struct {
	dir *os.File
	fd  int
	off atomic.Bool // openat2 is not available (old kernel, seccomp)
}

func openBeneath(abs string) (*beneath, error) {
	d, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	return &beneath{dir: d, fd: int(d.Fd())}, nil
}

func (b *beneath) close() error {
	if b == nil {
		return nil
	}
	return b.dir.Close()
}

var openHow = unix.OpenHow{
	Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
	Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
}

// readBeneath is readFile's fast path; done is false when the caller must
// take the portable path instead.
func (s *Store) readBeneath(name string, f pageFile) (b []byte, ok, done bool, err error) {
	fd, ok, done, err := s.openBeneathFD(name, f)
	if !ok {
		return nil, false, done, err
	}
	defer unix.Close(fd)
	b = make([]byte, f.size)
	for n := 0; n < len(b); {
		m, err := unix.Pread(fd, b[n:], int64(n))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, false, true, &os.PathError{Op: "read", Path: name, Err: err}
		case m == 0:
			return nil, false, true, &os.PathError{Op: "read", Path: name, Err: io.ErrUnexpectedEOF}
		}
		n += m
	}
	return b, true, true, nil
}

// openBeneathFile is openFile's fast path; done is false when the caller
// must take the portable path instead.
func (s *Store) openBeneathFile(name string, f pageFile) (*os.File, bool, bool, error) {
	fd, ok, done, err := s.openBeneathFD(name, f)
	if !ok {
		return nil, false, done, err
	}
	return os.NewFile(uintptr(fd), name), true, true, nil
}

// openBeneathFD opens name beneath the store root with one openat2 and
// checks it is the file f describes; ok means the caller owns fd.
func (s *Store) openBeneathFD(name string, f pageFile) (fd int, ok, done bool, err error) {
	bn := s.beneath
	if bn == nil || bn.off.Load() {
		return -1, false, false, nil
	}
	fd, err = openat2(bn.fd, name)
	switch {
	case err == unix.ENOSYS || err == unix.EPERM:
		bn.off.Store(true)
		return -1, false, false, nil
	case err == unix.ENOENT || err == unix.ENOTDIR:
		return -1, false, true, nil
	case err != nil:
		return -1, false, true, &os.PathError{Op: "openat2", Path: name, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, false, true, &os.PathError{Op: "fstat", Path: name, Err: err}
	}
	if id := (fileID{Ino: st.Ino, Mtime: st.Mtim.Nano()}); st.Size != f.size || id != *f.id {
		unix.Close(fd)
		return -1, false, true, nil
	}
	return fd, true, true, nil
}

func openat2(dirfd int, name string) (int, error) {
	for {
		how := openHow
		fd, err := unix.Openat2(dirfd, name, &how)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		return fd, err
	}
}
