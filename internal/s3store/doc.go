// Package s3store is the S3 tier of edge, shared by every edge and worker of
// a cluster. It owns two things:
//
//   - Bucket: pages as S3 objects under a configurable prefix, with the same
//     relative paths as the disk tree (store.PageDir + index.html,
//     index.html.gz, index.html.br), and what is needed to serve a page
//     (status, content type, ETag, generated_at, tags, replayed headers) in
//     the object metadata of index.html.
//   - Tiered: the disk tier (*store.Store) in front of a Bucket. It reads
//     local disk first and S3 only on a local miss (keeping a local copy of
//     what it read), writes S3 first and then local disk, and keeps the
//     writes S3 refused in a durable retry list in the store's index, which
//     Run delivers with backoff once S3 answers again.
//
// # Objects
//
// A page is written variants first and index.html last, so index.html is the
// commit record: its metadata says which variants exist and their sizes,
// and every variant object carries the page's ETag in its own metadata. A
// reader takes index.html, then fetches the variants it names and keeps
// only those whose ETag and size match; a variant replaced by a concurrent
// writer is never served with another version's body (the reader retries,
// and in the end drops that variant). Metadata that would not fit S3's 2 KB
// user-metadata limit (many tags, long headers) goes to index.html.meta, a
// JSON document written before index.html and checked the same way.
//
// Metadata keys (x-amz-meta-…): edge-v (format, "1"), edge-status,
// edge-etag, edge-generated (RFC 3339, UTC, nanoseconds), edge-tags
// (query-escaped tags joined by ","), edge-header (query-escaped
// name=value pairs joined by "&"), edge-variants ("gzip=SIZE,br=SIZE"),
// edge-sidecar ("1" when tags and header are in index.html.meta) and
// edge-ctype ("none" when the page has no content type). The object's
// Content-Type is the page's.
//
// # Failure
//
// An S3 outage never changes what local disk serves: a local hit never
// touches S3. After a failed S3 operation Tiered stops calling S3 for a
// back-off period (1s doubling to 5m by default): local misses go to the
// origin, writes go to local disk and the retry list. Retried writes never
// replace a newer page another edge wrote meanwhile (they compare
// generated_at first). Nothing is dropped: the list is durable and its size
// is in Stats.
package s3store
