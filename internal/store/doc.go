// Package store is the disk tier of edge. It owns the page tree under one
// store directory (plain files an operator can read, rsync, or point nginx
// at), the bbolt index beside it (per-page metadata, stale marks, tags,
// counters), the temp files of in-flight writes, and the fsnotify watcher
// that notices when another process replaces or removes a page the memory
// tier holds. The S3 tier is not here.
//
// # Layout
//
// The layout is a contract: scripts and users rely on it. A key is
// [host] path ["?" query] (see internal/cachekey); its page directory, under
// the store root, is:
//
//   - host + "/" first, in multi-host mode;
//   - then one directory per path segment s, stored as "%40"+s[1:] if s
//     starts with '@', as "%69"+s[1:] if s is one of the file names below,
//     else unchanged;
//   - then "@" if the path ends in '/' (and is not just "/");
//   - then, for a non-empty query, "@q"+esc(query), where esc replaces '%'
//     with "%25" and '/' with "%2F"; if that name would exceed 255 bytes,
//     "@h" + the first 32 hex digits of the query's SHA-256 instead.
//
// The page directory holds index.html (the identity body), index.html.gz
// and index.html.br (when the page has those variants) and index.html.meta,
// a JSON sidecar: key, status, content_type, header, etag, generated_at,
// tags and the sizes of each variant. Examples:
//
//	/                       index.html
//	/events/42              events/42/index.html
//	/events/42/             events/42/@/index.html
//	/events?page=2          events/@qpage=2/index.html
//	/@team/index.html       %40team/%69ndex.html/index.html
//	example.com/a           example.com/a/index.html   (multi-host mode)
//
// Names starting with '@' are reserved for edge: no segment can produce one.
// The index is @edge/index.db and temp files live in @edge/tmp/. A store is
// used in one mode only: the host-mode key "a/b" and the single-host key
// "/a/b" share a directory. The mapping assumes a case-sensitive file
// system.
//
// Keys that are not normalised (empty, "." or ".." segments, backslashes,
// control bytes, segments over 200 bytes, segments starting with "%40" or
// "%69", an empty query, …) are refused with ErrBadKey. Every file operation
// goes through an os.Root opened on the store directory, so nothing outside
// it is opened, created or removed, even through a planted symbolic link.
//
// # Writes and crashes
//
// Put writes each file to @edge/tmp, fsyncs it, renames it into the page
// directory (variants, then the body, then the sidecar, which is the commit
// record) and fsyncs the directory; the index is updated last. The files are
// the truth and the index can be rebuilt from them: Open removes temp files
// left by a crash (without walking the page tree, so it costs the same for
// any number of pages), and Fsck re-indexes sidecars the index lacks and
// drops records whose files are gone. A page whose files and index disagree
// reads as not found until it is stored again or Fsck runs.
//
// # Index
//
// The bbolt index holds, per key, the page's metadata and the identity
// (inode, mtime, size) of each of its files; per tag, its keys; the stale
// marks; the known keys (known.go: every key a sitemap or bulk run named,
// for store.admit "known"; AddKnown writes them in batches, Known reads
// one); and the page, byte and mark counters, kept in step with every
// write so that Stats, MarkStats and Open cost O(1).
//
// # Stale marks
//
// The stale marks are the local work queue of regeneration (marks.go). Mark
// writes the marks of many pages durably in one transaction; each mark has
// a priority (the most urgent wins), a sequence number bumped on every
// re-mark, the time it was made, a not-before time and a count of failed
// attempts. Next hands due marks to workers, most urgent first and first
// come first served within a priority, reading an ordered queue index
// rather than scanning; Done removes a mark only if it was not made again
// meanwhile, so a page marked during its own regeneration is regenerated
// exactly once more; Retry backs a mark off; Drop leaves it for the sweep.
// Get and Meta report Stale when a page has a mark; Put never touches
// marks; Delete removes the mark with the page, and Fsck keeps the marks of
// pages that exist. Marks survive a crash (kill -9): only claims, which are
// in memory, are lost, and their marks are simply due again. SetState keeps
// small named values for other packages in the same index (the
// invalidation consumer's outage window).
//
// # Last served and the budget
//
// Served records that a page was served, sampled (at most once per
// Options.ServedEvery per page, one atomic load otherwise) into a bounded
// lossy buffer; Budget.Run writes the buffer to the index in one
// transaction per tick, keeping per page a last-served time and an entry
// in an index ordered by it (served.go). When the store's bytes exceed
// Budget.MaxBytes or the file system's free space drops under
// Budget.MinFreeBytes, Budget.Run evicts the least recently served pages in
// batches, each with all its files and index entries, as Delete does
// (budget.go).
//
// # Watching
//
// Watch adds a page's directory to an fsnotify watcher (the memory tier
// calls it for the pages it holds). Run waits until a watched directory has
// been quiet for the debounce period, then compares its files with the
// index: a page replaced or removed by another process is re-indexed from
// its sidecar or dropped, and Options.OnChange is called. Writes by this
// Store are never reported: the index already describes the files they
// produced.
//
// # Concurrency
//
// A Store is safe for concurrent use. Writers of one page are serialised.
// Readers take no lock: the index records the identity (inode, mtime, size)
// of each file, and a reader checks it on the open file, so it returns one
// complete version even while a replacement is renamed in; on a mismatch it
// waits for the page's writer and reads once more. Only one process may
// open a store directory at a time (the index is locked); a second Open
// fails with ErrLocked.
package store
