package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// Client is one raw connection to a server. Its reads and writes have a
// deadline of 10 seconds so no test hangs on it.
type Client struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	raw  bytes.Buffer // bytes read by the last Read
}

// Dial connects to addr (host:port) and closes the connection at cleanup.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &Client{t: t, conn: nc}
	c.br = bufio.NewReader(io.TeeReader(nc, &c.raw))
	return c
}

// Conn is the underlying connection.
func (c *Client) Conn() net.Conn { return c.conn }

// Send writes s exactly as given; it reports a write error (the server may
// have closed the connection) instead of failing the test.
func (c *Client) Send(s string) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := io.WriteString(c.conn, s)
	return err
}

// Response is a response as read off the wire.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	Raw    []byte // status line, header and body as received
}

// Read reads one response (to a GET unless head is true). It returns an
// error wrapping io.EOF if the server closed the connection without one.
func (c *Client) Read(head bool) (*Response, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	c.raw.Reset()
	pending, _ := c.br.Peek(c.br.Buffered()) // read ahead by an earlier Read
	pending = bytes.Clone(pending)
	method := http.MethodGet
	if head {
		method = http.MethodHead
	}
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	all := append(pending, c.raw.Bytes()...)
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body,
		Raw: all[:len(all)-c.br.Buffered()]}, nil
}

// Closed reports whether the server closes the connection within wait:
// it reads and discards whatever arrives meanwhile (an error response the
// server sends before closing, say) and reports true at end of file or a
// reset, false if the connection is still open when wait ends.
func (c *Client) Closed(wait time.Duration) bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	var b [4096]byte
	for {
		_, err := c.br.Read(b[:])
		switch {
		case err == nil:
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			return false
		default:
			return true // EOF or reset
		}
	}
}

// RoundTrip sends raw on a new connection to addr, reads one response and
// reports whether the server then closed the connection. A response of nil
// means the server closed the connection without answering.
func RoundTrip(t testing.TB, addr, raw string) (resp *Response, closed bool) {
	t.Helper()
	c := Dial(t, addr)
	if err := c.Send(raw); err != nil {
		return nil, true
	}
	resp, err := c.Read(false)
	if err != nil {
		return nil, true
	}
	return resp, c.Closed(2 * time.Second)
}
