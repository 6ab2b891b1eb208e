package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type verdict struct {
	key     string
	changed bool
}

// watchedStore opens a store with a short debounce, runs its watcher until
// the test ends, and reports OnChange calls and watcher verdicts.
func watchedStore(t *testing.T) (s *Store, changes chan string, verdicts chan verdict) {
	t.Helper()
	changes = make(chan string, 100)
	verdicts = make(chan verdict, 100)
	s = newTestStore(t, Options{
		Debounce: 20 * time.Millisecond,
		OnChange: func(key string) { changes <- key },
	})
	if s.w == nil {
		t.Skip("fsnotify unavailable here")
	}
	s.onRecheck = func(key string, changed bool) { verdicts <- verdict{key, changed} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
	return s, changes, verdicts
}

// waitChange waits up to 2 s for OnChange(key).
func waitChange(t *testing.T, changes chan string, key string) {
	t.Helper()
	timeout := time.After(2 * time.Second)
	for {
		select {
		case k := <-changes:
			if k == key {
				return
			}
		case <-timeout:
			t.Fatalf("OnChange(%q) not called within 2s", key)
		}
	}
}

// waitVerdict waits up to 2 s for the watcher to look at key.
func waitVerdict(t *testing.T, verdicts chan verdict, key string) bool {
	t.Helper()
	timeout := time.After(2 * time.Second)
	for {
		select {
		case v := <-verdicts:
			if v.key == key {
				return v.changed
			}
		case <-timeout:
			t.Fatalf("watcher did not look at %q within 2s", key)
		}
	}
}

func TestWatchExternalReplace(t *testing.T) {
	s, changes, _ := watchedStore(t)
	mustPut(t, s, testPage("/events/42", 100, "v1"))
	if !s.Watch("/events/42") {
		t.Fatal("Watch failed")
	}
	gen := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	writeByHand(t, s.dir, "events/42", "/events/42", []byte("from another process"), `"other"`, gen)
	waitChange(t, changes, "/events/42")

	p := mustGet(t, s, "/events/42")
	if string(p.Body) != "from another process" || p.ETag != `"other"` || !p.GeneratedAt.Equal(gen) || p.Gzip != nil {
		t.Errorf("Get after external replace: %q %s %v gzip=%v", p.Body, p.ETag, p.GeneratedAt, p.Gzip != nil)
	}
	if st := s.Stats(); st.Pages != 1 || st.Bytes != int64(len(p.Body)) {
		t.Errorf("Stats = %+v", st)
	}
}

func TestWatchExternalRemove(t *testing.T) {
	s, changes, _ := watchedStore(t)
	mustPut(t, s, testPage("/", 100, "v1", "home"))
	mustPut(t, s, testPage("/gone/", 100, "v1", "t"))
	for _, key := range []string{"/", "/gone/"} {
		if !s.Watch(key) {
			t.Fatalf("Watch(%q) failed", key)
		}
	}
	for _, f := range []string{fileMeta, fileBody} {
		if err := os.Remove(filepath.Join(s.dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	waitChange(t, changes, "/")
	if _, err := s.Get("/"); !isNotFound(err) {
		t.Errorf("Get after external removal: %v", err)
	}

	// The whole directory removed: its watch goes away with it.
	if err := os.RemoveAll(filepath.Join(s.dir, "gone")); err != nil {
		t.Fatal(err)
	}
	waitChange(t, changes, "/gone/")
	if _, err := s.Meta("/gone/"); !isNotFound(err) {
		t.Errorf("Meta after external removal: %v", err)
	}
	if got := keysForTag(t, s, "t"); len(got) != 0 {
		t.Errorf("tag entries survive external removal: %v", got)
	}
	if st := s.Stats(); st.Pages != 0 || st.Watches != 1 {
		t.Errorf("Stats = %+v, want no pages and the root's watch only", st)
	}
}

func TestWatchOwnWritesAreNotChanges(t *testing.T) {
	s, changes, verdicts := watchedStore(t)
	mustPut(t, s, testPage("/own", 100, "v1"))
	if !s.Watch("/own") {
		t.Fatal("Watch failed")
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"new version", func() error { _, err := s.Put(testPage("/own", 200, "v2")); return err }},
		{"same ETag", func() error {
			p := testPage("/own", 200, "v2")
			p.GeneratedAt = p.GeneratedAt.Add(time.Minute)
			_, err := s.Put(p.Finish())
			return err
		}},
		{"delete", func() error { return s.Delete("/own") }},
	}
	for _, step := range steps {
		if err := step.do(); err != nil {
			t.Fatal(err)
		}
		if waitVerdict(t, verdicts, "/own") {
			t.Errorf("%s: own write seen as another process's", step.name)
		}
		select {
		case k := <-changes:
			t.Errorf("%s: OnChange(%q) called for an own write", step.name, k)
		default:
		}
	}
}

func TestWatchLimits(t *testing.T) {
	s := newTestStore(t, Options{MaxWatches: 2})
	if s.w == nil {
		t.Skip("fsnotify unavailable here")
	}
	for _, k := range []string{"/a", "/b", "/c"} {
		mustPut(t, s, testPage(k, 10, "v"))
	}
	if s.Watch("/absent") {
		t.Error("Watch of a page that does not exist succeeded")
	}
	if s.Watch("/../x") {
		t.Error("Watch of a bad key succeeded")
	}
	if !s.Watch("/a") || !s.Watch("/b") {
		t.Fatal("Watch failed under the cap")
	}
	if !s.Watch("/a") {
		t.Fatal("watching an already watched page again failed")
	}
	if s.Watch("/c") {
		t.Error("Watch over MaxWatches succeeded")
	}
	if st := s.Stats(); st.Watches != 2 {
		t.Errorf("Watches = %d", st.Watches)
	}
	s.Unwatch("/a")
	s.Unwatch("/never")
	if !s.Watch("/c") {
		t.Error("Watch after Unwatch failed")
	}
	if st := s.Stats(); st.Watches != 2 {
		t.Errorf("Watches = %d", st.Watches)
	}
}

func TestRunReturns(t *testing.T) {
	s := newTestStore(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after cancel, want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}

	// Closing the store also ends Run.
	go func() { done <- s.Run(context.Background()) }()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after Close, want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}
