package proxy

import (
	"fmt"
	"io"
	"net"
	"os"
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
// and the file closed. A larger one becomes the body stream (fileBody):
// fasthttp writes the headers and then the file, with sendfile, and closes
// the file once written or when the response is dropped.
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
	tc, _ := ctx.Conn().(*net.TCPConn)
	ctx.Response.SetBodyStream(&fileBody{File: f.Body, conn: tc}, int(f.Size))
	return nil
}

func closeFile(f *edge.File) {
	if f != nil {
		f.Body.Close()
	}
}

// fileBody is a stored file as fasthttp's body stream. fasthttp hands it
// the connection's writer (WriteTo), whose ReadFrom flushes the headers
// and sends the file with sendfile; on a TCP connection fileBody corks it
// around that (TCP_CORK, what nginx's tcp_nopush does), so the headers
// leave in the same segments as the start of the file instead of alone.
// Read and Close are the file's (fasthttp closes it when done).
type fileBody struct {
	*os.File
	conn *net.TCPConn // nil: not TCP, no cork
}

// SupportsBodyWriteTo tells fasthttp to call WriteTo.
func (b *fileBody) SupportsBodyWriteTo() bool { return true }

// WriteTo sends the file to w, corked.
func (b *fileBody) WriteTo(w io.Writer) (int64, error) {
	rf, ok := w.(io.ReaderFrom)
	if !ok {
		return io.Copy(w, b.File)
	}
	if b.conn != nil && cork(b.conn, true) {
		defer cork(b.conn, false) // uncorking pushes the last partial segment
	}
	return rf.ReadFrom(b.File)
}
