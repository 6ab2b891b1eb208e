package proxy

import (
	"context"
	"time"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
)

// Memory is the in-memory tier. *memcache.Cache satisfies it.
type Memory interface {
	Get(key []byte) (*edge.Page, bool)
	Set(p *edge.Page) bool
	SetTTL(p *edge.Page, ttl time.Duration) bool
}

// Store is the disk tier. *store.Store satisfies it.
type Store interface {
	// Get returns the stored page or an error wrapping edge.ErrNotFound.
	Get(key string) (*edge.Page, error)
	// GetVariant reads only the representation a client accepting brotli
	// (br) and/or gzip (gz) is sent: brotli, gzip or identity, the first
	// the page has. The page is for one response and never shared.
	GetVariant(key string, br, gz bool) (*edge.Page, error)
	// Watch asks to be told when another process replaces the page's
	// files; it reports false when the page cannot be watched.
	Watch(key string) bool
}

// FileStore opens one stored representation for sending from its file.
// *store.Store satisfies it.
type FileStore interface {
	// OpenVariant opens the representation a client accepting brotli (br)
	// and/or gzip (gz) is sent, or returns an error wrapping
	// edge.ErrNotFound. The caller must close f.Body.
	OpenVariant(key string, br, gz bool) (f edge.File, err error)
}

// KnownKeys is the durable set of keys a sitemap or a bulk run named,
// consulted on a miss under AdmitKnown. *store.Store satisfies it.
type KnownKeys interface {
	Known(key string) bool
}

// Recency learns which stored pages are served, for least-recently-served
// eviction. Served is called on every hit and must be cheap, never block
// and never allocate. *store.Store satisfies it.
type Recency interface {
	Served(p *edge.Page)
}

// Generator makes a page from the origin (and stores it when allowed).
// *gen.Generator satisfies it.
type Generator interface {
	Generate(ctx context.Context, f edge.Fill) (edge.Result, error)
}

// Origin passes a request through to the origin. *origin.Client satisfies it.
type Origin interface {
	Do(ctx context.Context, p edge.Priority, req *fasthttp.Request, resp *fasthttp.Response) error
}
