package s3store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pregen/edge"
)

// newTiered opens a Tiered on dir whose back-offs end when clk is advanced
// past them (its clock only ticks otherwise); BackoffMin is also how long
// Run waits between passes, in real time.
func newTiered(t *testing.T, dir string, remote Remote, clk *clock) *Tiered {
	t.Helper()
	tr, err := New(openStore(t, dir), remote, Options{BackoffMin: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// run runs tr.Run until the test ends.
func run(t *testing.T, tr *Tiered) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestTieredLocalHitNeverTouchesS3(t *testing.T) {
	f := startFake(t)
	tr := newTiered(t, t.TempDir(), f.bucket(t, ""), newClock())
	p := testPage("/events/1", "event one", time.Now().UTC())
	if _, err := tr.Put(p); err != nil {
		t.Fatal(err)
	}
	before := f.requests.Load()
	for _, down := range []bool{false, true} {
		f.down.Store(down)
		got, err := tr.Get("/events/1")
		if err != nil {
			t.Fatalf("down=%v: %v", down, err)
		}
		samePage(t, got, p)
		v, err := tr.GetVariant("/events/1", true, true)
		if err != nil || string(v.Brotli) != string(p.Brotli) {
			t.Fatalf("down=%v: variant: %v", down, err)
		}
	}
	if n := f.requests.Load() - before; n != 0 {
		t.Fatalf("local hits sent %d requests to S3", n)
	}
}

func TestTieredReadThroughKeepsLocalCopy(t *testing.T) {
	f := startFake(t)
	a := newTiered(t, t.TempDir(), f.bucket(t, "site"), newClock())
	b := newTiered(t, t.TempDir(), f.bucket(t, "site"), newClock())
	p := testPage("/events/2", "event two", time.Now().UTC())
	if changed, err := a.Put(p); err != nil || !changed {
		t.Fatalf("put: %v %v", changed, err)
	}
	if _, err := b.local.Get(p.Key); !errors.Is(err, edge.ErrNotFound) {
		t.Fatalf("b has the page before reading it: %v", err)
	}
	got, err := b.Get(p.Key)
	if err != nil {
		t.Fatal(err)
	}
	samePage(t, got, p)
	local, err := b.local.Get(p.Key)
	if err != nil {
		t.Fatalf("no local copy after a read from S3: %v", err)
	}
	samePage(t, local, p)
	before := f.requests.Load()
	if _, err := b.Get(p.Key); err != nil {
		t.Fatal(err)
	}
	if f.requests.Load() != before {
		t.Fatal("second read went to S3")
	}
	if s := b.Stats(); s.ReadThrough != 1 {
		t.Fatalf("stats %+v", s)
	}
	// The one-representation read of the proxy's disk path reads through too.
	q := testPage("/events/3", "event three", time.Now().UTC())
	if _, err := a.Put(q); err != nil {
		t.Fatal(err)
	}
	v, err := b.GetVariant(q.Key, false, true)
	if err != nil || string(v.Gzip) != string(q.Gzip) {
		t.Fatalf("variant read-through: %v", err)
	}
	if _, err := b.local.Get(q.Key); err != nil {
		t.Fatalf("no local copy after a variant read from S3: %v", err)
	}
	if s := b.Stats(); s.ReadThrough != 2 {
		t.Fatalf("stats %+v", s)
	}
	if _, err := b.Get("/not/anywhere"); !errors.Is(err, edge.ErrNotFound) {
		t.Fatalf("absent page: %v", err)
	}
	if s := b.Stats(); s.ReadMisses != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// S3 down: local disk serves, misses skip S3, writes go to local disk and
// to a durable queue that survives a restart and is delivered once S3 is
// back; nothing is lost.
func TestTieredOutageQueuesWritesDurably(t *testing.T) {
	f := startFake(t)
	bucket := f.bucket(t, "")
	dir := t.TempDir()
	clk := newClock()
	tr := newTiered(t, dir, bucket, clk)
	old := testPage("/old", "stored before the outage", clk.Now())
	if _, err := tr.Put(old); err != nil {
		t.Fatal(err)
	}
	f.down.Store(true)
	p1 := testPage("/during/1", "written during the outage", clk.Now())
	p2 := testPage("/during/2", "also written during the outage", clk.Now())
	for _, p := range []*edge.Page{p1, p2} {
		if changed, err := tr.Put(p); err != nil || !changed {
			t.Fatalf("put during outage: %v %v", changed, err)
		}
		if got, err := tr.Get(p.Key); err != nil {
			t.Fatalf("local copy: %v", err)
		} else {
			samePage(t, got, p)
		}
	}
	if got, err := tr.Get(old.Key); err != nil {
		t.Fatalf("page stored before the outage: %v", err)
	} else {
		samePage(t, got, old)
	}
	if _, err := tr.Get("/missing"); !errors.Is(err, edge.ErrNotFound) {
		t.Fatalf("miss during outage: %v", err)
	}
	s := tr.Stats()
	if s.Pending != 2 || s.WriteErrors != 1 || s.WritesQueued != 1 || !s.Down || s.LastError == "" {
		t.Fatalf("stats during outage: %+v", s)
	}
	if err := tr.Delete(old.Key); err != nil {
		t.Fatal(err)
	}
	if s := tr.Stats(); s.Pending != 3 {
		t.Fatalf("queued deletion not counted: %+v", s)
	}

	// Restart: the queue is on disk.
	if err := tr.local.Close(); err != nil {
		t.Fatal(err)
	}
	tr = newTiered(t, dir, bucket, clk)
	if s := tr.Stats(); s.Pending != 3 {
		t.Fatalf("queue after restart: %+v", s)
	}
	f.down.Store(false)
	clk.Advance(time.Minute)
	run(t, tr)
	waitFor(t, "queued writes delivered", func() bool { return tr.Stats().Pending == 0 })
	for _, p := range []*edge.Page{p1, p2} {
		got, err := bucket.Get(ctx, p.Key)
		if err != nil {
			t.Fatalf("%s not delivered: %v", p.Key, err)
		}
		samePage(t, got, p)
	}
	if _, err := bucket.Get(ctx, old.Key); !errors.Is(err, edge.ErrNotFound) {
		t.Fatalf("queued deletion not delivered: %v", err)
	}
	if s := tr.Stats(); s.Retried != 3 || s.Down {
		t.Fatalf("stats after delivery: %+v", s)
	}
}

// A queued write never replaces a newer page another edge wrote meanwhile.
func TestTieredQueuedWriteKeepsNewerRemotePage(t *testing.T) {
	f := startFake(t)
	bucket := f.bucket(t, "")
	clk := newClock()
	a := newTiered(t, t.TempDir(), bucket, clk)
	gen := time.Now().UTC()
	f.down.Store(true)
	if _, err := a.Put(testPage("/k", "older, from a", gen)); err != nil {
		t.Fatal(err)
	}
	f.down.Store(false)
	newer := testPage("/k", "newer, from b", gen.Add(time.Second))
	if _, err := bucket.Put(ctx, newer, false); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	run(t, a)
	waitFor(t, "queue drained", func() bool { return a.Stats().Pending == 0 })
	got, err := bucket.Get(ctx, "/k")
	if err != nil {
		t.Fatal(err)
	}
	samePage(t, got, newer)
	if s := a.Stats(); s.Superseded != 1 || s.Retried != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// A successful write of a key settles its queued one.
func TestTieredNewWriteSettlesQueuedOne(t *testing.T) {
	f := startFake(t)
	clk := newClock()
	tr := newTiered(t, t.TempDir(), f.bucket(t, ""), clk)
	f.down.Store(true)
	if _, err := tr.Put(testPage("/q", "first", time.Now().UTC())); err != nil {
		t.Fatal(err)
	}
	f.down.Store(false)
	clk.Advance(time.Minute)
	if _, err := tr.Put(testPage("/q", "second", time.Now().UTC())); err != nil {
		t.Fatal(err)
	}
	if s := tr.Stats(); s.Pending != 0 || s.Writes != 1 {
		t.Fatalf("stats %+v", s)
	}
}
