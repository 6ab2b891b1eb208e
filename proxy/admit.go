package proxy

import (
	"fmt"
	"hash/maphash"
	"sync"
)

// Admission decides which misses are stored (on disk and in memory). It
// is the first half of the miss firewall: a crawler asking for thousands
// of URLs nobody else asks for must not fill the store. Every miss is
// still generated and served; only storing it is decided here.
type Admission uint8

// The admission policies (store.admit).
const (
	// AdmitAlways stores every cacheable miss.
	AdmitAlways Admission = iota
	// AdmitSecondHit stores a page only on its second miss within
	// Policy.AdmitWindow (nginx's proxy_cache_min_uses 2); the first is
	// generated with edge.Fill.NoStore and served.
	AdmitSecondHit
	// AdmitKnown stores only pages whose key is known (Server.Known: keys
	// of a sitemap or an edge gen run); pages already stored are
	// regenerated and stored as before. Other misses are served, not stored.
	AdmitKnown
)

// ParseAdmission parses "always", "second-hit" or "known" ("" is always).
func ParseAdmission(s string) (Admission, error) {
	switch s {
	case "", "always":
		return AdmitAlways, nil
	case "second-hit":
		return AdmitSecondHit, nil
	case "known":
		return AdmitKnown, nil
	}
	return 0, fmt.Errorf("unknown admission policy %q (want always, second-hit or known)", s)
}

func (a Admission) String() string {
	switch a {
	case AdmitAlways:
		return "always"
	case AdmitSecondHit:
		return "second-hit"
	case AdmitKnown:
		return "known"
	}
	return "unknown"
}

// admit decides whether the miss of key (led by this request) may be
// stored, and counts the decision.
func (s *Server) admit(key string, pol *Policy) bool {
	var ok bool
	switch pol.Admit {
	case AdmitSecondHit:
		ok = s.fw.seenTable().observe(maphash.String(s.fw.hashSeed(), key), s.now().UnixNano(), int64(pol.AdmitWindow))
	case AdmitKnown:
		ok = s.Known != nil && s.Known.Known(key)
	default:
		ok = true
	}
	if ok {
		s.stats.admitted.Add(1)
	} else {
		s.stats.notAdmitted.Add(1)
	}
	return ok
}

// The seen table's shape: seenShards × seenSets × seenWays entries of 16
// bytes (4 MiB, allocated on the first second-hit decision).
const (
	seenShards = 64
	seenSets   = 1024
	seenWays   = 4
)

// seen remembers when keys (by their 64-bit hash) were first missed, for
// AdmitSecondHit. It is a fixed-size set-associative table: a key's hash
// picks a shard (with its own lock) and a set of seenWays entries in it; a
// new key replaces the oldest entry of its set. So its memory is the same
// whatever the flood, and a flood can only make edge forget first
// sightings (a page is then stored one request later), never store a page
// that was asked for once: it fails closed. Safe for concurrent use.
type seen struct {
	shards [seenShards]seenShard
}

type seenShard struct {
	mu   sync.Mutex // protects sets
	sets [seenSets][seenWays]seenEntry
	_    [64]byte // keep neighbouring shards' locks off one cache line
}

// seenEntry is one remembered key: its hash and when it was first missed
// (Unix nanoseconds; 0 marks a free entry).
type seenEntry struct {
	h  uint64
	at int64
}

// observe records a miss of the key hashed to h at now and reports
// whether it is the second one within window of the first. A first
// sighting older than window is replaced: the key starts over.
func (t *seen) observe(h uint64, now, window int64) bool {
	sh := &t.shards[h%seenShards]
	set := &sh.sets[(h/seenShards)%seenSets]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	victim := 0
	for i := range set {
		e := &set[i]
		if e.at != 0 && e.h == h {
			if now-e.at <= window {
				return true
			}
			e.at = now // too long ago: this is a first sighting again
			return false
		}
		if e.at < set[victim].at { // free entries (0) first, then the oldest
			victim = i
		}
	}
	set[victim] = seenEntry{h: h, at: now}
	return false
}

// firewall holds the miss firewall's tables, each allocated on first use
// (a server that never uses one never pays for it). The hash seed is
// random per process, so nobody can aim a flood at one set of a table.
type firewall struct {
	seedOnce, seenOnce, limitOnce sync.Once
	seed                          maphash.Seed
	seen                          *seen
	limit                         *limiter
}

func (f *firewall) hashSeed() maphash.Seed {
	f.seedOnce.Do(func() { f.seed = maphash.MakeSeed() })
	return f.seed
}

func (f *firewall) seenTable() *seen {
	f.seenOnce.Do(func() { f.seen = new(seen) })
	return f.seen
}

func (f *firewall) limiter() *limiter {
	f.limitOnce.Do(func() { f.limit = new(limiter) })
	return f.limit
}
