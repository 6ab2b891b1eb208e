package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFsck(t *testing.T) {
	s := newTestStore(t, Options{})
	mustPut(t, s, testPage("/keep", 100, "v1", "t"))
	mustPut(t, s, testPage("/lost", 100, "v1", "t"))
	mustPut(t, s, testPage("/lost/child", 100, "v1"))

	// Another process copies in a page, and one with a sidecar naming a key
	// that does not belong in its directory (copied to the wrong place).
	gen := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	writeByHand(t, s.dir, "copied/@qa=1", "/copied?a=1", []byte("copied body"), `"c1"`, gen)
	writeByHand(t, s.dir, "misplaced", "/elsewhere", []byte("x"), `"m"`, gen)
	// Someone deletes a page's body, and a crash leaves a temp file.
	if err := os.Remove(filepath.Join(s.dir, "lost", fileBody)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, tmpDir, "orphan"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Files under @edge are never taken for pages.
	writeByHand(t, s.dir, "@edge/tmp/fake", "/fake", []byte("x"), `"f"`, gen)

	rep, err := s.Fsck(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Report{Scanned: 5, Indexed: 1, Dropped: 1, TempRemoved: 2}
	if rep != want {
		t.Errorf("Fsck = %+v, want %+v", rep, want)
	}
	p := mustGet(t, s, "/copied?a=1")
	if string(p.Body) != "copied body" || p.ETag != `"c1"` || !p.GeneratedAt.Equal(gen) {
		t.Errorf("copied page: %q %s %v", p.Body, p.ETag, p.GeneratedAt)
	}
	for _, key := range []string{"/lost", "/elsewhere"} {
		if _, err := s.Get(key); !isNotFound(err) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", key, err)
		}
	}
	mustGet(t, s, "/lost/child")
	if got := keysForTag(t, s, "t"); len(got) != 1 || got[0] != "/keep" {
		t.Errorf("tag t after fsck: %v", got)
	}
	if st := s.Stats(); st.Pages != 3 {
		t.Errorf("Stats = %+v, want 3 pages", st)
	}

	// Nothing left to do the second time.
	rep, err = s.Fsck(context.Background())
	if err != nil || rep != (Report{Scanned: 5}) {
		t.Errorf("second Fsck = %+v, %v", rep, err)
	}
}

// TestFsckRebuildsIndex deletes the index and rebuilds it from the files,
// in several batches, while the store keeps being written.
func TestFsckRebuildsIndex(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir, Options{NoSync: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	const n = 600
	for i := range n {
		mustPut(t, s, testPage(fmt.Sprintf("/p/%d", i), 50, "v", "all"))
	}
	want := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, dbFile)); err != nil {
		t.Fatal(err)
	}

	s = openTestStore(t, dir, Options{NoSync: true})
	if st := s.Stats(); st.Pages != 0 {
		t.Fatalf("fresh index has %d pages", st.Pages)
	}
	batches := 0
	s.onBatchDone = func() {
		batches++
		if batches == 1 { // writes go on between batches
			mustPut(t, s, testPage("/p/0", 70, "newer", "all"))
		}
	}
	rep, err := s.Fsck(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scanned != n || rep.Indexed < n-1 || rep.Dropped != 0 || batches < 3 {
		t.Errorf("Fsck = %+v in %d batches", rep, batches)
	}
	if p := mustGet(t, s, "/p/0"); p.ETag != `"newer"` {
		t.Errorf("Fsck overwrote a concurrent Put: %s", p.ETag)
	}
	if got := len(keysForTag(t, s, "all")); got != n {
		t.Errorf("tag all: %d keys", got)
	}
	grew := int64(70+len("gz:newer")+len("br:newer")) - int64(50+len("gz:v")+len("br:v"))
	if st := s.Stats(); st.Pages != want.Pages || st.Bytes != want.Bytes+grew {
		t.Errorf("Stats = %+v, want %+v (+%d bytes)", st, want, grew)
	}
}

func TestFsckCancel(t *testing.T) {
	s := newTestStore(t, Options{NoSync: true})
	mustPut(t, s, testPage("/a", 10, "v"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Fsck(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Fsck with a cancelled context: %v", err)
	}
}
