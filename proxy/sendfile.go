package proxy

import (
	"fmt"
	"sync"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
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
// and the file closed. A larger one becomes the body stream: fasthttp
// flushes the headers and hands the file to the connection's ReadFrom,
// which on a *net.TCPConn is sendfile, and closes the file once written
// or when the response is dropped.
//
// The headers leave in a segment of their own. Corking the connection
// around headers and file (TCP_CORK, nginx's tcp_nopush) was measured
// and dropped: its two setsockopt calls cost more here than the extra
// segment (bench/results/2026-11-25-sendfile.md).
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
	ctx.Response.SetBodyStream(f.Body, int(f.Size))
	return nil
}

func closeFile(f *edge.File) {
	if f != nil {
		f.Body.Close()
	}
}
