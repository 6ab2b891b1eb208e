package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pregen/edge"
)

// newTestStore opens a store in a fresh directory ("store" inside a test
// temp dir, so tests can check its parent) and, at cleanup, closes it and
// checks that no temp file was left behind.
func newTestStore(t testing.TB, o Options) *Store {
	t.Helper()
	return openTestStore(t, filepath.Join(t.TempDir(), "store"), o)
}

// openTestStore opens the store at dir with the same cleanup checks.
func openTestStore(t testing.TB, dir string, o Options) *Store {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		ents, err := os.ReadDir(filepath.Join(dir, tmpDir))
		if err != nil {
			t.Errorf("reading temp dir: %v", err)
		}
		for _, e := range ents {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	})
	return s
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testPage builds a finished page whose body (n bytes) and variants derive
// from version, so two versions differ and the ETag names the version.
func testPage(key string, n int, version string, tags ...string) *edge.Page {
	body := bytes.Repeat([]byte(version+"|"), n/(len(version)+1)+1)[:n]
	return (&edge.Page{
		Key:         key,
		Status:      200,
		ContentType: "text/html; charset=utf-8",
		Header:      []edge.Field{{Name: "Content-Language", Value: "en"}},
		Body:        body,
		Gzip:        []byte("gz:" + version),
		Brotli:      []byte("br:" + version),
		ETag:        `"` + version + `"`,
		GeneratedAt: time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC),
		Tags:        tags,
	}).Finish()
}

// mustPut stores p and fails the test on error.
func mustPut(t testing.TB, s *Store, p *edge.Page) bool {
	t.Helper()
	changed, err := s.Put(p)
	if err != nil {
		t.Fatalf("Put(%q): %v", p.Key, err)
	}
	return changed
}

// mustGet reads key and fails the test on error.
func mustGet(t testing.TB, s *Store, key string) *edge.Page {
	t.Helper()
	p, err := s.Get(key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return p
}

// checkSamePage compares the stored fields of two pages.
func checkSamePage(t testing.TB, got, want *edge.Page) {
	t.Helper()
	if got.Key != want.Key || got.Status != want.Status || got.ContentType != want.ContentType ||
		got.ETag != want.ETag || !got.GeneratedAt.Equal(want.GeneratedAt) || got.Stale != want.Stale {
		t.Errorf("page %q: got %+v, want %+v", want.Key, got, want)
	}
	if !bytes.Equal(got.Body, want.Body) || !bytes.Equal(got.Gzip, want.Gzip) || !bytes.Equal(got.Brotli, want.Brotli) {
		t.Errorf("page %q: bodies differ", want.Key)
	}
	if (got.Gzip == nil) != (want.Gzip == nil) || (got.Brotli == nil) != (want.Brotli == nil) {
		t.Errorf("page %q: variants differ: gzip %v/%v brotli %v/%v", want.Key,
			got.Gzip != nil, want.Gzip != nil, got.Brotli != nil, want.Brotli != nil)
	}
	if !slices.Equal(got.Header, want.Header) || !slices.Equal(got.Tags, want.Tags) {
		t.Errorf("page %q: header/tags: got %v %v, want %v %v", want.Key, got.Header, got.Tags, want.Header, want.Tags)
	}
	if got.LastModified == "" || got.LastModified != want.LastModified {
		t.Errorf("page %q: Finish not called (LastModified %q)", want.Key, got.LastModified)
	}
	for _, e := range []edge.Encoding{edge.Identity, edge.Gzip, edge.Brotli} {
		_, _, ge := got.Variant(e)
		_, _, we := want.Variant(e)
		if ge != we {
			t.Errorf("page %q: variant %d ETag %q, want %q", want.Key, e, ge, we)
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, edge.ErrNotFound) }

func keysForTag(t testing.TB, s *Store, tag string) []string {
	t.Helper()
	var keys []string
	if err := s.KeysForTag(tag, func(k string) bool { keys = append(keys, k); return true }); err != nil {
		t.Fatalf("KeysForTag(%q): %v", tag, err)
	}
	return keys
}

// treeListing lists every path under dir (relative, sorted), with a type
// mark and, for files, the size: a cheap fingerprint of a directory tree.
func treeListing(t testing.TB, dir string, skip string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == skip {
			return fs.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %v %d", rel, info.Mode().Type(), info.Size()))
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	sort.Strings(out)
	return out
}

// statID returns the identity of a file under the store root.
func statID(t testing.TB, s *Store, rel string) fileID {
	t.Helper()
	fi, err := os.Stat(filepath.Join(s.dir, rel))
	if err != nil {
		t.Fatalf("stat %s: %v", rel, err)
	}
	return fileIdentity(fi)
}

// enospcFile writes part of its data, then fails as a full disk does.
type enospcFile struct {
	tempFile
	name string
}

func (f *enospcFile) Write(p []byte) (int, error) {
	n, _ := f.tempFile.Write(p[:len(p)/2])
	return n, &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
}

// failTempAfter makes the (n+1)th and later temp files of s fail with ENOSPC.
func failTempAfter(s *Store, n int) {
	var created int
	s.createTemp = func(name string) (tempFile, error) {
		f, err := s.openTemp(name)
		if err != nil {
			return nil, err
		}
		created++
		if created > n {
			return &enospcFile{tempFile: f, name: name}, nil
		}
		return f, nil
	}
}

// writeByHand writes a page directory the way another process (rsync, an
// operator, a second edge) would: temp file in the same directory, then
// rename, body before sidecar.
func writeByHand(t testing.TB, rootDir, dir, key string, body []byte, etag string, gen time.Time) {
	t.Helper()
	abs := filepath.Join(rootDir, filepath.FromSlash(dir))
	if err := os.MkdirAll(abs, 0o755); err != nil {
		t.Fatal(err)
	}
	sc := &sidecar{
		Key: key, Status: 200, ContentType: "text/html", ETag: etag, GeneratedAt: gen,
		Sizes: sidecarSizes{Identity: int64(len(body))},
	}
	meta, err := sc.marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{fileBody, body}, {fileMeta, meta}} {
		tmp := filepath.Join(abs, ".tmp-"+f.name)
		if err := os.WriteFile(tmp, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(abs, f.name)); err != nil {
			t.Fatal(err)
		}
	}
}

func countFiles(t testing.TB, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return len(ents)
}

func hasPrefixDir(dir, prefix string) bool {
	return dir == prefix || strings.HasPrefix(dir, prefix+"/")
}
