// Package origin owns the way to the dynamic origin: one fasthttp HostClient
// with edge-safe limits (Client) behind one prioritised concurrency budget
// (Budget) shared by every kind of origin work — misses, regeneration after
// invalidation, the freshness sweep and bulk generation.
//
// # What it guarantees
//
//   - Bounded work: connect, first-byte and total timeouts; a cap on
//     connections, response header size and response body size (an
//     over-size body is an error, never a truncated success).
//   - No retry amplification: one retry at most, only for an idempotent
//     request on a reused keep-alive connection that the origin closed before
//     sending any byte; never after a response byte arrived.
//   - The URI is sent byte-identical to the one given (no path normalising),
//     so the origin renders what the cache key names.
//   - Hop-by-hop headers never cross edge (StripHopByHop), and the forwarding
//     headers the origin sees are edge's own (SetForwarded).
//   - Errors from Client.Do wrap edge.ErrOriginTimeout or
//     edge.ErrOriginUnavailable; budget errors wrap edge.ErrOverloaded or are
//     ctx.Err().
//
// # Caveats
//
// Response bodies are buffered whole, so a Response must not be shared with
// another goroutine while Do runs. A body delimited by connection close (no
// Content-Length, not chunked) cannot be told apart from a truncated one; the
// caller decides whether such a response may be stored.
package origin
