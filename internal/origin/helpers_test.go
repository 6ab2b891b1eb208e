package origin

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

// rawOrigin is a raw-TCP origin on loopback whose per-connection behaviour a
// test scripts. It counts accepted connections and requests read.
type rawOrigin struct {
	addr     string
	accepted atomic.Int32
	requests atomic.Int32

	mu    sync.Mutex // protects conns
	conns []net.Conn
	done  chan struct{} // closed at cleanup
	wg    sync.WaitGroup
}

// startRaw listens on 127.0.0.1:0 and runs serve for every connection. At
// cleanup it closes the listener and every connection, and waits for serve.
func startRaw(t *testing.T, serve func(o *rawOrigin, c *rawConn)) *rawOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &rawOrigin{addr: ln.Addr().String(), done: make(chan struct{})}
	o.wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			o.accepted.Add(1)
			o.mu.Lock()
			o.conns = append(o.conns, nc)
			o.mu.Unlock()
			o.wg.Go(func() {
				defer nc.Close()
				serve(o, &rawConn{Conn: nc, br: bufio.NewReader(nc), o: o})
			})
		}
	})
	t.Cleanup(func() {
		close(o.done)
		ln.Close()
		o.mu.Lock()
		for _, c := range o.conns {
			c.Close()
		}
		o.mu.Unlock()
		o.wg.Wait()
	})
	return o
}

func (o *rawOrigin) url() string { return "http://" + o.addr }

// rawConn is one origin-side connection.
type rawConn struct {
	net.Conn
	br *bufio.Reader
	o  *rawOrigin
}

// readRequest reads one request (its body too, if Content-Length says so)
// and returns its raw header block, request line included; ok is false if the
// connection ended first.
func (c *rawConn) readRequest() (head []byte, ok bool) {
	var buf bytes.Buffer
	bodyLen := 0
	for {
		line, err := c.br.ReadSlice('\n')
		buf.Write(line)
		if err != nil {
			return nil, false
		}
		if string(line) == "\r\n" {
			break
		}
		if k, v, found := strings.Cut(string(line), ":"); found && strings.EqualFold(k, "Content-Length") {
			bodyLen, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if _, err := io.CopyN(io.Discard, c.br, int64(bodyLen)); err != nil {
		return nil, false
	}
	c.o.requests.Add(1)
	return buf.Bytes(), true
}

func (c *rawConn) write(s string) bool {
	_, err := c.Write([]byte(s))
	return err == nil
}

// reset closes the connection with a TCP RST.
func (c *rawConn) reset() {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// wait blocks until the test ends (the connection is closed at cleanup).
func (c *rawConn) wait() {
	<-c.o.done
}

const okKeepAlive = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"

// startFast runs a fasthttp server on loopback.
func startFast(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ln) //nolint:errcheck
	}()
	t.Cleanup(func() {
		s.Shutdown() //nolint:errcheck
		<-done
	})
	return "http://" + ln.Addr().String()
}

// newTestClient returns a Client for url with c's settings.
func newTestClient(t *testing.T, url string, c Config) *Client {
	t.Helper()
	c.URL = url
	cl, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// get builds a GET request for uri with a Host header.
func get(uri string) (*fasthttp.Request, *fasthttp.Response) {
	req, resp := new(fasthttp.Request), new(fasthttp.Response)
	req.Header.SetMethod("GET")
	req.SetRequestURI(uri)
	req.Header.SetHost("www.example.com")
	return req, resp
}
