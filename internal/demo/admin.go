package demo

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// counters counts renders per path. Counters are never removed, so a reset
// zeroes them in place and a render racing with it loses nothing but its
// own increment.
type counters struct {
	total atomic.Int64
	mu    sync.RWMutex             // protects m (the map, not the counts in it)
	m     map[string]*atomic.Int64 // path → renders

	recentMu sync.Mutex // protects recent and next
	recent   [16]render // the last renders, a ring
	next     int
}

// render is one recent render: when, what, and who asked (User-Agent and
// Via, which tell the caches in front apart).
type render struct {
	At   time.Time `json:"at"`
	Path string    `json:"path"`
	UA   string    `json:"user_agent,omitempty"`
	Via  string    `json:"via,omitempty"`
}

// remember records a render in the ring of recent ones.
func (c *counters) remember(ctx *fasthttp.RequestCtx, path []byte) {
	r := render{At: time.Now(), Path: string(path), UA: string(ctx.UserAgent()), Via: string(ctx.Request.Header.Peek("Via"))}
	c.recentMu.Lock()
	c.recent[c.next%len(c.recent)] = r
	c.next++
	c.recentMu.Unlock()
}

// last returns the recent renders, oldest first.
func (c *counters) last() []render {
	c.recentMu.Lock()
	defer c.recentMu.Unlock()
	var out []render
	for i := max(c.next-len(c.recent), 0); i < c.next; i++ {
		out = append(out, c.recent[i%len(c.recent)])
	}
	return out
}

func newCounters() counters { return counters{m: make(map[string]*atomic.Int64)} }

func (c *counters) add(path []byte) {
	c.total.Add(1)
	c.mu.RLock()
	n := c.m[string(path)]
	c.mu.RUnlock()
	if n == nil {
		c.mu.Lock()
		if n = c.m[string(path)]; n == nil {
			n = new(atomic.Int64)
			c.m[string(path)] = n
		}
		c.mu.Unlock()
	}
	n.Add(1)
}

func (c *counters) get(path string) int64 {
	c.mu.RLock()
	n := c.m[path]
	c.mu.RUnlock()
	if n == nil {
		return 0
	}
	return n.Load()
}

func (c *counters) reset() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, n := range c.m {
		n.Store(0)
	}
	c.total.Store(0)
}

// snapshot returns the non-zero counts.
func (c *counters) snapshot() map[string]int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string]int64, len(c.m))
	for p, n := range c.m {
		if v := n.Load(); v != 0 {
			out[p] = v
		}
	}
	return out
}

// serveAdmin serves /_origin/: GET stats and POST reset. Nothing here is
// delayed or counted.
func (s *Site) serveAdmin(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	switch string(ctx.Path()) {
	case "/_origin/stats":
		if !getOrHead(ctx) {
			return
		}
		var v any
		switch p := ctx.QueryArgs().Peek("path"); {
		case ctx.QueryArgs().Has("recent"):
			// The total and the last renders, without the per-path map
			// (which holds every page of a bulk run).
			total := s.renders.total.Load()
			v = struct {
				Total  int64    `json:"total"`
				Recent []render `json:"recent"`
			}{total, s.renders.last()}
		case p != nil:
			v = struct {
				Path    string `json:"path"`
				Renders int64  `json:"renders"`
			}{string(p), s.renders.get(string(p))}
		default:
			total := s.renders.total.Load() // before the snapshot: total ≤ sum when racing
			v = struct {
				Total int64            `json:"total"`
				Paths map[string]int64 `json:"paths"`
			}{total, s.renders.snapshot()}
		}
		b, err := json.Marshal(v)
		if err != nil {
			ctx.Error(err.Error(), fasthttp.StatusInternalServerError)
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(append(b, '\n'))
	case "/_origin/reset":
		if !ctx.IsPost() {
			methodNotAllowed(ctx, "POST")
			return
		}
		s.renders.reset()
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	default:
		ctx.Error("not found", fasthttp.StatusNotFound)
	}
}
