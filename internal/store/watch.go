package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	bolt "go.etcd.io/bbolt"
)

// watcher watches the directories of pages held by the memory tier, the way
// fsnotify's own examples do: watch the directory, filter events by file
// name, and debounce per directory with a time.AfterFunc that each new event
// resets. Settled directories are handed to Run's goroutine, which does the
// checking, so OnChange is only ever called from Run.
type watcher struct {
	fw   *fsnotify.Watcher
	kick chan struct{} // capacity 1: "pending is not empty"

	mu      sync.Mutex             // protects the fields below
	dirs    map[string]string      // absolute page directory → key
	timers  map[string]*time.Timer // absolute page directory → debounce timer
	pending []string               // keys whose directories settled, oldest first
	queued  map[string]bool        // keys in pending
	closed  bool
}

func newWatcher() (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return &watcher{
		fw:     fw,
		kick:   make(chan struct{}, 1),
		dirs:   make(map[string]string),
		timers: make(map[string]*time.Timer),
		queued: make(map[string]bool),
	}, nil
}

func (w *watcher) close() {
	w.mu.Lock()
	w.closed = true
	for _, t := range w.timers {
		t.Stop()
	}
	w.mu.Unlock()
	_ = w.fw.Close() // closes Events and Errors: Run returns
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.dirs)
}

// absDir returns the absolute path of a page directory, as the watcher
// names it.
func (s *Store) absDir(dir string) string {
	return filepath.Join(s.dir, filepath.FromSlash(dir))
}

// Watch starts watching key's page directory, so that a replacement or
// removal of its files by another process is reconciled into the index and
// reported through Options.OnChange. It is best effort: it returns false
// when the directory does not exist, the MaxWatches cap is reached, or the
// system refuses another watch.
func (s *Store) Watch(key string) bool {
	if s.w == nil {
		return false
	}
	dir, err := pageDir(key)
	if err != nil {
		return false
	}
	if fi, err := s.root.Stat(dir); err != nil || !fi.IsDir() {
		return false // absent, or a link leading out of the root
	}
	abs := s.absDir(dir)
	w := s.w
	w.mu.Lock()
	_, watched := w.dirs[abs]
	full := len(w.dirs) >= s.maxWatches
	if !w.closed && !watched && !full {
		w.dirs[abs] = key // reserve the slot
	}
	closed := w.closed
	w.mu.Unlock()
	switch {
	case closed:
		return false
	case watched:
		return true
	case full:
		return false
	}
	// fsnotify is called without w.mu held: its reader goroutine may hold
	// its own lock while it waits for Run, and Run may be waiting for w.mu.
	if err := w.fw.Add(abs); err != nil {
		s.log.Debug("store: watch", "key", key, "err", err)
		w.mu.Lock()
		delete(w.dirs, abs)
		w.mu.Unlock()
		return false
	}
	return true
}

// Unwatch stops watching key's page directory.
func (s *Store) Unwatch(key string) {
	if s.w == nil {
		return
	}
	dir, err := pageDir(key)
	if err != nil {
		return
	}
	abs := s.absDir(dir)
	w := s.w
	w.mu.Lock()
	_, watched := w.dirs[abs]
	delete(w.dirs, abs)
	if t := w.timers[abs]; t != nil {
		t.Stop()
		delete(w.timers, abs)
	}
	closed := w.closed
	w.mu.Unlock()
	if watched && !closed {
		_ = w.fw.Remove(abs) // fails harmlessly if the directory is gone
	}
}

// Run processes watcher events until ctx is done (returning nil) or the
// Store is closed. Call it once, from its own goroutine.
func (s *Store) Run(ctx context.Context) error {
	if s.w == nil {
		<-ctx.Done()
		return nil
	}
	w := s.w
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.fw.Events:
			if !ok {
				return nil
			}
			w.event(e, s.debounce)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return nil
			}
			s.log.Warn("store: watcher", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.scheduleAll(s.debounce) // events were lost: look at everything
			}
		case <-w.kick:
			for _, key := range w.take() {
				s.recheck(key)
			}
		}
	}
}

// event schedules a look at the page directory an event concerns.
func (w *watcher) event(e fsnotify.Event, debounce time.Duration) {
	if !e.Has(fsnotify.Create | fsnotify.Write | fsnotify.Remove | fsnotify.Rename) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if key, ok := w.dirs[e.Name]; ok && e.Has(fsnotify.Remove|fsnotify.Rename) {
		// The page directory itself went away, and the kernel dropped its
		// watch with it.
		delete(w.dirs, e.Name)
		w.scheduleLocked(e.Name, key, debounce)
		return
	}
	dir, name := filepath.Split(e.Name)
	dir = filepath.Clean(dir)
	key, ok := w.dirs[dir]
	if !ok {
		return
	}
	switch name {
	case fileBody, fileGzip, fileBrotli, fileMeta:
		w.scheduleLocked(dir, key, debounce)
	}
}

func (w *watcher) scheduleAll(debounce time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for dir, key := range w.dirs {
		w.scheduleLocked(dir, key, debounce)
	}
}

// scheduleLocked (re)starts the debounce timer of a directory.
func (w *watcher) scheduleLocked(dir, key string, debounce time.Duration) {
	if w.closed {
		return
	}
	if t := w.timers[dir]; t != nil {
		t.Reset(debounce)
		return
	}
	w.timers[dir] = time.AfterFunc(debounce, func() { w.settled(dir, key) })
}

// settled queues key for Run once its directory has been quiet for the
// debounce period. It runs on the timer's goroutine and never blocks.
func (w *watcher) settled(dir, key string) {
	w.mu.Lock()
	if _, watched := w.dirs[dir]; !watched {
		delete(w.timers, dir)
	}
	if !w.queued[key] {
		w.queued[key] = true
		w.pending = append(w.pending, key)
	}
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *watcher) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	keys := w.pending
	w.pending = nil
	clear(w.queued)
	return keys
}

// recheck compares a watched page's files with its index record and, if
// another process changed them, updates the index and calls OnChange.
func (s *Store) recheck(key string) {
	dir, err := pageDir(key)
	if err != nil {
		return
	}
	mu := s.lock(key)
	mu.Lock()
	changed, err := s.reconcileLocked(key, dir)
	mu.Unlock()
	if err != nil {
		s.log.Warn("store: reconcile watched page", "key", key, "err", err)
	}
	if changed && s.onChange != nil {
		s.onChange(key)
	}
	if s.onRecheck != nil {
		s.onRecheck(key, changed)
	}
}

// reconcileLocked makes the index agree with a page directory: it indexes
// a complete page whose sidecar or body is not the version the index holds,
// and drops the record of a page whose files are gone or incomplete. Own
// writes are not changes: Put holds the key's lock until the index records
// the files it wrote (their inode and mtime included). Called with the
// key's lock held.
func (s *Store) reconcileLocked(key, dir string) (changed bool, err error) {
	rec, _, err := s.lookup(key)
	if err != nil && !errors.Is(err, errBadRecord) {
		return false, err
	}
	cur, err := s.onDisk(key, dir)
	if err != nil {
		return false, err
	}
	switch {
	case cur == nil && rec == nil:
		return false, nil
	case cur == nil:
		var d delta
		err := s.indexWrite(func(tx *bolt.Tx) (err error) {
			d, err = deleteTx(tx, key)
			return err
		})
		if err != nil {
			return false, err
		}
		s.account(d)
		return true, nil
	case rec != nil && sameVersion(rec, cur):
		return false, nil
	}
	return true, s.indexPut(key, cur)
}
