// Package invalidate keeps stored pages fresh when the origin's data
// changes: it turns invalidation messages into durable stale marks and
// drains the marks by regenerating each marked page, once, in the
// background, at a pace the origin can bear, while the current copies go
// on being served.
//
// # Messages
//
// One model, Message {urls, prefixes, tags, all, hard}, whichever way it
// comes in: the admin API (POST /invalidate), the edge invalidate command
// (which calls the admin API), or a queue (Source, consumed by Consumer).
// Decode is strict (exact field names, no unknown fields, at most
// MaxMessageBytes and MaxItems, no empty or control-character strings) and
// its errors name the field at fault. Service normalises URLs and prefixes
// with the same key rules as requests, so a message can name no key a
// request could not (traversal and encoding tricks are refused), resolves
// tags through the tag index, prefixes through a key range of the index,
// and all to every key, and marks the pages at PriorityInvalidate in
// durable transactions (Apply returns once they are committed). Unknown
// URLs are counted, not errors. Hard messages delete the pages instead.
// Impact counts the pages a message names without marking them.
//
// # Regeneration
//
// The stale marks in the store are the work queue (see internal/store):
// a mark made twice is one mark, a mark made during its page's
// regeneration yields exactly one more regeneration, and after a crash the
// workers resume from the marks. Regenerator runs Concurrency workers
// paced by Rate; each claims the most urgent due mark and regenerates the
// page through the same generator as a miss, at the mark's priority, under
// the shared origin budget (misses always go first). A page stored, changed
// or not, or removed because the origin now answers 404/410, settles the
// mark and leaves memory; an origin error, a 5xx, an uncacheable answer or
// a failed write keeps the old page and retries with exponential backoff,
// and after MaxAttempts the mark is dropped: the page stays stale, counted,
// for the sweep. Workers sleep until Wake (new marks) or the next
// not-before time; there is no polling. With a Schedule (batch mode) marks
// are held and drained only once one of its times has passed.
//
// # Queue consumer
//
// Consumer reads a Source. A malformed message goes to the dead letters
// (DeadLetterLog: <store.root>/@edge/deadletter.log, one JSON line each,
// plus a log line and a counter) and is acknowledged, never retried and
// never fatal. When the source stays unreachable longer than OutageAfter,
// the window is recorded durably; when it is back, every page generated
// before the window ended is marked at PrioritySweep: an invalidation sent
// during the outage may be lost, so the pages it could have named are
// regenerated anyway (the article's advice).
//
// # Concurrency
//
// Service, Regenerator and Consumer are safe for concurrent use once their
// fields are set; Run is called once. The package never imports proxy or
// gen: it calls the small interfaces it defines (Index, Marks, Pages,
// Memory, Queue, Generator, Source, State, Stale), which cmd/edge wires to
// the store, the memory tier and the generator.
package invalidate
