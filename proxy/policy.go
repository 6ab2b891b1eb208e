package proxy

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"
)

// Policy holds the settings of the request path that may change while edge
// runs (a config reload swaps the whole value). A Policy must not be
// modified once passed to Server.SetPolicy.
type Policy struct {
	// BypassCookies names cookies that mark a private (logged-in) request:
	// such a request goes straight to the origin and nothing of it is
	// stored. Nil means {"sessionid"}.
	BypassCookies []string
	// BypassPaths are path prefixes that always go straight to the origin.
	BypassPaths []string
	// NegativeTTL is how long a 404/410 is remembered in memory (never on
	// disk). Zero means 10s; negative means never.
	NegativeTTL time.Duration
	// UncacheableTTL is how long edge remembers that a key's response was
	// not cacheable, sending later requests straight to the origin instead
	// of coalescing them (Varnish's hit-for-miss). Zero means 30s.
	UncacheableTTL time.Duration
	// LockTimeout is how long a request waits for another request's
	// generation of the same page before fetching for itself (and storing
	// nothing). Zero means 5s.
	LockTimeout time.Duration
	// MaxWaiters caps the requests waiting for one generation; more get a
	// 503. Zero means 4096.
	MaxWaiters int
	// Admit decides which misses are stored (see Admission). Zero is
	// AdmitAlways.
	Admit Admission
	// AdmitWindow is how soon a second miss must follow the first for
	// AdmitSecondHit to store the page. Zero means 10m.
	AdmitWindow time.Duration
	// MissRate caps the misses per second of one client (an IPv4 address
	// or an IPv6 /64); a miss over it gets a 429 with Retry-After. The other
	// anonymous requests that reach the origin count as misses too: those
	// with a query parameter outside the key, and keys remembered as
	// uncacheable. Hits and private requests (session cookie,
	// Authorization, bypass paths, other methods) are never limited. Zero
	// means no limit.
	MissRate float64
	// MissBurst is how many misses a client may make at once before
	// MissRate applies. Zero means 20.
	MissBurst int

	bypassCookies [][]byte
	bypassPaths   [][]byte
}

// compile fills in defaults and precomputes byte forms for the hot path.
func (p Policy) compile() *Policy {
	if p.BypassCookies == nil {
		p.BypassCookies = []string{"sessionid"}
	}
	if p.NegativeTTL == 0 {
		p.NegativeTTL = 10 * time.Second
	}
	if p.UncacheableTTL <= 0 {
		p.UncacheableTTL = 30 * time.Second
	}
	if p.LockTimeout <= 0 {
		p.LockTimeout = 5 * time.Second
	}
	if p.MaxWaiters <= 0 {
		p.MaxWaiters = 4096
	}
	if p.AdmitWindow <= 0 {
		p.AdmitWindow = 10 * time.Minute
	}
	if p.MissBurst <= 0 {
		p.MissBurst = 20
	}
	p.bypassCookies, p.bypassPaths = nil, nil
	for _, c := range p.BypassCookies {
		p.bypassCookies = append(p.bypassCookies, []byte(c))
	}
	for _, b := range p.BypassPaths {
		p.bypassPaths = append(p.bypassPaths, []byte(b))
	}
	return &p
}

// private reports whether a request must bypass the cache: it carries
// credentials (Authorization or a session cookie) or targets a bypass path.
func (p *Policy) private(req *fasthttp.Request, uri []byte) bool {
	h := &req.Header
	if len(h.Peek(fasthttp.HeaderAuthorization)) > 0 {
		return true
	}
	if len(p.bypassCookies) > 0 && len(h.Peek(fasthttp.HeaderCookie)) > 0 {
		for _, c := range p.bypassCookies {
			if len(h.CookieBytes(c)) > 0 {
				return true
			}
		}
	}
	for _, b := range p.bypassPaths {
		if bytes.HasPrefix(uri, b) {
			return true
		}
	}
	return false
}
