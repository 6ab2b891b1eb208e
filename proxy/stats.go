package proxy

import "sync/atomic"

// stats are the request path's counters; all atomic.
type stats struct {
	hit, miss, stale, bypass atomic.Int64
	coalesced, lockTimeouts  atomic.Int64
	errors4xx, errors5xx     atomic.Int64
	storeErrors              atomic.Int64
	notStored                atomic.Int64
	admitted, notAdmitted    atomic.Int64
	rateLimited              atomic.Int64
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
	}
}
