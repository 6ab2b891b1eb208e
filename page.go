package edge

import (
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Field is one response header line.
type Field struct {
	Name, Value string
}

// Page is one generated response: the identity body, its precompressed
// variants and the metadata needed to serve it without the origin.
//
// A Page is immutable once built: its byte slices may be shared by every
// tier and handed to fasthttp without copying, so nothing may write to them.
// It is therefore safe for concurrent use by readers. The one exception is
// the last-served time (LastServed, TouchServed), an atomic the disk tier
// uses to sample when the page was served; a Page must not be copied.
type Page struct {
	// Key is the cache key the page was generated for (see internal/cachekey).
	Key string
	// Status is the origin status: 200, 301 or 308 for stored pages; for a
	// pass-through response any status.
	Status int
	// ContentType is the origin's Content-Type.
	ContentType string
	// Header holds the other end-to-end headers replayed to clients
	// (Location, Content-Language, Link, …; Set-Cookie only on pass-through
	// pages, which are never stored).
	Header []Field
	// Body is the identity representation.
	Body []byte
	// Gzip and Brotli are precompressed variants; nil when the content type
	// is not compressible or compression did not pay.
	Gzip, Brotli []byte
	// ETag is the strong validator of Body, quoted ("…"). The variants use
	// the same value with a -gz / -br suffix inside the quotes.
	ETag string
	// GeneratedAt is when the origin produced the page; Age and
	// Last-Modified derive from it.
	GeneratedAt time.Time
	// Tags are the dependency tags (surrogate keys) the origin named.
	Tags []string
	// Stale is set on a page that an invalidation marked for regeneration;
	// it is still served until its replacement is stored.
	Stale bool

	// LastModified is GeneratedAt formatted as an HTTP date; set by Finish.
	LastModified string
	gzETag       string
	brETag       string

	// served is when the page was last reported served, in Unix seconds
	// (coarse: see TouchServed); 0 when never.
	served atomic.Int64
}

// LastServed returns the last time recorded by TouchServed or
// SetLastServed, in Unix seconds (0: never). Safe for concurrent use.
func (p *Page) LastServed() int64 { return p.served.Load() }

// SetLastServed records when the page was last known served (Unix
// seconds), e.g. from the index when the page is read. Safe for concurrent
// use.
func (p *Page) SetLastServed(unix int64) { p.served.Store(unix) }

// TouchServed records that the page was served at now (Unix seconds) if
// its last recorded time is at least every seconds older, and reports
// whether it did. Of many concurrent callers in the same interval exactly
// one gets true: the caller that should report the time onwards. It costs
// one atomic load when it returns false and never allocates. Safe for
// concurrent use.
func (p *Page) TouchServed(now, every int64) bool {
	last := p.served.Load()
	if now-last < every {
		return false
	}
	return p.served.CompareAndSwap(last, now)
}

// Finish fills the derived fields (LastModified and the variant ETags). Every
// producer of a Page calls it once before sharing the page.
func (p *Page) Finish() *Page {
	p.LastModified = p.GeneratedAt.UTC().Format(http.TimeFormat)
	if p.ETag != "" {
		base := strings.TrimSuffix(p.ETag, `"`)
		p.gzETag = base + `-gz"`
		p.brETag = base + `-br"`
	}
	return p
}

// Encoding names a representation of a page.
type Encoding uint8

// The representations a page may have.
const (
	Identity Encoding = iota
	Gzip
	Brotli
)

// Variant returns the body, the Content-Encoding value ("" for identity) and
// the strong ETag of the given representation, falling back to identity when
// that variant does not exist.
func (p *Page) Variant(e Encoding) (body []byte, contentEncoding, etag string) {
	switch {
	case e == Brotli && p.Brotli != nil:
		return p.Brotli, "br", p.brETag
	case e == Gzip && p.Gzip != nil:
		return p.Gzip, "gzip", p.gzETag
	}
	return p.Body, "", p.ETag
}

// Meta returns the Content-Encoding value ("" for identity) and the strong
// ETag of the given representation whether or not its body is held: for a
// page read as an edge.File, whose bodies stay on disk.
func (p *Page) Meta(e Encoding) (contentEncoding, etag string) {
	switch e {
	case Brotli:
		return "br", p.brETag
	case Gzip:
		return "gzip", p.gzETag
	}
	return "", p.ETag
}

// Size is the number of bytes the page holds in memory, used as its cost.
func (p *Page) Size() int {
	n := len(p.Key) + len(p.Body) + len(p.Gzip) + len(p.Brotli) + len(p.ContentType) + 256
	for _, f := range p.Header {
		n += len(f.Name) + len(f.Value)
	}
	for _, t := range p.Tags {
		n += len(t)
	}
	return n
}

// Get returns the first value of the named header (case-insensitive), or "".
func (p *Page) Get(name string) string {
	for _, f := range p.Header {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Priority orders work that needs the origin. Lower values go first.
type Priority uint8

// The four kinds of origin work, most urgent first.
const (
	PriorityMiss       Priority = iota // a user or crawler waiting for a page
	PriorityInvalidate                 // regeneration after an invalidation
	PrioritySweep                      // the rolling freshness sweep
	PriorityBulk                       // bulk pre-generation
	NumPriorities
)

func (p Priority) String() string {
	switch p {
	case PriorityMiss:
		return "miss"
	case PriorityInvalidate:
		return "invalidate"
	case PrioritySweep:
		return "sweep"
	case PriorityBulk:
		return "bulk"
	}
	return "unknown"
}

// Fill asks for one page to be generated from the origin.
type Fill struct {
	// Key is the cache key; Host and URI are what the origin is sent (the
	// URI's bytes are the key's path and query).
	Key, Host, URI string
	// ClientIP is the address of the client that caused the fill, if any,
	// for X-Forwarded-For.
	ClientIP string
	// Priority orders the fill under the origin budget.
	Priority Priority
	// NoStore fetches and builds the page but never writes it anywhere.
	NoStore bool
}

// Result is what a Fill produced.
type Result struct {
	// Page is the origin's response as a page. When Cacheable is false it
	// is a pass-through copy for the one requester that caused it (it may
	// carry Set-Cookie) and must never be shared or stored.
	Page *Page
	// Cacheable reports whether the response may be stored and shared.
	Cacheable bool
	// Negative reports a 404/410 that may be remembered briefly in memory.
	Negative bool
	// Reason says why the response is not cacheable ("set-cookie",
	// "cache-control", "status", "vary", "too-large", …), for logs and
	// Cache-Status.
	Reason string
	// Changed is true when the stored copy was written (false when the new
	// content hashed the same as the stored one, or nothing was stored).
	Changed bool
	// StoreErr is a failure to persist a cacheable page; the page is still
	// served.
	StoreErr error
}
