//go:build !linux

package proxy

import "net"

// cork is TCP_CORK where the kernel has it (Linux); elsewhere the headers
// of a file response leave on their own.
func cork(*net.TCPConn, bool) bool { return false }
