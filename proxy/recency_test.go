package proxy

import (
	"context"
	"slices"
	"testing"

	"github.com/pregen/edge"
)

// Every stored page served (memory hit, disk hit, stale hit) is reported to
// Recency; negative hits, misses and pass-through are not. The sampling is
// Recency's: a thousand hits of one page in a minute are one report.
func TestServedReportedToRecency(t *testing.T) {
	h := newHarness(t, &Policy{NegativeTTL: 10e9})
	h.mem.put(newPage("/m", "memory"))
	h.store.put(newPage("/d", "disk"))
	stale := newPage("/s", "stale")
	stale.Stale = true
	h.mem.put(stale)
	h.gen.Fn = func(_ context.Context, f edge.Fill) (edge.Result, error) {
		if f.Key == "/missing" {
			p := newPage(f.Key, "gone")
			p.Status = 404
			return edge.Result{Page: p, Negative: true}, nil
		}
		return edge.Result{Page: newPage(f.Key, "new"), Cacheable: true, Changed: true}, nil
	}

	for _, uri := range []string{"/m", "/d", "/s", "/missing", "/missing", "/new", "/pass?x=1"} {
		h.get(uri)
	}
	got := h.recency.reported()
	slices.Sort(got)
	if want := []string{"/d", "/m", "/s"}; !slices.Equal(got, want) {
		t.Fatalf("reported %v, want %v", got, want)
	}
	calls := h.recency.calls.Load()

	for range 1000 {
		h.get("/m")
	}
	if got := h.recency.reported(); len(got) != 0 {
		t.Errorf("1000 hits within the minute reported %v, want nothing more", got)
	}
	if n := h.recency.calls.Load() - calls; n != 1000 {
		t.Errorf("Served called %d times for 1000 hits", n)
	}
	h.recency.now.Add(60)
	for range 1000 {
		h.get("/m")
	}
	if got := h.recency.reported(); !slices.Equal(got, []string{"/m"}) {
		t.Errorf("a minute later: reported %v, want [/m] once", got)
	}
}

// Without Recency hits are served as before.
func TestNilRecency(t *testing.T) {
	h := newHarness(t, nil)
	h.s.Recency = nil
	h.mem.put(newPage("/m", "memory"))
	if ctx := h.get("/m"); respHeader(ctx, "X-Cache") != "HIT" {
		t.Fatal("not a hit")
	}
}
