package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pregen/edge"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Options configures a Store. The zero value is the crash-safe default.
// Open copies what it needs; changing Options afterwards has no effect.
type Options struct {
	// NoSync skips fsync of files, directories and the index. Faster, but a
	// power loss may lose recent pages or corrupt the index (delete
	// @edge/index.db and run Fsck to rebuild it). Zero value: sync everything.
	NoSync bool
	// Logger receives what has no caller to return it to: watcher errors,
	// Fsck repairs, temp files removed at Open. Put and Delete return their
	// errors instead. If nil, slog.Default() is used.
	Logger *slog.Logger
	// OnChange is called, from the goroutine running Run, when a watched
	// page's files were replaced or removed by another process, so the memory
	// tier can drop its copy. It must not block for long. If nil, changes are
	// still reconciled into the index but nobody is told.
	OnChange func(key string)
	// Debounce is how long the watcher waits after the last event in a page
	// directory before looking at it. If zero, 100ms.
	Debounce time.Duration
	// MaxWatches caps the number of watched page directories (each costs an
	// inotify watch). If zero, 8192.
	MaxWatches int
	// ServedEvery is how often one page's serving is recorded at most (see
	// Served): the resolution of least-recently-served eviction. If zero,
	// one minute.
	ServedEvery time.Duration
	// Now is the clock of last-served times. If nil, time.Now.
	Now func() time.Time
}

// Stats are the store's counters, returned by value (a snapshot). Pages and
// Bytes come from the index and survive restarts; WriteErrors counts failed
// Put and Delete calls since Open.
type Stats struct {
	Pages       int64 // stored pages
	Bytes       int64 // bytes of all variants of all pages (sidecars excluded)
	WriteErrors int64
	Watches     int64 // watched page directories
	// ServedWrites counts the index transactions that recorded last-served
	// times; ServedDropped the reports lost to a full buffer (the page is
	// reported again ServedEvery later).
	ServedWrites, ServedDropped int64
}

// Meta is what the index knows about a page, without its bodies. It is a
// value shared with nobody; its Tags slice is a fresh copy.
type Meta struct {
	Key, ContentType, ETag string
	Status                 int
	Size                   int64 // identity body
	Bytes                  int64 // all variants
	GeneratedAt            time.Time
	Tags                   []string
	Stale                  bool
	Gzip, Brotli           bool
}

// Store is the disk tier: pages as plain files under one root directory,
// indexed by an embedded bbolt database. It is safe for concurrent use by
// multiple goroutines; only one Store (one process) may have a directory
// open at a time.
type Store struct {
	dir        string // absolute path of the root, for the watcher
	root       *os.Root
	beneath    *beneath // the root for one-call reads; nil where unsupported
	db         *bolt.DB
	log        *slog.Logger
	noSync     bool
	onChange   func(key string)
	debounce   time.Duration
	maxWatches int
	now        func() time.Time

	clock         atomic.Int64 // coarse now for Served, Unix seconds
	servedEvery   int64        // seconds
	servedQ       chan *edge.Page
	servedWrites  atomic.Int64
	servedDropped atomic.Int64

	// locks serialise the writers of one page directory (Put, Delete, the
	// watcher; Get when it must wait for a writer); a key always maps to
	// the same stripe.
	locks [numStripes]sync.Mutex

	writers     atomic.Int32 // index writers in flight (see indexWrite)
	pages       atomic.Int64
	bytes       atomic.Int64
	writeErrors atomic.Int64
	markCounts  [edge.NumPriorities + 1]atomic.Int64 // pending marks by priority, then dropped
	collapsed   atomic.Int64                         // re-marks of pending marks since Open
	ages        ageCounts                            // age histogram (age.go)

	claimMu sync.Mutex        // protects claimed
	claimed map[string]uint64 // key → seq of the marks handed out by Next and not settled

	tmpPrefix string
	tmpSeq    atomic.Uint64
	tmpMu     sync.Mutex          // protects tmpLive
	tmpLive   map[string]struct{} // temp files being written, kept by Fsck

	w *watcher // nil when inotify is unavailable

	closeOnce sync.Once
	closeErr  error

	// Test seams, set only by tests before use.
	createTemp  func(name string) (tempFile, error) // opens a new temp file
	onRecheck   func(key string, changed bool)      // sees every watcher verdict
	onBatchDone func()                              // after each Fsck batch
}

// Open opens (creating if needed) the store rooted at dir. It takes the
// index lock (failing after one second with an error wrapping ErrLocked if
// another process holds it), removes the temp files a crash left behind and
// loads the counters; it does not read the page tree, so it costs the same
// for ten pages or ten million.
func Open(dir string, o Options) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	s := &Store{
		dir:        abs,
		root:       root,
		log:        o.Logger,
		noSync:     o.NoSync,
		onChange:   o.OnChange,
		debounce:   o.Debounce,
		maxWatches: o.MaxWatches,
		tmpLive:    make(map[string]struct{}),
		claimed:    make(map[string]uint64),
		now:        o.Now,
		servedQ:    make(chan *edge.Page, servedQueue),
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.servedEvery = int64(o.ServedEvery / time.Second)
	if s.servedEvery <= 0 {
		s.servedEvery = 60
	}
	s.tickClock()
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.debounce <= 0 {
		s.debounce = 100 * time.Millisecond
	}
	if s.maxWatches <= 0 {
		s.maxWatches = 8192
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	s.tmpPrefix = hex.EncodeToString(rnd[:])
	s.createTemp = s.openTemp

	fail := func(err error) (*Store, error) {
		if s.db != nil {
			_ = s.db.Close()
		}
		_ = root.Close()
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	if err := root.MkdirAll(tmpDir, 0o755); err != nil {
		return fail(err)
	}
	// The lock comes first: temp files belong to whoever holds it.
	s.db, err = bolt.Open(dbFile, 0o644, &bolt.Options{
		Timeout:  time.Second,
		NoSync:   o.NoSync,
		OpenFile: root.OpenFile,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fail(fmt.Errorf("%w (index %s is locked)", ErrLocked, dbFile))
	}
	if err != nil {
		return fail(fmt.Errorf("index %s: %w", dbFile, err))
	}
	s.db.MaxBatchDelay = 2 * time.Millisecond
	backfill, err := s.initIndex()
	if err != nil {
		return fail(fmt.Errorf("index: %w", err))
	}
	if backfill {
		n, err := s.fsckServed(context.Background())
		if err != nil {
			return fail(fmt.Errorf("index: last-served times: %w", err))
		}
		s.log.Info("store: recorded last-served times of pages indexed by an older edge", "count", n)
	}
	n, err := s.removeTemps()
	if err != nil {
		return fail(err)
	}
	if n > 0 {
		s.log.Info("store: removed temp files left by a crash", "dir", abs, "count", n)
	}
	if s.beneath, err = openBeneath(abs); err != nil {
		return fail(err)
	}
	s.w, err = newWatcher()
	if err != nil {
		s.log.Warn("store: watching disabled", "err", err)
	}
	return s, nil
}

// Close stops the watcher (Run returns) and closes the index and the root.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.w != nil {
			s.w.close()
		}
		s.closeErr = errors.Join(s.db.Close(), s.root.Close(), s.beneath.close())
	})
	return s.closeErr
}

// lock returns the mutex serialising writers of key's directory.
func (s *Store) lock(key string) *sync.Mutex { return &s.locks[stripe(key)] }

// numStripes is the number of page-writer mutexes.
const numStripes = 256

// stripe is the index in Store.locks of key's mutex.
func stripe(key string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % numStripes)
}

// Meta returns what the index knows about key, reading no page file. It
// returns an error wrapping edge.ErrNotFound when key has no page.
func (s *Store) Meta(key string) (Meta, error) {
	if _, err := pageDir(key); err != nil {
		return Meta{}, fmt.Errorf("store: meta: %w", err)
	}
	rec, _, err := s.lookup(key)
	if errors.Is(err, errBadRecord) {
		return Meta{}, fmt.Errorf("%w: %w", err, edge.ErrNotFound)
	}
	if err != nil {
		return Meta{}, err
	}
	if rec == nil {
		return Meta{}, fmt.Errorf("store: meta %q: %w", key, edge.ErrNotFound)
	}
	return rec.meta(key), nil
}

// KeysForTag calls fn for each key carrying tag, in key order, until fn
// returns false. fn runs outside any index transaction, so it may call the
// Store (the keys are read in chunks; a key added or removed meanwhile may
// or may not be seen).
func (s *Store) KeysForTag(tag string, fn func(key string) bool) error {
	prefix := tagKey(tag, "")
	seek, resume := prefix, false
	for {
		var keys []string
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketTags).Cursor()
			k, _ := c.Seek(seek)
			if resume && bytes.Equal(k, seek) {
				k, _ = c.Next() // already returned
			}
			for ; k != nil && bytes.HasPrefix(k, prefix) && len(keys) < 512; k, _ = c.Next() {
				keys = append(keys, string(k[len(prefix):]))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: keys for tag %q: %w", tag, err)
		}
		for _, k := range keys {
			if !fn(k) {
				return nil
			}
		}
		if len(keys) < 512 {
			return nil
		}
		seek, resume = tagKey(tag, keys[len(keys)-1]), true
	}
}

// SetStale durably marks the pages of keys stale at PriorityInvalidate (as
// Mark does, with source "set-stale"), or removes their marks, and returns
// how many of the keys have a page (marking) or had a mark (unmarking).
func (s *Store) SetStale(keys []string, stale bool) (int, error) {
	if !stale {
		return s.Unmark(keys)
	}
	n, _, err := s.Mark(keys, edge.PriorityInvalidate, "set-stale")
	return n, err
}

// Stats returns the counters; it costs a few atomic loads.
func (s *Store) Stats() Stats {
	st := Stats{
		Pages:       s.pages.Load(),
		Bytes:       s.bytes.Load(),
		WriteErrors: s.writeErrors.Load(),

		ServedWrites:  s.servedWrites.Load(),
		ServedDropped: s.servedDropped.Load(),
	}
	if s.w != nil {
		st.Watches = int64(s.w.count())
	}
	return st
}

// testHookReadDir, set only by tests, sees every directory the store lists
// (Open included, which is why it is not a Store field).
var testHookReadDir func(name string)

// readDir lists a directory of the root.
func (s *Store) readDir(name string) ([]fs.DirEntry, error) {
	if testHookReadDir != nil {
		testHookReadDir(name)
	}
	return fs.ReadDir(s.root.FS(), name)
}

// removeTemps removes every temp file not being written by this process.
func (s *Store) removeTemps() (int, error) {
	ents, err := s.readDir(tmpDir)
	if err != nil {
		return 0, fmt.Errorf("list temp files: %w", err)
	}
	var n int
	for _, e := range ents {
		name := tmpDir + "/" + e.Name()
		s.tmpMu.Lock()
		_, live := s.tmpLive[name]
		s.tmpMu.Unlock()
		if live {
			continue
		}
		err := s.root.Remove(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // renamed or removed by its writer meanwhile
		}
		if err != nil {
			err = s.root.RemoveAll(name) // a directory
		}
		if err != nil {
			return n, fmt.Errorf("remove temp file: %w", err)
		}
		n++
	}
	return n, nil
}
