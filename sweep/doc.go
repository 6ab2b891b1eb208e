// Package sweep owns the rolling sweep: the guarantee that every stored
// page is regenerated at least once per period, even if no invalidation
// ever names it (a lost message, a change the origin did not announce).
//
// A Sweeper works in cycles. A cycle covers the pages generated before it
// started and walks them oldest first through the store's age index,
// marking them stale at edge.PrioritySweep; the invalidation workers then
// regenerate the marked pages under the origin budget (misses and
// invalidations go first), so a page marked by both an invalidation and the
// sweep is regenerated once. The pace is even over the period: by a time
// t, pages × (t − start) ÷ period pages of the cycle are marked, in
// small batches, each wait stretched or shrunk by a random jitter. A page
// that is already older than one period when the walk reaches it is marked
// at once (catch-up after downtime or a store that grew), in batches of at
// most MaxBatch.
//
// A page regenerated meanwhile (an invalidation, a miss after removal) has
// a new generation time and is no longer in the cycle's range, so it is
// skipped; a page whose regeneration fails keeps its place behind the
// cursor and is not marked again before the next cycle. A cycle that ends
// before its deadline (pages removed or refreshed meanwhile) waits for it;
// the next one starts then. A cycle planned for a much smaller store (the
// store more than doubled since it started, as during a first bulk
// generation) is started again, so that the new pages are spread over the
// period too.
//
// The cycle (start, total, pages done, cursor) is kept in the store's
// named state after every batch, so a restart resumes at its position.
package sweep
