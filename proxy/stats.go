package proxy

import (
	"sync/atomic"
	"time"
)

// stats are the request path's counters; all atomic.
type stats struct {
	hit, miss, stale, bypass atomic.Int64
	coalesced, lockTimeouts  atomic.Int64
	errors4xx, errors5xx     atomic.Int64
	storeErrors              atomic.Int64
	notStored                atomic.Int64
	admitted, notAdmitted    atomic.Int64
	rateLimited              atomic.Int64
	servedAge                ageHistogram // of pages served from a tier (HIT, STALE)
}

// AgeBounds are the upper bounds of the served-page age histogram (and,
// in cmd/edge, of the stored-page one): from a page just regenerated to
// one past a month old.
var AgeBounds = [...]time.Duration{
	time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
	2 * 24 * time.Hour, 3 * 24 * time.Hour, 5 * 24 * time.Hour, 7 * 24 * time.Hour,
	14 * 24 * time.Hour, 30 * 24 * time.Hour,
}

// ageHistogram is a fixed-bucket histogram of page ages; observing costs a
// few atomic adds and no allocation.
type ageHistogram struct {
	counts [len(AgeBounds) + 1]atomic.Uint64 // per bucket, the last one +Inf
	sumMs  atomic.Int64                      // sum of ages, milliseconds
}

func (h *ageHistogram) observe(age time.Duration) {
	age = max(age, 0)
	i := 0
	for i < len(AgeBounds) && age > AgeBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumMs.Add(age.Milliseconds())
}

// AgeHistogram is a snapshot of an age histogram: Cumulative[i] counts the
// pages at most AgeBounds[i] old (Prometheus style); Count is all of them
// and Sum their ages added up.
type AgeHistogram struct {
	Cumulative [len(AgeBounds)]uint64
	Count      uint64
	Sum        time.Duration
}

func (h *ageHistogram) snapshot() AgeHistogram {
	var s AgeHistogram
	for i := range h.counts {
		n := h.counts[i].Load()
		s.Count += n
		if i < len(AgeBounds) {
			s.Cumulative[i] = s.Count
		}
	}
	s.Sum = time.Duration(h.sumMs.Load()) * time.Millisecond
	return s
}

// Stats is a snapshot of the request path's counters.
type Stats struct {
	// Requests by X-Cache outcome.
	Hit, Miss, Stale, Bypass int64
	// Coalesced counts requests that waited for another request's
	// generation instead of asking the origin; LockTimeouts those that gave
	// up waiting and fetched for themselves.
	Coalesced, LockTimeouts int64
	// Errors4xx and Errors5xx count error responses edge produced itself.
	Errors4xx, Errors5xx int64
	// StoreErrors counts generated pages that could not be persisted (they
	// were still served); NotStored counts origin responses that were not
	// cacheable.
	StoreErrors, NotStored int64
	// Admitted and NotAdmitted count the admission decisions of generations
	// led by a miss (Policy.Admit): allowed to be stored, or generated and
	// served but not stored (Cache-Status detail=admission).
	Admitted, NotAdmitted int64
	// RateLimited counts misses refused with a 429 because their client was
	// over Policy.MissRate.
	RateLimited int64
	// ServedAge is the age (now − generated_at) of the pages served from
	// a tier (X-Cache HIT and STALE; remembered 404s included).
	ServedAge AgeHistogram
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (s *Server) Stats() Stats {
	st := &s.stats
	return Stats{
		Hit: st.hit.Load(), Miss: st.miss.Load(), Stale: st.stale.Load(), Bypass: st.bypass.Load(),
		Coalesced: st.coalesced.Load(), LockTimeouts: st.lockTimeouts.Load(),
		Errors4xx: st.errors4xx.Load(), Errors5xx: st.errors5xx.Load(),
		StoreErrors: st.storeErrors.Load(), NotStored: st.notStored.Load(),
		Admitted: st.admitted.Load(), NotAdmitted: st.notAdmitted.Load(),
		RateLimited: st.rateLimited.Load(),
		ServedAge:   st.servedAge.snapshot(),
	}
}
