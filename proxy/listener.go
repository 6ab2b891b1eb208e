package proxy

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// PublicServer is the public listener's HTTP server: fasthttp with edge's
// own per-address connection cap. The cap is kept on the listener rather
// than in fasthttp (MaxConnsPerIP) so that the connections fasthttp gets
// stay edge's own, *net.TCPConn underneath: a disk hit is then sent with
// sendfile, its headers in the same segments (see sendFile). Safe for
// concurrent use, as fasthttp.Server is.
type PublicServer struct {
	*fasthttp.Server
	s     *Server
	perIP int
}

// Serve serves ln with the per-address cap until the server is shut down.
func (p *PublicServer) Serve(ln net.Listener) error {
	return p.Server.Serve(&capListener{Listener: ln, s: p.s, perIP: p.perIP, conns: map[netip.Addr]int{}})
}

// capListener refuses a connection from an address that already holds
// perIP of them: a 429 answer, then close (what fasthttp's MaxConnsPerIP
// does), and counts it as a client error.
type capListener struct {
	net.Listener
	s     *Server
	perIP int
	mu    sync.Mutex // protects conns
	conns map[netip.Addr]int
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip, ok := remoteIP(c)
		if !ok { // not an IP connection: no cap applies
			return c, nil
		}
		if !l.acquire(ip) {
			l.s.stats.errors4xx.Add(1)
			go refuse(c)
			continue
		}
		release := func() { l.release(ip) }
		if tc, ok := c.(*net.TCPConn); ok {
			return newTCPConn(tc, release), nil
		}
		return &capConn{Conn: c, release: release}, nil
	}
}

func (l *capListener) acquire(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[ip] >= l.perIP {
		return false
	}
	l.conns[ip]++
	return true
}

func (l *capListener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[ip]--; l.conns[ip] <= 0 {
		delete(l.conns, ip)
	}
}

func remoteIP(c net.Conn) (netip.Addr, bool) {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap(), true
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

const refusal = "HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Cache-Control: no-store\r\nContent-Length: 45\r\n\r\nToo many connections from your address (429)\n"

// refuse answers a connection over the cap with a 429 and closes it,
// waiting at most a second for a client that does not read.
func refuse(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write([]byte(refusal))
	_ = c.Close()
}

// capConn gives its address's slot back when closed (once).
type capConn struct {
	net.Conn
	release func()
	closed  atomic.Bool
}

func (c *capConn) Close() error {
	if !c.closed.Swap(true) {
		c.release()
	}
	return c.Conn.Close()
}
