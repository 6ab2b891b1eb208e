package store

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/pregen/edge"
)

// Get returns the stored page for key, with every representation read,
// Finish called and Stale taken from the index. It returns an error
// wrapping edge.ErrNotFound when the key has no page, or its files are not
// the ones the index describes even after waiting for a Put of the key in
// progress (replaced by another process and not yet reconciled, or lost).
func (s *Store) Get(key string) (*edge.Page, error) {
	return s.get(key, wantAll)
}

// GetVariant is Get for one response: it reads only the representation a
// client would be sent — brotli when br is set and the page has it, else
// gzip when gz is set and the page has it, else the identity body — so a
// disk hit costs one file read, not three. The page it returns holds that
// one body (the other fields nil) and must be used for that response only:
// never put it in a shared tier.
func (s *Store) GetVariant(key string, br, gz bool) (*edge.Page, error) {
	w := wantIdentity
	switch {
	case br:
		w |= wantBrotli
		if gz {
			w |= wantGzip
		}
	case gz:
		w |= wantGzip
	}
	return s.get(key, w|wantOne)
}

// want selects the body files a read needs: a set of representations, or
// with wantOne the first of the set the page has, brotli then gzip then
// identity.
type want uint8

const (
	wantIdentity want = 1 << iota
	wantGzip
	wantBrotli
	wantOne

	wantAll = wantIdentity | wantGzip | wantBrotli
)

// pick returns the body files of rec that w selects.
func (w want) pick(rec *record) (need [3]bool) {
	if w&wantOne == 0 {
		return [3]bool{w&wantIdentity != 0, w&wantGzip != 0 && rec.Gzip, w&wantBrotli != 0 && rec.Brotli}
	}
	switch {
	case w&wantBrotli != 0 && rec.Brotli:
		need[2] = true
	case w&wantGzip != 0 && rec.Gzip:
		need[1] = true
	default:
		need[0] = true
	}
	return need
}

func (s *Store) get(key string, w want) (p *edge.Page, err error) {
	err = s.find(key, "get", func(dir string, rec *record) (bool, error) {
		var ok bool
		p, ok, err = s.readPage(key, dir, rec, w.pick(rec))
		return ok, err
	})
	return p, err
}

// OpenVariant is GetVariant without the read: the representation a client
// accepting brotli (br) and/or gzip (gz) is sent comes back open, checked
// to be the file the index describes, for sending straight from the file
// (sendfile). The caller owns f.Body and must close it. Errors are those
// of Get.
func (s *Store) OpenVariant(key string, br, gz bool) (f edge.File, err error) {
	w := wantIdentity | wantOne
	if br {
		w |= wantBrotli
	}
	if gz {
		w |= wantGzip
	}
	err = s.find(key, "open", func(dir string, rec *record) (bool, error) {
		need := w.pick(rec)
		i := 0
		for i < len(need) && !need[i] {
			i++
		}
		pf := rec.files()[i]
		fh, ok, err := s.openFile(dir, pf)
		if !ok {
			return false, err
		}
		f = edge.File{Page: pageOf(key, rec).Finish(), Encoding: encodings[i], Body: fh, Size: pf.size}
		return true, nil
	})
	return f, err
}

// encodings names the body files of record.files, in their order.
var encodings = [3]edge.Encoding{edge.Identity, edge.Gzip, edge.Brotli}

// find looks key up and hands its record to use, which reports false when
// a file is missing or is not the one the record describes; then find
// waits for a Put of the key that may be under way and tries once more.
func (s *Store) find(key, op string, use func(dir string, rec *record) (bool, error)) error {
	dir, err := pageDir(key)
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	for attempt := range 2 {
		if attempt > 0 {
			// A file did not match the record: a Put of this key may be
			// under way. Wait for it, then read the record once more.
			mu := s.lock(key)
			mu.Lock()
			defer mu.Unlock()
		}
		rec, _, err := s.lookup(key)
		if errors.Is(err, errBadRecord) {
			return fmt.Errorf("%w: %w", err, edge.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if rec == nil {
			return fmt.Errorf("store: %s %q: %w", op, key, edge.ErrNotFound)
		}
		ok, err := use(dir, rec)
		if err != nil {
			return fmt.Errorf("store: %s %q: %w", op, key, err)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("store: %s %q: files do not match the index: %w", op, key, edge.ErrNotFound)
}

// pageOf is the page rec describes, without bodies and before Finish.
func pageOf(key string, rec *record) *edge.Page {
	p := &edge.Page{
		Key:         key,
		Status:      rec.Status,
		ContentType: rec.ContentType,
		Header:      rec.Header,
		ETag:        rec.ETag,
		GeneratedAt: rec.GeneratedAt,
		Tags:        rec.Tags,
		Stale:       rec.Stale,
	}
	p.SetLastServed(rec.served)
	return p
}

// readPage reads the body files of a page that need selects; ok is false
// when one is missing or is not the file rec describes (another identity
// or size).
func (s *Store) readPage(key, dir string, rec *record, need [3]bool) (p *edge.Page, ok bool, err error) {
	p = pageOf(key, rec)
	files := rec.files()
	for i, dst := range []*[]byte{&p.Body, &p.Gzip, &p.Brotli} {
		if !need[i] || !files[i].present {
			continue
		}
		if *dst, ok, err = s.readFile(dir, files[i]); !ok {
			return nil, false, err
		}
	}
	return p.Finish(), true, nil
}

// readFile reads one body file of a page if it is the one f describes. The
// identity is checked on the open file, so the bytes read are those of the
// indexed version even if a replacement is renamed in meanwhile. Where the
// kernel can resolve a path beneath a directory in one call (Linux
// openat2), that costs open, fstat, read and close; elsewhere it goes
// through os.Root.
func (s *Store) readFile(dir string, f pageFile) ([]byte, bool, error) {
	name := filePath(dir, f.name)
	if b, ok, done, err := s.readBeneath(name, f); done {
		return b, ok, err
	}
	fh, ok, err := s.openRoot(name, f)
	if !ok {
		return nil, false, err
	}
	defer fh.Close()
	b := make([]byte, f.size)
	if _, err := io.ReadFull(fh, b); err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// openFile opens one body file of a page if it is the one f describes
// (readFile's checks); the caller closes it.
func (s *Store) openFile(dir string, f pageFile) (*os.File, bool, error) {
	name := filePath(dir, f.name)
	if fh, ok, done, err := s.openBeneathFile(name, f); done {
		return fh, ok, err
	}
	return s.openRoot(name, f)
}

// openRoot is the portable open: through os.Root, then the identity check.
func (s *Store) openRoot(name string, f pageFile) (*os.File, bool, error) {
	fh, err := s.root.Open(name)
	if isAbsent(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	fi, err := fh.Stat()
	if err == nil && (fi.Size() != f.size || fileIdentity(fi) != *f.id) {
		fh.Close()
		return nil, false, nil
	}
	if err != nil {
		fh.Close()
		return nil, false, err
	}
	return fh, true, nil
}
