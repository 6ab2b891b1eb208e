//go:build !(linux || darwin || freebsd)

package store

import "errors"

// diskFree is not implemented here: Budget.MinFreeBytes has no effect.
func diskFree(string) (int64, error) {
	return 0, errors.New("free space is not known on this system")
}
