//go:build !linux

package store

import "os"

// beneath is the Linux fast path of readFile; elsewhere reads go through
// os.Root.
type beneath struct{}

func openBeneath(string) (*beneath, error) { return nil, nil }

func (b *beneath) close() error { return nil }

func (s *Store) readBeneath(string, pageFile) ([]byte, bool, bool, error) {
	return nil, false, false, nil
}

func (s *Store) openBeneathFile(string, pageFile) (*os.File, bool, bool, error) {
	return nil, false, false, nil
}
