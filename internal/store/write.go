package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/fault"
	bolt "go.etcd.io/bbolt"
)

// tempFile is the part of *os.File a write uses; tests substitute failing
// implementations through Store.createTemp.
type tempFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Stat() (fs.FileInfo, error)
	Close() error
}

func (s *Store) openTemp(name string) (tempFile, error) {
	return s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}

// writeTemp writes data to a new temp file (synced unless NoSync) and
// returns its name and identity (which a rename keeps). On error nothing is
// left behind.
func (s *Store) writeTemp(data []byte) (string, fileID, error) {
	name := tmpDir + "/" + s.tmpPrefix + "-" + strconv.FormatUint(s.tmpSeq.Add(1), 10)
	s.tmpMu.Lock()
	s.tmpLive[name] = struct{}{}
	s.tmpMu.Unlock()
	var id fileID
	f, err := s.createTemp(name)
	if err == nil {
		_, err = f.Write(data)
		fault.Point("store.temp.after-write")
		if err == nil && !s.noSync {
			err = f.Sync()
			fault.Point("store.temp.after-fsync")
		}
		if err == nil {
			var fi fs.FileInfo
			if fi, err = f.Stat(); err == nil {
				id = fileIdentity(fi)
			}
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		s.discardTemp(name)
		return "", fileID{}, err
	}
	return name, id, nil
}

// discardTemp removes a temp file (if it still exists) and forgets it.
func (s *Store) discardTemp(name string) {
	if err := s.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("store: remove temp file", "name", name, "err", err)
	}
	s.forgetTemp(name)
}

func (s *Store) forgetTemp(name string) {
	s.tmpMu.Lock()
	delete(s.tmpLive, name)
	s.tmpMu.Unlock()
}

// recordOf builds the index record of a page (without file identity). The
// page's Stale field is not stored: stale marks are separate (marks.go).
func recordOf(p *edge.Page) *record {
	r := &record{
		Status:      p.Status,
		ContentType: p.ContentType,
		ETag:        p.ETag,
		GeneratedAt: p.GeneratedAt,
		Header:      p.Header,
		Gzip:        p.Gzip != nil,
		Brotli:      p.Brotli != nil,
		Size:        int64(len(p.Body)),
		GzipSize:    int64(len(p.Gzip)),
		BrotliSize:  int64(len(p.Brotli)),
	}
	for _, t := range p.Tags {
		if !slices.Contains(r.Tags, t) {
			r.Tags = append(r.Tags, t)
		}
	}
	return r
}

// Put stores p atomically: each file is written to a temp file, synced and
// renamed into the page directory (variants, then the body, then the
// sidecar), the directory is synced, and the index is updated last. If the
// stored page has the same ETag and variants and its files are intact, only
// the sidecar and the index are rewritten (new generated_at, header, tags)
// and changed is false. Put never touches the page's stale mark (see Mark).
//
// On failure the previous version is left as it was (if the failure came
// before the first rename, which is where a full disk shows up) or removed
// (if it came later, so that a half-replaced page is never served). An
// error from a full disk wraps edge.ErrStoreFull; every failure is counted
// in Stats.WriteErrors.
func (s *Store) Put(p *edge.Page) (changed bool, err error) {
	dir, err := pageDir(p.Key)
	if err != nil {
		return false, fmt.Errorf("store: put: %w", err)
	}
	if err := checkTags(p.Tags); err != nil {
		return false, fmt.Errorf("store: put %q: %w", p.Key, err)
	}
	if p.Status < 0 || p.Status > 999 {
		return false, fmt.Errorf("store: put %q: status %d out of range", p.Key, p.Status)
	}
	mu := s.lock(p.Key)
	mu.Lock()
	defer mu.Unlock()
	changed, err = s.putLocked(p, dir)
	if err != nil {
		s.writeErrors.Add(1)
		if isNoSpace(err) {
			err = fmt.Errorf("store: put %q: %w: %w", p.Key, edge.ErrStoreFull, err)
		} else {
			err = fmt.Errorf("store: put %q: %w", p.Key, err)
		}
	}
	return changed, err
}

func (s *Store) putLocked(p *edge.Page, dir string) (bool, error) {
	old, _, err := s.lookup(p.Key)
	if err != nil && !errors.Is(err, errBadRecord) {
		return false, err
	}
	rec := recordOf(p)
	if old != nil && p.ETag != "" && old.ETag == p.ETag && sameSizes(old, rec) && s.filesMatch(dir, old) {
		rec.BodyID, rec.GzipID, rec.BrotliID = old.BodyID, old.GzipID, old.BrotliID
		return false, s.writeSidecarOnly(p.Key, dir, rec)
	}

	sc, err := newSidecar(p.Key, rec).marshal()
	if err != nil {
		return false, err
	}
	synced, err := s.mkdirs(dir)
	if err != nil {
		return false, err
	}
	type move struct{ tmp, name string }
	var moves []move
	defer func() { // temps not renamed (on error)
		for _, m := range moves {
			if m.tmp != "" {
				s.discardTemp(m.tmp)
			}
		}
	}()
	for _, f := range []struct {
		name string
		data []byte
		ok   bool
		id   *fileID
	}{
		{fileGzip, p.Gzip, rec.Gzip, &rec.GzipID},
		{fileBrotli, p.Brotli, rec.Brotli, &rec.BrotliID},
		{fileBody, p.Body, true, &rec.BodyID},
		{fileMeta, sc, true, new(fileID)},
	} {
		if !f.ok {
			continue
		}
		tmp, id, err := s.writeTemp(f.data)
		if err != nil {
			return false, err
		}
		*f.id = id
		moves = append(moves, move{tmp, filePath(dir, f.name)})
	}
	fault.Point("store.put.after-temps")

	// Past this point the previous version is being replaced; a failure
	// removes the page rather than leave a mix of versions.
	fail := func(err error) (bool, error) {
		if derr := s.deleteLocked(p.Key, dir); derr != nil {
			err = errors.Join(err, derr)
		}
		return false, err
	}
	for _, v := range []struct {
		name string
		keep bool
	}{{fileGzip, rec.Gzip}, {fileBrotli, rec.Brotli}} {
		if v.keep {
			continue
		}
		if err := s.root.Remove(filePath(dir, v.name)); err != nil && !isAbsent(err) {
			return fail(err)
		}
	}
	for i := range moves {
		if err := s.root.Rename(moves[i].tmp, moves[i].name); err != nil {
			return fail(err)
		}
		s.forgetTemp(moves[i].tmp)
		moves[i].tmp = ""
		if i == len(moves)-2 { // the body is in, its sidecar not yet
			fault.Point("store.put.after-body-rename")
		}
	}
	fault.Point("store.put.after-rename")
	if !s.noSync {
		for _, d := range append(synced, dir) {
			if err := s.syncDir(d); err != nil {
				return fail(err)
			}
		}
	}
	fault.Point("store.put.before-index")
	if err := s.indexPut(p.Key, rec); err != nil {
		return fail(err)
	}
	fault.Point("store.put.after-index")
	return true, nil
}

// sameSizes reports whether two records have the same variants and sizes.
func sameSizes(a, b *record) bool {
	return a.Gzip == b.Gzip && a.Brotli == b.Brotli &&
		a.Size == b.Size && a.GzipSize == b.GzipSize && a.BrotliSize == b.BrotliSize
}

// filesMatch reports whether the files in dir are those rec describes (same
// identity and size), i.e. nobody replaced them since.
func (s *Store) filesMatch(dir string, rec *record) bool {
	for _, f := range rec.files() {
		if !f.present {
			continue
		}
		fi, err := s.root.Stat(filePath(dir, f.name))
		if err != nil || fi.Size() != f.size || fileIdentity(fi) != *f.id {
			return false
		}
	}
	return true
}

// writeSidecarOnly replaces the sidecar and the index record of an
// unchanged page.
func (s *Store) writeSidecarOnly(key, dir string, rec *record) error {
	sc, err := newSidecar(key, rec).marshal()
	if err != nil {
		return err
	}
	tmp, _, err := s.writeTemp(sc)
	if err != nil {
		return err
	}
	if err := s.root.Rename(tmp, filePath(dir, fileMeta)); err != nil {
		s.discardTemp(tmp)
		return err
	}
	s.forgetTemp(tmp)
	if !s.noSync {
		if err := s.syncDir(dir); err != nil {
			return err
		}
	}
	return s.indexPut(key, rec)
}

func (s *Store) indexPut(key string, rec *record) error {
	var d delta
	err := s.indexWrite(func(tx *bolt.Tx) (err error) {
		d, err = putTx(tx, key, rec)
		return err
	})
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	s.account(d)
	return nil
}

// mkdirs creates dir and its missing parents and returns the directories
// whose entries changed (to be synced). A parent removed concurrently (by a
// Delete of another key emptying its own directory) is created again.
func (s *Store) mkdirs(dir string) ([]string, error) {
	if dir == "." {
		return nil, nil
	}
	if fi, err := s.root.Stat(dir); err == nil && fi.IsDir() {
		return nil, nil
	}
	var err error
	for range 3 {
		var changed []string
		err = nil
		for i := 0; i <= len(dir) && err == nil; i++ {
			if i < len(dir) && dir[i] != '/' {
				continue
			}
			err = s.root.Mkdir(dir[:i], 0o755)
			switch {
			case err == nil:
				changed = append(changed, parentDir(dir[:i]))
			case errors.Is(err, fs.ErrExist):
				err = nil
			}
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return changed, err
		}
	}
	return nil, err
}

// syncDir fsyncs a directory of the root.
func (s *Store) syncDir(dir string) error {
	f, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Delete removes key's page: its files (sidecar first, so a crash never
// leaves a sidecar describing missing files), its directory if that is now
// empty (never sub-pages' directories), its index record and tag entries.
// An absent page is not an error.
func (s *Store) Delete(key string) error {
	dir, err := pageDir(key)
	if err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	mu := s.lock(key)
	mu.Lock()
	defer mu.Unlock()
	if err := s.deleteLocked(key, dir); err != nil {
		s.writeErrors.Add(1)
		return fmt.Errorf("store: delete %q: %w", key, err)
	}
	return nil
}

func (s *Store) deleteLocked(key, dir string) error {
	var errs []error
	removed := false
	for _, name := range []string{fileMeta, fileBody, fileGzip, fileBrotli} {
		err := s.root.Remove(filePath(dir, name))
		if name == fileMeta {
			fault.Point("store.delete.after-sidecar-remove")
		}
		switch {
		case err == nil:
			removed = true
		case !isAbsent(err):
			errs = append(errs, err)
		}
	}
	if removed && !s.noSync {
		toSync := dir
		if dir != "." && s.root.Remove(dir) == nil {
			toSync = parentDir(dir)
		}
		if err := s.syncDir(toSync); err != nil && !isAbsent(err) {
			errs = append(errs, err)
		}
	} else if removed && dir != "." {
		_ = s.root.Remove(dir) // only if empty
	}
	var d delta
	err := s.indexWrite(func(tx *bolt.Tx) (err error) {
		d, err = deleteTx(tx, key)
		return err
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("index: %w", err))
	} else {
		s.account(d)
	}
	return errors.Join(errs...)
}
