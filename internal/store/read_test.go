package store

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pregen/edge"
)

// readPaths runs fn with the one-call read path (where the platform has
// it) and with the portable os.Root path.
func readPaths(t *testing.T, fn func(t *testing.T, s *Store)) {
	for _, fast := range []bool{true, false} {
		name := "os.Root"
		if fast {
			name = "beneath"
		}
		t.Run(name, func(t *testing.T) {
			s := newTestStore(t, Options{})
			if s.beneath == nil && fast {
				t.Skip("no one-call read path on this platform")
			}
			if !fast && s.beneath != nil {
				s.beneath.off.Store(true)
			}
			fn(t, s)
		})
	}
}

// putTwoPages stores /events/1 with every representation and /events/2
// without brotli.
func putTwoPages(t *testing.T, s *Store) (full, noBr *edge.Page) {
	t.Helper()
	full = testPage("/events/1", 3000, "v1", "event-1")
	mustPut(t, s, full)
	noBr = testPage("/events/2", 3000, "v2")
	noBr.Brotli = nil
	mustPut(t, s, noBr)
	return full, noBr
}

func TestGetVariantReadsOneRepresentation(t *testing.T) {
	readPaths(t, func(t *testing.T, s *Store) {
		full, noBr := putTwoPages(t, s)

		for _, c := range []struct {
			key     string
			br, gz  bool
			want    edge.Encoding
			wantLen int
		}{
			{"/events/1", true, true, edge.Brotli, len(full.Brotli)},
			{"/events/1", true, false, edge.Brotli, len(full.Brotli)},
			{"/events/1", false, true, edge.Gzip, len(full.Gzip)},
			{"/events/1", false, false, edge.Identity, len(full.Body)},
			{"/events/2", true, true, edge.Gzip, len(noBr.Gzip)},
			{"/events/2", true, false, edge.Identity, len(noBr.Body)},
		} {
			p, err := s.GetVariant(c.key, c.br, c.gz)
			if err != nil {
				t.Fatalf("GetVariant(%s, br=%v, gz=%v): %v", c.key, c.br, c.gz, err)
			}
			bodies := map[edge.Encoding][]byte{edge.Identity: p.Body, edge.Gzip: p.Gzip, edge.Brotli: p.Brotli}
			for enc, b := range bodies {
				if enc == c.want && len(b) != c.wantLen {
					t.Errorf("GetVariant(%s, br=%v, gz=%v): representation %d has %d bytes, want %d", c.key, c.br, c.gz, enc, len(b), c.wantLen)
				}
				if enc != c.want && b != nil {
					t.Errorf("GetVariant(%s, br=%v, gz=%v): representation %d read too", c.key, c.br, c.gz, enc)
				}
			}
			if p.ETag == "" || p.LastModified == "" || p.ContentType == "" || p.Status != 200 {
				t.Errorf("GetVariant(%s): metadata missing: %+v", c.key, p)
			}
		}
		got := mustGet(t, s, "/events/1")
		if string(got.Body) != string(full.Body) || string(got.Gzip) != string(full.Gzip) || string(got.Brotli) != string(full.Brotli) {
			t.Errorf("Get does not return every representation")
		}
		if _, err := s.GetVariant("/nope", true, true); !isNotFound(err) {
			t.Errorf("GetVariant of a missing key: %v, want ErrNotFound", err)
		}
	})
}

// OpenVariant opens the representation GetVariant would read, checked
// against the index the same way: the file holds exactly those bytes, the
// page its metadata and no bodies.
func TestOpenVariantOpensOneRepresentation(t *testing.T) {
	readPaths(t, func(t *testing.T, s *Store) {
		full, noBr := putTwoPages(t, s)
		for _, c := range []struct {
			key    string
			br, gz bool
			want   edge.Encoding
			body   []byte
		}{
			{"/events/1", true, true, edge.Brotli, full.Brotli},
			{"/events/1", false, true, edge.Gzip, full.Gzip},
			{"/events/1", false, false, edge.Identity, full.Body},
			{"/events/2", true, true, edge.Gzip, noBr.Gzip},
			{"/events/2", true, false, edge.Identity, noBr.Body},
		} {
			f, err := s.OpenVariant(c.key, c.br, c.gz)
			if err != nil {
				t.Fatalf("OpenVariant(%s, br=%v, gz=%v): %v", c.key, c.br, c.gz, err)
			}
			b, err := io.ReadAll(f.Body)
			f.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if f.Encoding != c.want || f.Size != int64(len(c.body)) || string(b) != string(c.body) {
				t.Errorf("OpenVariant(%s, br=%v, gz=%v): encoding %d, size %d, %d bytes read; want %d, %d",
					c.key, c.br, c.gz, f.Encoding, f.Size, len(b), c.want, len(c.body))
			}
			p := f.Page
			if p.Body != nil || p.Gzip != nil || p.Brotli != nil {
				t.Errorf("OpenVariant(%s): the page holds bodies", c.key)
			}
			if _, etag := p.Meta(f.Encoding); etag == "" || p.LastModified == "" || p.Status != 200 || p.ContentType == "" {
				t.Errorf("OpenVariant(%s): metadata missing: %+v", c.key, p)
			}
		}
		if _, err := s.OpenVariant("/nope", true, true); !isNotFound(err) {
			t.Errorf("OpenVariant of a missing key: %v, want ErrNotFound", err)
		}
	})
}

// A body file replaced outside edge — by another file with the same
// bytes or by a link to a file out of the root — is never read (GetVariant)
// nor opened (OpenVariant) for the indexed version.
func TestVariantsRefuseReplacedFiles(t *testing.T) {
	ways := map[string]func(s *Store) error{
		"GetVariant": func(s *Store) error { _, err := s.GetVariant("/page", false, false); return err },
		"OpenVariant": func(s *Store) error {
			f, err := s.OpenVariant("/page", false, false)
			if err == nil {
				f.Body.Close()
			}
			return err
		},
	}
	for name, get := range ways {
		t.Run(name, func(t *testing.T) {
			readPaths(t, func(t *testing.T, s *Store) {
				secret := filepath.Join(t.TempDir(), "secret")
				p := testPage("/page", 100, "v1")
				if err := os.WriteFile(secret, p.Body, 0o644); err != nil {
					t.Fatal(err)
				}
				mustPut(t, s, p)
				body := filepath.Join(s.dir, "page", fileBody)
				if err := os.Remove(body); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(secret, body); err != nil {
					t.Fatal(err)
				}
				if err := get(s); err == nil {
					t.Fatal("a file reached through a link out of the root")
				}
				if err := os.Remove(body); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(body, p.Body, 0o644); err != nil { // same bytes, another file
					t.Fatal(err)
				}
				if err := get(s); !isNotFound(err) {
					t.Errorf("a replaced file: %v, want ErrNotFound", err)
				}
			})
		})
	}
}
