package proxy

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// PublicServer is the public listener's HTTP server: fasthttp with edge's
// own per-address connection cap. The cap is kept by edge rather than by
// fasthttp (MaxConnsPerIP), which would wrap every connection and so hide
// the *net.TCPConn underneath: fasthttp writes a response from memory with
// one writev only to a *net.TCPConn, and a file goes out with sendfile
// only through its ReadFrom. Safe for concurrent use, as fasthttp.Server
// is.
type PublicServer struct {
	*fasthttp.Server
	s     *Server
	perIP int

	mu    sync.Mutex // protects conns
	conns map[netip.Addr]int
}

func (s *Server) newPublicServer(srv *fasthttp.Server, perIP int) *PublicServer {
	p := &PublicServer{Server: srv, s: s, perIP: perIP, conns: map[netip.Addr]int{}}
	// fasthttp reports every connection it was handed as closed (or
	// hijacked) exactly once: that is when its slot comes back.
	srv.ConnState = func(c net.Conn, st fasthttp.ConnState) {
		if st == fasthttp.StateClosed || st == fasthttp.StateHijacked {
			if ip, ok := remoteIP(c); ok {
				p.release(ip)
			}
		}
	}
	return p
}

// Serve serves ln with the per-address cap until the server is shut down.
func (p *PublicServer) Serve(ln net.Listener) error {
	return p.Server.Serve(&capListener{Listener: ln, p: p})
}

// capListener refuses a connection from an address that already holds
// perIP of them: a 429 answer, then close (what fasthttp's MaxConnsPerIP
// does), counted as a client error. The connections it accepts are
// handed on as they are.
type capListener struct {
	net.Listener
	p *PublicServer
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip, ok := remoteIP(c)
		if !ok || l.p.acquire(ip) { // not an IP connection: no cap applies
			return c, nil
		}
		l.p.s.stats.errors4xx.Add(1)
		go refuse(c)
	}
}

func (p *PublicServer) acquire(ip netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[ip] >= p.perIP {
		return false
	}
	p.conns[ip]++
	return true
}

func (p *PublicServer) release(ip netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[ip]--; p.conns[ip] <= 0 {
		delete(p.conns, ip)
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
