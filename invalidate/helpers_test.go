package invalidate

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/cachekey"
)

// testNormalizer serves the single host x.test with the page parameter
// kept in keys (as the demo config does).
func testNormalizer(t testing.TB) *cachekey.Normalizer {
	t.Helper()
	n, err := cachekey.New(cachekey.Rules{Hosts: []string{"x.test"}, QueryAllow: []string{"page"}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// emptyIndex has no pages.
type emptyIndex struct{}

func (emptyIndex) KeysForTag(string, func(string) bool) error     { return nil }
func (emptyIndex) KeysWithPrefix(string, func(string) bool) error { return nil }
func (emptyIndex) Has(string) bool                                { return false }

// fakeIndex is an in-memory page index: key → tags and generation time.
type fakeIndex struct {
	mu    sync.Mutex // protects pages
	pages map[string]fakePage
}

type fakePage struct {
	tags []string
	gen  time.Time
}

func newFakeIndex(keys ...string) *fakeIndex {
	ix := &fakeIndex{pages: map[string]fakePage{}}
	for _, k := range keys {
		ix.pages[k] = fakePage{}
	}
	return ix
}

func (ix *fakeIndex) add(key string, gen time.Time, tags ...string) {
	ix.mu.Lock()
	ix.pages[key] = fakePage{tags: tags, gen: gen}
	ix.mu.Unlock()
}

func (ix *fakeIndex) sorted(match func(k string, p fakePage) bool) []string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var keys []string
	for k, p := range ix.pages {
		if match(k, p) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func each(keys []string, fn func(string) bool) error {
	for _, k := range keys {
		if !fn(k) {
			break
		}
	}
	return nil
}

func (ix *fakeIndex) KeysForTag(tag string, fn func(string) bool) error {
	return each(ix.sorted(func(_ string, p fakePage) bool { return slices.Contains(p.tags, tag) }), fn)
}

func (ix *fakeIndex) KeysWithPrefix(prefix string, fn func(string) bool) error {
	return each(ix.sorted(func(k string, _ fakePage) bool { return strings.HasPrefix(k, prefix) }), fn)
}

func (ix *fakeIndex) KeysGeneratedBefore(t time.Time, fn func(string) bool) error {
	return each(ix.sorted(func(_ string, p fakePage) bool { return p.gen.Before(t) }), fn)
}

func (ix *fakeIndex) Has(key string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	_, ok := ix.pages[key]
	return ok
}

func (ix *fakeIndex) Delete(key string) error {
	ix.mu.Lock()
	delete(ix.pages, key)
	ix.mu.Unlock()
	return nil
}

// fakeQueue is an in-memory stale-mark queue with the store's semantics
// (sequence numbers, claims, not-before, attempts, drop). It also
// implements Marks against an index.
type fakeQueue struct {
	index *fakeIndex

	mu       sync.Mutex // protects the fields below
	seq      uint64
	marks    map[string]*fakeMark
	claimed  map[string]uint64
	nexts    int                // Next calls
	calls    []markCall         // Mark calls
	settled  []settlement       // every Settle
	onSettle func(s settlement) // called without mu
	failMark error
}

type fakeMark struct {
	prio          edge.Priority
	seq           uint64
	at, notBefore time.Time
	attempts      int
	dropped       bool
}

type markCall struct {
	keys   []string
	prio   edge.Priority
	source string
}

type settlement struct {
	c       Claim
	v       Verdict
	removed bool
	at      time.Time
}

func newFakeQueue(ix *fakeIndex) *fakeQueue {
	return &fakeQueue{index: ix, marks: map[string]*fakeMark{}, claimed: map[string]uint64{}}
}

func (q *fakeQueue) Mark(keys []string, prio edge.Priority, source string) (marked, unknown int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failMark != nil {
		return 0, 0, q.failMark
	}
	q.calls = append(q.calls, markCall{slices.Clone(keys), prio, source})
	now := time.Now()
	for _, k := range keys {
		if q.index != nil && !q.index.Has(k) {
			unknown++
			continue
		}
		q.seq++
		m := &fakeMark{prio: prio, seq: q.seq, at: now, notBefore: now}
		if old := q.marks[k]; old != nil {
			m.prio = min(m.prio, old.prio)
			if !old.dropped {
				m.attempts = old.attempts
				m.notBefore = later(now, old.notBefore)
			}
		}
		q.marks[k] = m
		marked++
	}
	return marked, unknown, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (q *fakeQueue) Marked(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.marks[key] != nil
}

func (q *fakeQueue) Next(now time.Time, max int) ([]Claim, time.Time, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.nexts++
	type entry struct {
		key string
		m   *fakeMark
	}
	var due []entry
	var wake time.Time
	for k, m := range q.marks {
		if m.dropped {
			continue
		}
		if m.notBefore.After(now) {
			if wake.IsZero() || m.notBefore.Before(wake) {
				wake = m.notBefore
			}
			continue
		}
		if _, busy := q.claimed[k]; !busy {
			due = append(due, entry{k, m})
		}
	}
	slices.SortFunc(due, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.m.prio, b.m.prio), a.m.notBefore.Compare(b.m.notBefore), cmp.Compare(a.m.seq, b.m.seq))
	})
	var cs []Claim
	for _, e := range due[:min(max, len(due))] {
		q.claimed[e.key] = e.m.seq
		cs = append(cs, Claim{Key: e.key, Seq: e.m.seq, Priority: e.m.prio, MarkedAt: e.m.at, Attempts: e.m.attempts})
	}
	if len(cs) > 0 {
		wake = time.Time{}
	}
	return cs, wake, nil
}

func (q *fakeQueue) Settle(c Claim, v Verdict, notBefore time.Time) (bool, error) {
	q.mu.Lock()
	removed := false
	m := q.marks[c.Key]
	switch {
	case m == nil:
	case v == Done && m.seq == c.Seq:
		delete(q.marks, c.Key)
		removed = true
	case v == Done:
		m.attempts = 0
	case v == Retry && !m.dropped:
		m.attempts++
		m.notBefore = later(m.notBefore, notBefore)
	case v == Drop:
		m.dropped = true
	}
	if q.claimed[c.Key] == c.Seq {
		delete(q.claimed, c.Key)
	}
	s := settlement{c, v, removed, time.Now()}
	q.settled = append(q.settled, s)
	on := q.onSettle
	q.mu.Unlock()
	if on != nil {
		on(s)
	}
	return removed, nil
}

func (q *fakeQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, m := range q.marks {
		if !m.dropped {
			n++
		}
	}
	return n
}

func (q *fakeQueue) mark(t testing.TB, keys ...string) {
	t.Helper()
	if _, _, err := q.Mark(keys, edge.PriorityInvalidate, "test"); err != nil {
		t.Fatal(err)
	}
}

// fakeGen is a Generator whose answer is programmable per call.
type fakeGen struct {
	mu    sync.Mutex // protects calls
	calls []genCall
	fn    func(ctx context.Context, f edge.Fill) (edge.Result, error)
}

type genCall struct {
	f  edge.Fill
	at time.Time
}

func (g *fakeGen) Generate(ctx context.Context, f edge.Fill) (edge.Result, error) {
	g.mu.Lock()
	g.calls = append(g.calls, genCall{f, time.Now()})
	fn := g.fn
	g.mu.Unlock()
	if fn == nil {
		return okResult(f, true), nil
	}
	return fn(ctx, f)
}

func (g *fakeGen) callTimes(key string) []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ts []time.Time
	for _, c := range g.calls {
		if key == "" || c.f.Key == key {
			ts = append(ts, c.at)
		}
	}
	return ts
}

func okResult(f edge.Fill, changed bool) edge.Result {
	return edge.Result{Page: &edge.Page{Key: f.Key, Status: 200}, Cacheable: true, Changed: changed}
}

var errOrigin = errors.New("gen: origin unavailable")

// fakeMemory records the keys dropped from memory.
type fakeMemory struct {
	mu      sync.Mutex // protects dropped
	dropped []string
}

func (m *fakeMemory) Delete(key string) {
	m.mu.Lock()
	m.dropped = append(m.dropped, key)
	m.mu.Unlock()
}

func (m *fakeMemory) count(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, k := range m.dropped {
		if k == key {
			n++
		}
	}
	return n
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

var testNow = time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
