package testenv

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Request is one request as the origin read it.
type Request struct {
	Raw    []byte      // request line and header block, exactly as received
	Method string      // from the request line
	URI    string      // request-target, as sent
	Header http.Header // parsed leniently from Raw (canonical names)
	Body   []byte      // Content-Length bytes (chunked bodies are not read)
}

// Handler answers one request on c. It returns false to end the connection
// (the Origin closes it after the handler returns false).
type Handler func(c *Conn, r *Request) bool

// Origin is a raw-TCP origin on 127.0.0.1. It is safe for concurrent use.
type Origin struct {
	Addr string // host:port
	URL  string // "http://" + Addr

	accepted atomic.Int32
	mu       sync.Mutex // protects reqs, conns, handler
	reqs     []*Request
	conns    []net.Conn
	handler  Handler
	ln       net.Listener
	done     chan struct{} // closed at cleanup: ends Hold
	wg       sync.WaitGroup
}

// StartOrigin listens on 127.0.0.1:0 and answers every request with h
// (which SetHandler may change later). At cleanup it closes the listener
// and every connection and waits for the handlers to return.
func StartOrigin(t testing.TB, h Handler) *Origin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &Origin{Addr: ln.Addr().String(), ln: ln, handler: h, done: make(chan struct{})}
	o.URL = "http://" + o.Addr
	o.wg.Go(o.accept)
	t.Cleanup(o.Close)
	return o
}

func (o *Origin) accept() {
	for {
		nc, err := o.ln.Accept()
		if err != nil {
			return
		}
		o.accepted.Add(1)
		o.mu.Lock()
		o.conns = append(o.conns, nc)
		o.mu.Unlock()
		o.wg.Go(func() {
			defer nc.Close()
			c := &Conn{Conn: nc, R: bufio.NewReader(nc), o: o}
			for {
				r, ok := c.ReadRequest()
				if !ok {
					return
				}
				o.mu.Lock()
				h := o.handler
				o.mu.Unlock()
				if !h(c, r) {
					return
				}
			}
		})
	}
}

// Close stops the origin (a later dial is refused) and ends every
// connection. It is idempotent and runs at cleanup.
func (o *Origin) Close() {
	o.mu.Lock()
	select {
	case <-o.done:
		o.mu.Unlock()
		return
	default:
	}
	close(o.done)
	o.ln.Close()
	for _, c := range o.conns {
		c.Close()
	}
	o.mu.Unlock()
	o.wg.Wait()
}

// SetHandler replaces the handler for requests read from now on.
func (o *Origin) SetHandler(h Handler) {
	o.mu.Lock()
	o.handler = h
	o.mu.Unlock()
}

// Accepted is the number of connections accepted so far.
func (o *Origin) Accepted() int { return int(o.accepted.Load()) }

// Requests returns the requests read so far, in order.
func (o *Origin) Requests() []*Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*Request(nil), o.reqs...)
}

// Count is the number of requests read for a request-target.
func (o *Origin) Count(uri string) int {
	n := 0
	for _, r := range o.Requests() {
		if r.URI == uri {
			n++
		}
	}
	return n
}

// Conn is one origin-side connection.
type Conn struct {
	net.Conn
	R *bufio.Reader
	o *Origin
}

// ReadRequest reads one request head (and a Content-Length body) and records
// it; ok is false if the connection ended first or the head is malformed.
func (c *Conn) ReadRequest() (r *Request, ok bool) {
	var raw bytes.Buffer
	for raw.Len() < 1<<20 {
		line, err := c.R.ReadSlice('\n')
		raw.Write(line)
		if err != nil {
			return nil, false
		}
		if string(line) == "\r\n" || string(line) == "\n" {
			break
		}
	}
	r = &Request{Raw: raw.Bytes()}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(r.Raw)))
	first, err := tp.ReadLine()
	if err != nil {
		return nil, false
	}
	if f := strings.Fields(first); len(f) >= 2 {
		r.Method, r.URI = f[0], f[1]
	}
	mh, _ := tp.ReadMIMEHeader() // lenient: keep what parsed
	r.Header = http.Header(mh)
	if n, err := strconv.Atoi(r.Header.Get("Content-Length")); err == nil && n > 0 && n < 1<<20 {
		r.Body = make([]byte, n)
		if _, err := io.ReadFull(c.R, r.Body); err != nil {
			return nil, false
		}
	}
	c.o.mu.Lock()
	c.o.reqs = append(c.o.reqs, r)
	c.o.mu.Unlock()
	return r, true
}

// Write writes s and reports whether it all went out.
func (c *Conn) Write(s string) bool {
	_, err := io.WriteString(c.Conn, s)
	return err == nil
}

// Reset closes the connection with a TCP RST.
func (c *Conn) Reset() {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Conn.Close()
}

// Hold blocks until the origin is closed (the end of the test) or the
// channel release (may be nil) is closed, whichever comes first.
func (c *Conn) Hold(release <-chan struct{}) {
	select {
	case <-c.o.done:
	case <-release:
	}
}

// Reply builds a raw HTTP/1.1 response with a correct Content-Length;
// header lines are "Name: value".
func Reply(status int, body string, header ...string) string {
	var b strings.Builder
	b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	for _, h := range header {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.WriteString(body)
	return b.String()
}

// Page is a cacheable HTML page naming the request-target.
func Page(uri string) string {
	return Reply(200, "<html><body><h1>"+uri+"</h1></body></html>", "Content-Type: text/html; charset=utf-8")
}

// Respond answers every request with the same raw bytes and keeps the
// connection open.
func Respond(raw string) Handler {
	return func(c *Conn, _ *Request) bool { return c.Write(raw) }
}

// Pages answers every request with Page(uri) on a keep-alive connection.
func Pages(c *Conn, r *Request) bool { return c.Write(Page(r.URI)) }

// Echo answers every request with a cacheable 200 whose body is the raw
// request head, so whatever header reached the origin shows in the page.
func Echo(c *Conn, r *Request) bool {
	return c.Write(Reply(200, "<pre>"+string(r.Raw)+"</pre>", "Content-Type: text/html; charset=utf-8"))
}

// SlowFirstByte sends nothing for d (or until the test ends), then raw.
func SlowFirstByte(d time.Duration, raw string) Handler {
	return func(c *Conn, _ *Request) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.o.done:
			return false
		}
		return c.Write(raw)
	}
}

// Hang reads the request and never answers (until the test ends).
func Hang(c *Conn, _ *Request) bool {
	c.Hold(nil)
	return false
}

// Truncated sends the first n bytes of raw and closes the connection.
func Truncated(raw string, n int) Handler {
	return func(c *Conn, _ *Request) bool {
		c.Write(raw[:min(n, len(raw))])
		return false
	}
}

// ResetAfter sends the first n bytes of raw (none if n is 0) and resets the
// connection.
func ResetAfter(raw string, n int) Handler {
	return func(c *Conn, _ *Request) bool {
		c.Write(raw[:min(n, len(raw))])
		c.Reset()
		return false
	}
}

// CloseAfter answers with raw (which may well say keep-alive) and then
// closes the connection, as gunicorn does at its keep-alive timeout.
func CloseAfter(raw string) Handler {
	return func(c *Conn, _ *Request) bool {
		c.Write(raw)
		return false
	}
}

// BadFraming maps a name to a raw response an origin must never get stored
// or relayed as a success: invalid, duplicate or conflicting framing
// headers, bad status lines, malformed header lines, bad chunks. (A
// response with both Content-Length and Transfer-Encoding: chunked is not
// here: RFC 9112 §6.3 lets the chunked framing win, and edge's origin
// client does so; see docs/security.md.)
var BadFraming = map[string]string{
	"cl-not-a-number":  "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1x\r\n\r\nx",
	"cl-negative":      "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: -1\r\n\r\nx",
	"cl-duplicate":     "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
	"te-unknown":       "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: gzip\r\n\r\nhello",
	"status-99":        "HTTP/1.1 99 Odd\r\nContent-Length: 2\r\n\r\nok",
	"status-abc":       "HTTP/1.1 abc OK\r\nContent-Length: 2\r\n\r\nok",
	"http-0.9":         "<html>no status line</html>",
	"no-colon":         "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nBroken header line\r\nContent-Length: 2\r\n\r\nok",
	"bad-chunk-size":   "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
	"chunk-no-crlf":    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
	"chunk-no-end":     "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
	"cl-short":         "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\nonly a little",
	"header-truncated": "HTTP/1.1 200 OK\r\nContent-Type: text/ht",
	"header-nul":       "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok",
	"header-bare-cr":   "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-A: a\rSet-Cookie: x=1\r\nContent-Length: 2\r\n\r\nok",
	"bare-lf-lines":    "HTTP/1.1 200 OK\nContent-Type: text/html\nX-A: a\nContent-Length: 2\n\nok",
}

// Framing names the keys of BadFraming in a stable order.
func Framing() []string {
	return []string{"cl-not-a-number", "cl-negative", "cl-duplicate", "te-unknown", "status-99",
		"status-abc", "http-0.9", "no-colon", "bad-chunk-size", "chunk-no-crlf", "chunk-no-end", "cl-short",
		"header-truncated", "header-nul", "header-bare-cr", "bare-lf-lines"}
}
