// Package gen owns the making of a page: it fetches a URI from the origin
// under the shared origin budget, decides whether the response may be
// stored, builds an immutable edge.Page (strong ETag, gzip and brotli
// variants, dependency tags) and persists it atomically through its Store.
//
// Every way a page comes to exist — a user's miss, an invalidation, the
// sweep, a bulk run — goes through Generator.Generate, so all of them share
// the same cacheability rules and the same files.
package gen
