package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"

	bolt "go.etcd.io/bbolt"
)

// Report is what Fsck found and fixed (a plain value).
type Report struct {
	Scanned      int // page directories (sidecars) examined
	Indexed      int // pages (re)indexed from their sidecars
	Dropped      int // index records dropped because their files are gone or incomplete
	TempRemoved  int // stray temp files removed
	MarksDropped int // stale marks of pages that no longer exist
	ServedFixed  int // last-served entries added (pages without one) or dropped (without a page)
}

// fsckBatch is how many index changes Fsck commits per transaction.
const fsckBatch = 256

// Fsck makes the index agree with the files, which are the truth: it walks
// the page tree and indexes every complete page directory whose sidecar has
// no record or a different version in the index (pages copied in by another
// process, or written before a crash that lost the index update); it drops
// records whose files are gone or incomplete; and it removes temp files no
// Put is writing. Stale marks are kept (a mark whose page is gone goes
// with it); last-served times are made one per page (a page without one
// gets its generation time). It runs online: changes are committed in small batches,
// each applied only if the record did not change since Fsck looked at it.
// On cancellation it returns what it did so far and ctx's error.
func (s *Store) Fsck(ctx context.Context) (Report, error) {
	var rep Report
	var ops []casOp
	flush := func(count *int) error {
		if len(ops) == 0 {
			return nil
		}
		n, err := s.applyCAS(ops)
		*count += n
		ops = ops[:0]
		if s.onBatchDone != nil {
			s.onBatchDone()
		}
		return err
	}

	// 1. Files → index.
	err := s.walk(ctx, ".", func(dir string, ents []fs.DirEntry) error {
		for _, e := range ents {
			if e.Name() != fileMeta || !e.Type().IsRegular() {
				continue
			}
			rep.Scanned++
			if op, ok := s.fsckDir(dir); ok {
				ops = append(ops, op)
			}
		}
		if len(ops) >= fsckBatch {
			return flush(&rep.Indexed)
		}
		return nil
	})
	if err == nil {
		err = flush(&rep.Indexed)
	}
	if err != nil {
		return rep, fmt.Errorf("store: fsck: %w", err)
	}

	// 2. Index → files.
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("store: fsck: %w", err)
		}
		type entry struct {
			key string
			raw []byte
		}
		var chunk []entry
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketPages).Cursor()
			k, v := c.Seek(after)
			if after != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for ; k != nil && len(chunk) < fsckBatch; k, v = c.Next() {
				chunk = append(chunk, entry{string(k), bytes.Clone(v)})
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("store: fsck: %w", err)
		}
		if len(chunk) == 0 {
			break
		}
		after = []byte(chunk[len(chunk)-1].key)
		for _, e := range chunk {
			dir, err := pageDir(e.key)
			if err == nil {
				var cur *record
				if cur, err = s.onDisk(e.key, dir); err == nil && cur != nil {
					continue
				}
			}
			if err != nil {
				s.log.Warn("store: fsck: dropping index record", "key", e.key, "err", err)
			}
			ops = append(ops, casOp{key: e.key, expect: e.raw})
		}
		if err := flush(&rep.Dropped); err != nil {
			return rep, fmt.Errorf("store: fsck: %w", err)
		}
	}

	// 3. Stale marks: kept, except those of pages that no longer exist.
	if n, err := s.fsckMarks(); err != nil {
		return rep, fmt.Errorf("store: fsck: %w", err)
	} else if n > 0 {
		rep.MarksDropped = n
		s.log.Info("store: fsck dropped stale marks of missing pages", "count", n)
	}

	// 3b. Last-served times: one per page, none without a page.
	n, err := s.fsckServed(ctx)
	rep.ServedFixed = n
	if err != nil {
		return rep, fmt.Errorf("store: fsck: %w", err)
	}

	// 4. Temp files.
	n, err = s.removeTemps()
	rep.TempRemoved = n
	if err != nil {
		return rep, fmt.Errorf("store: fsck: %w", err)
	}
	if rep.Indexed+rep.Dropped+rep.TempRemoved+rep.ServedFixed > 0 {
		s.log.Info("store: fsck repaired the index", "scanned", rep.Scanned,
			"indexed", rep.Indexed, "dropped", rep.Dropped, "temp_removed", rep.TempRemoved,
			"served_fixed", rep.ServedFixed)
	}
	return rep, nil
}

// walk calls fn for every directory of the page tree (not @edge, not
// following symbolic links), parents first. Unreadable directories are
// logged and skipped.
func (s *Store) walk(ctx context.Context, dir string, fn func(dir string, ents []fs.DirEntry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, err := s.readDir(dir)
	if err != nil {
		s.log.Warn("store: fsck: skipping unreadable directory", "dir", dir, "err", err)
		return nil
	}
	if err := fn(dir, ents); err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() || (dir == "." && e.Name() == edgeDir) {
			continue
		}
		if err := s.walk(ctx, filePath(dir, e.Name()), fn); err != nil {
			return err
		}
	}
	return nil
}

// fsckDir looks at one page directory and returns the index change it
// needs, if any.
func (s *Store) fsckDir(dir string) (casOp, bool) {
	b, err := s.root.ReadFile(filePath(dir, fileMeta))
	if err != nil {
		s.log.Warn("store: fsck: unreadable sidecar", "dir", dir, "err", err)
		return casOp{}, false
	}
	sc, err := parseSidecar(b)
	if err != nil {
		s.log.Warn("store: fsck: bad sidecar", "dir", dir, "err", err)
		return casOp{}, false
	}
	if want, err := pageDir(sc.Key); err != nil || want != dir {
		s.log.Warn("store: fsck: sidecar names a key that does not belong in its directory",
			"dir", dir, "key", sc.Key)
		return casOp{}, false
	}
	cur, err := s.onDisk(sc.Key, dir)
	if err != nil || cur == nil {
		return casOp{}, false // incomplete: step 2 drops its record, if any
	}
	rec, raw, err := s.lookup(sc.Key)
	if err != nil && !errors.Is(err, errBadRecord) {
		s.log.Warn("store: fsck", "key", sc.Key, "err", err)
		return casOp{}, false
	}
	if rec != nil && sameVersion(rec, cur) {
		return casOp{}, false
	}
	return casOp{key: sc.Key, expect: raw, rec: cur}, true
}

// onDisk returns the record a page directory describes, with the identity
// of its body file, or nil if it holds no complete page for key: sidecar
// missing, unparsable or naming another key, or a file missing or of
// another size than the sidecar says.
func (s *Store) onDisk(key, dir string) (*record, error) {
	b, err := s.root.ReadFile(filePath(dir, fileMeta))
	if isAbsent(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sc, err := parseSidecar(b)
	if err != nil || sc.Key != key || checkTags(sc.Tags) != nil {
		return nil, nil
	}
	r := sc.record()
	for _, f := range r.files() {
		if !f.present {
			continue
		}
		fi, err := s.root.Stat(filePath(dir, f.name))
		if isAbsent(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() || fi.Size() != f.size {
			return nil, nil
		}
		*f.id = fileIdentity(fi)
	}
	return r, nil
}

// sameVersion reports whether two records describe the same files.
func sameVersion(a, b *record) bool {
	return a.ETag == b.ETag && a.GeneratedAt.Equal(b.GeneratedAt) && sameSizes(a, b) &&
		a.BodyID == b.BodyID && a.GzipID == b.GzipID && a.BrotliID == b.BrotliID
}
