package proxy

import (
	"net"

	"golang.org/x/sys/unix"
)

// cork sets or clears TCP_CORK on c; it reports whether it could.
func cork(c *net.TCPConn, on bool) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	v := 0
	if on {
		v = 1
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, v)
	})
	return err == nil && serr == nil
}
