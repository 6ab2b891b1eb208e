package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Changes: POST /_origin/change?event=N edits event N, the way an editor
// would in the real application, and tells edge which pages that touched.
//
// The edit is deterministic: each change bumps the event's revision, and
// every page that shows the event's title shows it as "Title (revision
// R)". The pages that show an event are exactly those whose Surrogate-Key
// names it (event-N), so the change posts {"tags":["event-N"]} to edge's
// admin API (Config.EdgeAdminURL + "/invalidate", with Config.EdgeToken as
// the bearer token), with a timeout; if edge is down or refuses, the change
// still happens and the answer says so (and the log).

// notifyTimeout bounds the invalidation request to edge.
const notifyTimeout = 5 * time.Second

// changes holds the event revisions and the way to edge. It is safe for
// concurrent use.
type changes struct {
	edgeURL, token string
	client         *http.Client
	log            *slog.Logger

	any atomic.Bool  // some event has a revision: renders must look
	mu  sync.RWMutex // protects rev
	rev map[int]int  // event id → revision (absent: 0, the original)
}

func newChanges(c Config) *changes {
	return &changes{
		edgeURL: strings.TrimSuffix(c.EdgeAdminURL, "/"),
		token:   c.EdgeToken,
		client:  &http.Client{Timeout: notifyTimeout},
		log:     slog.Default(),
		rev:     make(map[int]int),
	}
}

func (c *changes) revision(id int) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev[id]
}

// Revision returns event id's revision: how many times it was changed.
func (s *Site) Revision(id int) int { return s.changes.revision(id) }

// changeResult is the answer to POST /_origin/change.
type changeResult struct {
	Event    int      `json:"event"`
	Revision int      `json:"revision"`
	Title    string   `json:"title"`
	Tags     []string `json:"tags"`
	Edge     string   `json:"edge"` // edge's answer, or why it was not told
}

// serveChange answers POST /_origin/change?event=N: bump event N's
// revision, then post the invalidation of its tag to edge. Not delayed and
// not counted as a render.
func (s *Site) serveChange(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if !ctx.IsPost() {
		methodNotAllowed(ctx, "POST")
		return
	}
	id := parseID(ctx.QueryArgs().Peek("event"))
	if id < 1 || id > s.model.n[kindEvent] {
		ctx.Error(fmt.Sprintf("event must be an event id, 1 to %d\n", s.model.n[kindEvent]), fasthttp.StatusBadRequest)
		return
	}
	c := s.changes
	c.mu.Lock()
	c.rev[id]++
	rev := c.rev[id]
	c.mu.Unlock()
	c.any.Store(true)

	tags := []string{kindNames[kindEvent].tag + strconv.Itoa(id)}
	e := s.model.event(id)
	res := changeResult{Event: id, Revision: rev, Title: string(revisedTitle(&e, rev)), Tags: tags}
	res.Edge = c.notify(ctx, tags)
	b, err := json.Marshal(res)
	if err != nil {
		ctx.Error(err.Error(), fasthttp.StatusInternalServerError)
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

// notify posts the invalidation of tags to edge and returns a one-line
// account of what happened. It never fails the change.
func (c *changes) notify(ctx context.Context, tags []string) string {
	if c.edgeURL == "" {
		return "not told (no -edge-admin)"
	}
	body, _ := json.Marshal(map[string][]string{"tags": tags})
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.edgeURL+"/invalidate", bytes.NewReader(body))
	if err != nil {
		c.log.Warn("demo: cannot tell edge about a change", "tags", tags, "err", err)
		return "error: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.log.Warn("demo: edge did not take the invalidation; the change stands", "tags", tags, "err", err)
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	out := strings.TrimSpace(resp.Status + " " + strings.Join(strings.Fields(string(answer)), " "))
	if resp.StatusCode != http.StatusAccepted {
		c.log.Warn("demo: edge refused the invalidation; the change stands", "tags", tags, "answer", out)
	} else {
		c.log.Info("demo: edge accepted the invalidation", "tags", tags, "answer", out)
	}
	return out
}

// revisedTitle is event e's title at revision rev.
func revisedTitle(e *eventRow, rev int) []byte {
	b := e.appendTitle(nil)
	if rev > 0 {
		b = append(b, " (revision "...)
		b = strconv.AppendInt(b, int64(rev), 10)
		b = append(b, ')')
	}
	return b
}

// revise rewrites a rendered page for the events it shows (its Surrogate-
// Key names them) that have been changed: their titles, in links and, on
// the event's own page, in <title> and <h1>. A no-op until the first change.
func (s *Site) revise(p *page, path []byte) {
	c := s.changes
	if !c.any.Load() {
		return
	}
	prefix := []byte(kindNames[kindEvent].tag)
	for tag := range bytes.FieldsSeq(p.keys) {
		idBytes, ok := bytes.CutPrefix(tag, prefix)
		if !ok {
			continue
		}
		id := parseID(idBytes)
		rev := c.revision(id)
		if id == 0 || rev == 0 {
			continue
		}
		e := s.model.event(id)
		old, revised := e.appendTitle(nil), revisedTitle(&e, rev)
		link := []byte(`<a href="` + kindNames[kindEvent].dir + strconv.Itoa(id) + `">`)
		p.b = bytes.ReplaceAll(p.b, slices.Concat(link, old), slices.Concat(link, revised))
		if string(path) == kindNames[kindEvent].dir+strconv.Itoa(id) {
			for _, open := range [][]byte{[]byte("<title>"), []byte("<h1>")} {
				p.b = bytes.Replace(p.b, slices.Concat(open, old), slices.Concat(open, revised), 1)
			}
		}
	}
}
