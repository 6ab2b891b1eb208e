package proxy

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// smallFile is fasthttp's maxSmallFileSize: a body stream longer than
// this is sent by flushing the headers and handing the file to the
// connection's ReadFrom (sendfile). edge reads a body up to this size
// instead (the compressed variants of most pages): copied behind the
// headers, it leaves in one write.
const smallFile = 2 * 4096

// smallBufs holds the scratch buffers small bodies are read into.
var smallBufs = sync.Pool{New: func() any { b := make([]byte, smallFile); return &b }}

// sendFile makes f's body the response body and takes ownership of f. A
// small body is read now (one pread) into fasthttp's pooled body buffer
// and the file closed. A larger one becomes a body stream: fasthttp
// writes the headers and then the file (with sendfile on a tcpConn, which
// holds the headers back with MSG_MORE so they share the file's segments),
// and closes the file once written or when the response is dropped.
func sendFile(ctx *fasthttp.RequestCtx, f *edge.File) error {
	if f.Size <= smallFile {
		bp := smallBufs.Get().(*[]byte)
		defer smallBufs.Put(bp)
		b := (*bp)[:f.Size]
		_, err := f.Body.ReadAt(b, 0)
		f.Body.Close()
		if err != nil {
			return fmt.Errorf("%w: %w", errStoredRead, err)
		}
		ctx.Response.SetBody(b) // copies
		return nil
	}
	if !ctx.IsHead() {
		if c, ok := ctx.Conn().(*tcpConn); ok {
			c.more = true
		}
	}
	ctx.Response.SetBodyStream(f.Body, int(f.Size))
	return nil
}

func closeFile(f *edge.File) {
	if f != nil {
		f.Body.Close()
	}
}

// tcpConn is a public connection: a *net.TCPConn whose ReadFrom stays
// visible to fasthttp's writer (so files go out with sendfile), which
// gives its address's slot back when closed, and which can send a
// response's headers with MSG_MORE so that they share TCP segments with
// the start of the file sent after them instead of going out alone (what
// nginx's tcp_nopush does with TCP_CORK).
//
// fasthttp reads and writes a connection from one goroutine, so more and
// held need no lock; Close may come from another (shutdown).
type tcpConn struct {
	*net.TCPConn
	release func()
	closed  atomic.Bool

	more bool // the next Write is a response's headers, a file follows
	held bool // bytes sent with MSG_MORE may wait in the kernel

	raw interface {
		Write(func(uintptr) bool) error
	}
	sendf func(uintptr) bool // c.sendMore, bound once
	buf   []byte             // sendMore's argument and progress
	err   error
}

func newTCPConn(tc *net.TCPConn, release func()) *tcpConn {
	c := &tcpConn{TCPConn: tc, release: release}
	if raw, err := tc.SyscallConn(); err == nil {
		c.raw = raw
		c.sendf = c.sendMore
	}
	return c
}

func (c *tcpConn) Close() error {
	if !c.closed.Swap(true) {
		c.release()
	}
	return c.TCPConn.Close()
}

// Write sends b, with MSG_MORE when it is the headers of a file response.
func (c *tcpConn) Write(b []byte) (int, error) {
	if !c.more || c.raw == nil {
		c.held = false // a write without MSG_MORE pushes what was held
		return c.TCPConn.Write(b)
	}
	c.more, c.held = false, true
	c.buf, c.err = b, nil
	err := c.raw.Write(c.sendf)
	n := len(b) - len(c.buf)
	c.buf = nil
	if err == nil {
		err = c.err
	}
	if err != nil {
		return n, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return n, nil
}

// sendMore is the raw write of Write: false asks the poller to wait until
// the socket is writable (and honours the write deadline).
func (c *tcpConn) sendMore(fd uintptr) bool {
	for len(c.buf) > 0 {
		n, err := unix.SendmsgN(int(fd), c.buf, nil, nil, unix.MSG_MORE|unix.MSG_NOSIGNAL)
		switch {
		case err == unix.EAGAIN:
			return false
		case err == unix.EINTR:
			continue
		case err != nil:
			c.err = err
			return true
		}
		c.buf = c.buf[n:]
	}
	return true
}

// ReadFrom sends r (the file of a response) with sendfile where the
// kernel can; its last bytes go out without MSG_MORE, which pushes the
// headers held before them.
func (c *tcpConn) ReadFrom(r io.Reader) (int64, error) {
	c.more = false
	n, err := c.TCPConn.ReadFrom(r)
	c.held = false
	return n, err
}

// Read pushes headers still held (a file response whose body never came:
// it failed, or was short enough to be copied) before waiting for the
// client's next request.
func (c *tcpConn) Read(b []byte) (int, error) {
	if c.held {
		c.held = false
		_ = c.SetNoDelay(true) // setting TCP_NODELAY pushes pending frames
	}
	return c.TCPConn.Read(b)
}
