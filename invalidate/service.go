package invalidate

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/cachekey"
)

// Index is the page index messages are resolved against. *store.Store
// satisfies it.
type Index interface {
	// KeysForTag and KeysWithPrefix call fn for each matching key of a
	// stored page until fn returns false; fn may call the Index.
	KeysForTag(tag string, fn func(key string) bool) error
	KeysWithPrefix(prefix string, fn func(key string) bool) error
	// Has reports whether key has a stored page.
	Has(key string) bool
}

// Marks records stale marks durably. *store.Store satisfies it.
type Marks interface {
	// Mark marks the pages of keys stale at prio and returns when the marks
	// are durable; keys without a page are counted in unknown.
	Mark(keys []string, prio edge.Priority, source string) (marked, unknown int, err error)
	// Marked reports whether key's page carries a mark.
	Marked(key string) bool
}

// Pages deletes stored pages (files, variants, index record, tags and
// mark). *store.Store satisfies it.
type Pages interface {
	Delete(key string) error
}

// Memory is the memory tier, from which changed pages are dropped.
// *memcache.Cache satisfies it.
type Memory interface {
	Delete(key string)
}

// markChunk is how many keys one Mark transaction takes: a message naming
// every page of a large site is marked in several durable steps, all
// committed before Apply returns.
const markChunk = 10000

// Result is what applying a message did: Marked pages are stale and queued
// (soft), Deleted pages are gone (hard), Unknown URLs named no stored page
// (or a URL that is never stored, such as one with an unknown query
// parameter). It encodes as the admin API's answer.
type Result struct {
	Marked  int `json:"marked"`
	Deleted int `json:"deleted,omitempty"`
	Unknown int `json:"unknown"`
}

// Service turns messages into stale marks (or deletions). Set the fields,
// then use it; it is safe for concurrent use.
type Service struct {
	// Keys normalises URLs and prefixes as requests are normalised, so a
	// message names exactly the keys requests produce. Required.
	Keys *cachekey.Normalizer
	// Index, Marks, Pages and Memory are the store and the memory tier.
	// All required.
	Index  Index
	Marks  Marks
	Pages  Pages
	Memory Memory
	// OnMarked is called after new marks are durable (the regenerator's
	// Wake). Nil means nobody is told.
	OnMarked func()
	// Logger receives what has no caller to return it to. Nil means
	// slog.Default().
	Logger *slog.Logger

	mu       sync.Mutex       // protects bySource
	bySource map[string]int64 // marks (soft) or deletions (hard) by source
}

// Apply resolves m and marks the pages at PriorityInvalidate (or deletes
// them and drops their memory copies when m.Hard). It returns once every
// mark is durable. source names the way in ("api", "queue", …) for the
// metrics. A URL or prefix that does not normalise is an error wrapping
// ErrMalformed, and nothing is marked.
func (s *Service) Apply(ctx context.Context, m Message, source string) (Result, error) {
	keys, res, err := s.resolve(ctx, m)
	if err != nil {
		return Result{}, err
	}
	if m.Hard {
		for _, k := range keys {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			existed := s.Index.Has(k)
			if err := s.Pages.Delete(k); err != nil {
				return res, fmt.Errorf("invalidate: delete %q: %w", k, err)
			}
			s.Memory.Delete(k)
			if existed {
				res.Deleted++
			} else {
				res.Unknown++
			}
		}
		s.count(source, res.Deleted)
		s.log().Info("invalidate: pages deleted", "source", source, "deleted", res.Deleted, "unknown", res.Unknown)
		return res, nil
	}
	for chunk := range slices.Chunk(keys, markChunk) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		marked, unknown, err := s.Marks.Mark(chunk, edge.PriorityInvalidate, source)
		if err != nil {
			return res, fmt.Errorf("invalidate: %w", err)
		}
		res.Marked += marked
		res.Unknown += unknown
		s.count(source, marked)
		// A memory copy predates the mark: drop it, so readers get the
		// disk copy, which says STALE, until the page is regenerated.
		for _, k := range chunk {
			s.Memory.Delete(k)
		}
		if marked > 0 && s.OnMarked != nil {
			s.OnMarked()
		}
	}
	s.log().Info("invalidate: pages marked stale", "source", source, "marked", res.Marked, "unknown", res.Unknown)
	return res, nil
}

// MarkKeys marks keys (already keys, not URLs) at prio for source, in
// durable chunks, and wakes the workers. For repairs such as a queue
// outage.
func (s *Service) MarkKeys(keys []string, prio edge.Priority, source string) (marked int, err error) {
	for chunk := range slices.Chunk(keys, markChunk) {
		n, _, err := s.Marks.Mark(chunk, prio, source)
		if err != nil {
			return marked, fmt.Errorf("invalidate: %w", err)
		}
		marked += n
		s.count(source, n)
	}
	if marked > 0 && s.OnMarked != nil {
		s.OnMarked()
	}
	return marked, nil
}

// Resolve returns the keys m names (URLs whether or not they have a page,
// prefixes and tags against the index), sorted and distinct, without
// marking anything: for handing the work to someone else (cluster
// workers). Malformed URLs or prefixes are errors wrapping ErrMalformed.
func (s *Service) Resolve(ctx context.Context, m Message) ([]string, error) {
	keys, _, err := s.resolve(ctx, m)
	return keys, err
}

// Impact returns how many stored pages m names, without marking anything.
func (s *Service) Impact(ctx context.Context, m Message) (int, error) {
	keys, _, err := s.resolve(ctx, m)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if s.Index.Has(k) {
			n++
		}
	}
	return n, nil
}

// Ensure is the proxy's OnStale hook: a stale page was served. If its mark
// is there, the page is queued (or dropped for the sweep) and nothing needs
// doing: the workers were woken when the mark was made and wake themselves
// for retries, so a hot stale page costs one index lookup per hit and no
// wake-ups. If there is no mark, the page was regenerated since and what
// was served was an outdated memory copy, which is dropped.
func (s *Service) Ensure(key string) {
	if !s.Marks.Marked(key) {
		s.Memory.Delete(key)
	}
}

// resolve turns m into the sorted, distinct keys it names. URLs are kept
// whether or not they have a page (Mark counts the unknown ones); URLs
// that can never be stored are counted in res.Unknown.
func (s *Service) resolve(ctx context.Context, m Message) (keys []string, res Result, err error) {
	set := make(map[string]struct{})
	for i, u := range m.URLs {
		r, err := s.Keys.FromURL(u)
		if err != nil {
			return nil, res, &FieldError{Field: fmt.Sprintf("urls[%d]", i), Err: err}
		}
		if r.Bypass {
			res.Unknown++ // an unknown query parameter: never stored
			continue
		}
		set[string(r.Key)] = struct{}{}
	}
	prefixes := make([]string, 0, len(m.Prefixes))
	for i, p := range m.Prefixes {
		key, err := s.prefixKey(p)
		if err != nil {
			return nil, res, &FieldError{Field: fmt.Sprintf("prefixes[%d]", i), Err: err}
		}
		prefixes = append(prefixes, key)
	}
	add := func(k string) bool {
		set[k] = struct{}{}
		return ctx.Err() == nil
	}
	if m.All {
		prefixes = []string{""}
	}
	for _, p := range prefixes {
		if err := s.Index.KeysWithPrefix(p, add); err != nil {
			return nil, res, fmt.Errorf("invalidate: %w", err)
		}
	}
	for _, t := range m.Tags {
		if err := s.Index.KeysForTag(t, add); err != nil {
			return nil, res, fmt.Errorf("invalidate: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, res, err
	}
	keys = make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, res, nil
}

// prefixKey normalises a prefix like a request path (so no traversal or
// encoding trick can name other keys than a request could) and returns the
// key prefix it stands for. A prefix is a path or URL without a query.
func (s *Service) prefixKey(p string) (string, error) {
	if strings.ContainsAny(p, "?#") {
		return "", fmt.Errorf("%q: a prefix is a path without query or fragment", p)
	}
	r, err := s.Keys.FromURL(p)
	if err != nil {
		return "", err
	}
	return string(r.Key), nil
}

func (s *Service) count(source string, n int) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	if s.bySource == nil {
		s.bySource = make(map[string]int64)
	}
	s.bySource[source] += int64(n)
	s.mu.Unlock()
}

// MarksBySource returns how many pages each source has marked (or, hard,
// deleted) since the Service was made.
func (s *Service) MarksBySource() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.bySource))
	for k, v := range s.bySource {
		out[k] = v
	}
	return out
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}
