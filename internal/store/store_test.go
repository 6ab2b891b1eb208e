package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pregen/edge"
)

func TestPutGetRoundTrip(t *testing.T) {
	s := newTestStore(t, Options{})
	p := testPage("/events/42", 5000, "v1", "event:42", "list:events")
	p.Header = append(p.Header, edge.Field{Name: "Link", Value: "</a.css>; rel=preload\n\"odd\""})
	if !mustPut(t, s, p) {
		t.Error("first Put reported no change")
	}
	checkSamePage(t, mustGet(t, s, "/events/42"), p)
	// Stale comes from the page's mark, not from the Page that was stored.
	if _, _, err := s.Mark([]string{"/events/42"}, edge.PriorityInvalidate, "test"); err != nil {
		t.Fatal(err)
	}
	p.Stale = true
	checkSamePage(t, mustGet(t, s, "/events/42"), p)

	m, err := s.Meta("/events/42")
	if err != nil {
		t.Fatal(err)
	}
	want := Meta{Key: "/events/42", ContentType: p.ContentType, ETag: `"v1"`, Status: 200, Size: 5000,
		Bytes: 5000 + int64(len(p.Gzip)+len(p.Brotli)), GeneratedAt: p.GeneratedAt, Tags: p.Tags,
		Stale: true, Gzip: true, Brotli: true}
	if !m.GeneratedAt.Equal(want.GeneratedAt) || !slices.Equal(m.Tags, want.Tags) {
		t.Errorf("Meta = %+v, want %+v", m, want)
	}
	m.GeneratedAt, m.Tags, want.GeneratedAt, want.Tags = time.Time{}, nil, time.Time{}, nil
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Errorf("Meta = %+v, want %+v", m, want)
	}

	// The files are where the layout says, readable without edge.
	for name, data := range map[string][]byte{"index.html": p.Body, "index.html.gz": p.Gzip, "index.html.br": p.Brotli} {
		got, err := os.ReadFile(filepath.Join(s.dir, "events", "42", name))
		if err != nil || string(got) != string(data) {
			t.Errorf("%s: %d bytes, %v", name, len(got), err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(s.dir, "events", "42", "index.html.meta"))
	if err != nil {
		t.Fatal(err)
	}
	var sc map[string]any
	if err := json.Unmarshal(raw, &sc); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"key", "status", "content_type", "header", "etag", "generated_at", "tags", "sizes"} {
		if _, ok := sc[field]; !ok {
			t.Errorf("sidecar lacks %q: %s", field, raw)
		}
	}
	if sizes := sc["sizes"].(map[string]any); sizes["identity"] != 5000.0 || sizes["gzip"] == nil || sizes["br"] == nil {
		t.Errorf("sidecar sizes = %v", sizes)
	}

	st := s.Stats()
	if st.Pages != 1 || st.Bytes != want.Bytes || st.WriteErrors != 0 {
		t.Errorf("Stats = %+v", st)
	}

	if _, err := s.Get("/events/43"); !isNotFound(err) {
		t.Errorf("Get(absent) = %v, want ErrNotFound", err)
	}
	if _, err := s.Meta("/events/43"); !isNotFound(err) {
		t.Errorf("Meta(absent) = %v, want ErrNotFound", err)
	}
}

func TestPutVariantsComeAndGo(t *testing.T) {
	s := newTestStore(t, Options{})
	p := testPage("/a/", 100, "v1")
	p.Brotli = nil
	mustPut(t, s, p.Finish())
	if _, err := os.Stat(filepath.Join(s.dir, "a", "@", "index.html.br")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("brotli file exists for a page without it: %v", err)
	}
	checkSamePage(t, mustGet(t, s, "/a/"), p)

	p2 := testPage("/a/", 100, "v2")
	p2.Gzip = nil
	mustPut(t, s, p2)
	if _, err := os.Stat(filepath.Join(s.dir, "a", "@", "index.html.gz")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale gzip variant left behind: %v", err)
	}
	checkSamePage(t, mustGet(t, s, "/a/"), p2)
	if st := s.Stats(); st.Bytes != 100+int64(len(p2.Brotli)) || st.Pages != 1 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestPutUnchangedETag(t *testing.T) {
	s := newTestStore(t, Options{})
	p1 := testPage("/x", 1000, "same", "a", "b")
	mustPut(t, s, p1)
	files := []string{"x/index.html", "x/index.html.gz", "x/index.html.br"}
	before := map[string]fileID{}
	for _, f := range files {
		before[f] = statID(t, s, f)
	}

	p2 := testPage("/x", 1000, "same", "c")
	p2.GeneratedAt = p1.GeneratedAt.Add(time.Hour)
	p2.Finish()
	if mustPut(t, s, p2) {
		t.Error("Put with the stored ETag reported a change")
	}
	for _, f := range files {
		if statID(t, s, f) != before[f] {
			t.Errorf("%s was rewritten", f)
		}
	}
	m, err := s.Meta("/x")
	if err != nil || !m.GeneratedAt.Equal(p2.GeneratedAt) {
		t.Errorf("Meta generated_at = %v, %v; want %v", m.GeneratedAt, err, p2.GeneratedAt)
	}
	raw, _ := os.ReadFile(filepath.Join(s.dir, "x", fileMeta))
	if !strings.Contains(string(raw), p2.GeneratedAt.Format(time.RFC3339Nano)) {
		t.Errorf("sidecar generated_at not moved: %s", raw)
	}
	if got := keysForTag(t, s, "a"); len(got) != 0 {
		t.Errorf("old tag a still maps to %v", got)
	}
	if got := keysForTag(t, s, "c"); !slices.Equal(got, []string{"/x"}) {
		t.Errorf("new tag c maps to %v", got)
	}
	checkSamePage(t, mustGet(t, s, "/x"), p2)

	// A body replaced behind the store's back is not trusted: the next Put
	// with the same ETag rewrites everything.
	if err := os.WriteFile(filepath.Join(s.dir, "x", fileBody), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !mustPut(t, s, p2) {
		t.Error("Put over a tampered body reported no change")
	}
	checkSamePage(t, mustGet(t, s, "/x"), p2)
}

func TestTagsReplaced(t *testing.T) {
	s := newTestStore(t, Options{})
	mustPut(t, s, testPage("/a", 10, "v1", "x", "y", "x"))
	mustPut(t, s, testPage("/b", 10, "v1", "y"))
	if got := keysForTag(t, s, "y"); !slices.Equal(got, []string{"/a", "/b"}) {
		t.Errorf("tag y: %v", got)
	}
	mustPut(t, s, testPage("/a", 10, "v2", "y", "z"))
	for tag, want := range map[string][]string{"x": nil, "y": {"/a", "/b"}, "z": {"/a"}} {
		if got := keysForTag(t, s, tag); !slices.Equal(got, want) {
			t.Errorf("tag %s: %v, want %v", tag, got, want)
		}
	}
	// A tag that is a prefix of another is not confused with it.
	if got := keysForTag(t, s, ""); len(got) != 0 {
		t.Errorf("empty tag: %v", got)
	}
	if _, err := s.Put(testPage("/c", 10, "v1", "bad\x00tag")); !errors.Is(err, ErrBadTag) {
		t.Errorf("Put with NUL tag: %v, want ErrBadTag", err)
	}
}

func TestKeysForTagChunks(t *testing.T) {
	s := newTestStore(t, Options{NoSync: true})
	var want []string
	for i := range 1200 {
		key := fmt.Sprintf("/p/%04d", i)
		want = append(want, key)
		mustPut(t, s, testPage(key, 10, "v", "all", fmt.Sprint("mod", i%7)))
	}
	if got := keysForTag(t, s, "all"); !slices.Equal(got, want) {
		t.Errorf("KeysForTag(all): %d keys, want %d", len(got), len(want))
	}
	n := 0
	_ = s.KeysForTag("all", func(string) bool { n++; return n < 600 })
	if n != 600 {
		t.Errorf("early stop after %d keys, want 600", n)
	}
	if got := keysForTag(t, s, "mod3"); len(got) != 171 {
		t.Errorf("mod3: %d keys", len(got))
	}
}

func TestDelete(t *testing.T) {
	s := newTestStore(t, Options{})
	mustPut(t, s, testPage("/a", 10, "v1", "t"))
	mustPut(t, s, testPage("/a/b", 10, "v1", "t"))
	mustPut(t, s, testPage("/c", 10, "v1", "t"))
	if err := s.Delete("/a"); err != nil {
		t.Fatal(err)
	}
	for _, f := range pageFiles {
		if _, err := os.Stat(filepath.Join(s.dir, "a", f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a/%s still there: %v", f, err)
		}
	}
	checkSamePage(t, mustGet(t, s, "/a/b"), testPage("/a/b", 10, "v1", "t"))
	if _, err := s.Get("/a"); !isNotFound(err) {
		t.Errorf("Get after Delete: %v", err)
	}
	if got := keysForTag(t, s, "t"); !slices.Equal(got, []string{"/a/b", "/c"}) {
		t.Errorf("tag t after Delete: %v", got)
	}
	if err := s.Delete("/c"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "c")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty page directory c not removed: %v", err)
	}
	if err := s.Delete("/c"); err != nil {
		t.Errorf("Delete of an absent page: %v", err)
	}
	if err := s.Delete("/never/stored"); err != nil {
		t.Errorf("Delete of a never stored page: %v", err)
	}
	if st := s.Stats(); st.Pages != 1 || st.Bytes != 10+int64(len("gz:v1")+len("br:v1")) {
		t.Errorf("Stats = %+v", st)
	}
	// The page can come back.
	mustPut(t, s, testPage("/c", 10, "v2"))
	mustGet(t, s, "/c")
}

func TestSetStale(t *testing.T) {
	s := newTestStore(t, Options{})
	mustPut(t, s, testPage("/a", 10, "v1"))
	mustPut(t, s, testPage("/b", 10, "v1"))
	n, err := s.SetStale([]string{"/a", "/b", "/missing", "bad key"}, true)
	if err != nil || n != 2 {
		t.Fatalf("SetStale = %d, %v; want 2", n, err)
	}
	if p := mustGet(t, s, "/a"); !p.Stale {
		t.Error("Get: page not stale")
	}
	if n, _ := s.SetStale([]string{"/a"}, false); n != 1 {
		t.Errorf("unmark: %d", n)
	}
	if m, _ := s.Meta("/a"); m.Stale {
		t.Error("Meta: still stale after unmarking")
	}
	if m, _ := s.Meta("/b"); !m.Stale {
		t.Error("Meta: /b not stale")
	}
	// Storing a page never touches its mark (the regenerator settles it),
	// whatever the stored Page says.
	mustPut(t, s, testPage("/b", 10, "v1"))
	if m, _ := s.Meta("/b"); !m.Stale {
		t.Error("a Put removed the stale mark")
	}
	fresh := testPage("/a", 10, "v2")
	fresh.Stale = true
	mustPut(t, s, fresh)
	if m, _ := s.Meta("/a"); m.Stale {
		t.Error("a Put of a Page with Stale set marked it")
	}
}

// TestTraversalKeys feeds keys that would escape the root or reach the
// reserved directory if mapped naively: each is refused or stored inside,
// and nothing outside the root appears.
func TestTraversalKeys(t *testing.T) {
	parent := t.TempDir()
	if err := os.WriteFile(filepath.Join(parent, "x"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openTestStore(t, filepath.Join(parent, "store"), Options{NoSync: true})
	before := treeListing(t, parent, "store")

	keys := append([]string{
		"/@edge/tmp", "/@edge/index.db", "/@edge", "/@edge/tmp/x", "/%2e%2e/x", "/..%2f..%2fx",
		"/%252e%252e/x", "/~", "/a?../../x", "/a?/../../x", "/?..", "/index.html", "/index.html.meta",
		"/" + strings.Repeat("a/", 200),
	}, badKeys...)
	stored := 0
	for _, key := range keys {
		_, err := s.Put(testPage(key, 10, "v"))
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Errorf("Put(%.60q) = %v; want nil or ErrBadKey", key, err)
			}
			if _, err := s.Get(key); !errors.Is(err, ErrBadKey) {
				t.Errorf("Get(%.60q) = %v; want ErrBadKey", key, err)
			}
			if err := s.Delete(key); !errors.Is(err, ErrBadKey) {
				t.Errorf("Delete(%.60q) = %v; want ErrBadKey", key, err)
			}
			continue
		}
		stored++
		mustGet(t, s, key)
		if err := s.Delete(key); err != nil {
			t.Errorf("Delete(%q): %v", key, err)
		}
	}
	if stored < 10 {
		t.Errorf("only %d keys stored", stored)
	}
	if after := treeListing(t, parent, "store"); !slices.Equal(before, after) {
		t.Errorf("outside the root changed:\nbefore %v\nafter  %v", before, after)
	}
	ents, _ := os.ReadDir(filepath.Join(s.dir, edgeDir))
	for _, e := range ents {
		if e.Name() != "index.db" && e.Name() != "tmp" {
			t.Errorf("unexpected entry in @edge: %s", e.Name())
		}
	}
	if s.Stats().WriteErrors != 0 {
		t.Errorf("bad keys counted as write errors: %+v", s.Stats())
	}
}

func TestSymlinkOutOfRootNotFollowed(t *testing.T) {
	parent := t.TempDir()
	outside := filepath.Join(parent, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(parent, "secret.html")
	if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openTestStore(t, filepath.Join(parent, "store"), Options{})
	// Links planted inside the root: to a directory outside (relative and
	// absolute), and a page body linking to a file outside.
	for name, target := range map[string]string{"rel": "../outside", "abs": outside} {
		if err := os.Symlink(target, filepath.Join(s.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(s.dir, "page"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(s.dir, "page", fileBody)); err != nil {
		t.Fatal(err)
	}

	for _, key := range []string{"/rel/x", "/abs/x", "/rel", "/abs/"} {
		if _, err := s.Put(testPage(key, 10, "v")); err == nil {
			t.Errorf("Put(%q) through a link out of the root succeeded", key)
		}
		if s.Watch(key) {
			t.Errorf("Watch(%q) through a link out of the root succeeded", key)
		}
		_ = s.Delete(key)
	}
	if n := countFiles(t, outside); n != 0 {
		t.Errorf("%d files created outside the root", n)
	}
	if _, err := s.Get("/page"); !isNotFound(err) {
		t.Errorf("Get of unindexed page: %v", err)
	}
	// Storing the page replaces the link itself, never the file it names.
	mustPut(t, s, testPage("/page", 10, "v"))
	if b, _ := os.ReadFile(secret); string(b) != "secret" {
		t.Errorf("file outside the root was written: %q", b)
	}
	if st := s.Stats(); st.WriteErrors == 0 {
		t.Errorf("refused writes not counted: %+v", st)
	}
}

func TestPutDiskFull(t *testing.T) {
	s := newTestStore(t, Options{})
	v1 := testPage("/full", 4000, "v1", "t1")
	mustPut(t, s, v1)

	for _, after := range []int{0, 1, 2, 3} { // fail the gz, br, body or sidecar temp
		failTempAfter(s, after)
		_, err := s.Put(testPage("/full", 5000, fmt.Sprint("v2-", after), "t2"))
		if !errors.Is(err, edge.ErrStoreFull) {
			t.Fatalf("Put failing after %d temps: %v, want ErrStoreFull", after, err)
		}
		if countFiles(t, filepath.Join(s.dir, tmpDir)) != 0 {
			t.Fatalf("temp files left after a failure at temp %d", after)
		}
		checkSamePage(t, mustGet(t, s, "/full"), v1)
	}
	// A new page that cannot be written leaves nothing either.
	failTempAfter(s, 2)
	if _, err := s.Put(testPage("/new", 10, "v1")); !errors.Is(err, edge.ErrStoreFull) {
		t.Errorf("Put(new): %v", err)
	}
	if _, err := s.Get("/new"); !isNotFound(err) {
		t.Errorf("Get(new) after failed Put: %v", err)
	}
	if got := keysForTag(t, s, "t2"); len(got) != 0 {
		t.Errorf("tags of failed Puts indexed: %v", got)
	}
	if st := s.Stats(); st.WriteErrors != 5 || st.Pages != 1 {
		t.Errorf("Stats = %+v, want 5 write errors and 1 page", st)
	}
	s.createTemp = s.openTemp
	mustPut(t, s, testPage("/full", 10, "v3"))
}

func TestOpenRemovesOrphanTemps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, testPage("/a", 10, "v1"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What a crash leaves: temp files and a half-created directory.
	tmp := filepath.Join(dir, tmpDir)
	for _, name := range []string{"123-1", "123-2", ".hidden"} {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(tmp, "d", "e"), 0o755); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir, Options{}) // its cleanup checks tmp is empty
	if n := countFiles(t, tmp); n != 0 {
		t.Errorf("%d orphan temp files after Open", n)
	}
	mustGet(t, s, "/a")
}

// TestOpenDoesNotWalk stores 2,000 pages, then checks that reopening lists
// no directory but the temp directory and takes its counters from the
// index: they stay right even with the page tree moved away.
func TestOpenDoesNotWalk(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "store")
	s, err := Open(dir, Options{NoSync: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		mustPut(t, s, testPage(fmt.Sprintf("/p/%d/%d", i/100, i), 100, "v"))
	}
	want := s.Stats()
	if want.Pages != 2000 {
		t.Fatalf("Stats before reopen: %+v", want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "p"), filepath.Join(parent, "moved")); err != nil {
		t.Fatal(err)
	}

	var listed []string
	testHookReadDir = func(name string) { listed = append(listed, name) }
	t.Cleanup(func() { testHookReadDir = nil })
	s = openTestStore(t, dir, Options{NoSync: true})
	testHookReadDir = nil
	if !slices.Equal(listed, []string{tmpDir}) {
		t.Errorf("Open listed %v, want only %s", listed, tmpDir)
	}
	if got := s.Stats(); got.Pages != want.Pages || got.Bytes != want.Bytes {
		t.Errorf("Stats after reopen = %+v, want %+v", got, want)
	}
}

func TestSecondOpenFails(t *testing.T) {
	s := newTestStore(t, Options{})
	start := time.Now()
	s2, err := Open(s.dir, Options{Logger: testLogger(t)})
	if err == nil {
		s2.Close()
		t.Fatal("second Open of an open store succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another edge process") {
		t.Errorf("second Open: %v; want a clear ErrLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v", d)
	}
	mustPut(t, s, testPage("/still/works", 10, "v"))
}

// TestConcurrent runs Puts, Gets and Deletes of overlapping keys under the
// race detector and checks that every page read is one complete version and
// that the counters agree with the index afterwards.
func TestConcurrent(t *testing.T) {
	s := newTestStore(t, Options{NoSync: true})
	keys := []string{"/a", "/a/b", "/c", "/c/", "/c?x=1"}
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 60 {
				key := keys[(g+i)%len(keys)]
				switch i % 5 {
				case 0, 1:
					version := fmt.Sprintf("g%dv%d", g, i)
					if _, err := s.Put(testPage(key, 100+i, version, "t"+version)); err != nil {
						t.Error(err)
					}
				case 2, 3:
					p, err := s.Get(key)
					if err != nil {
						if !isNotFound(err) {
							t.Error(err)
						}
						continue
					}
					version := strings.Trim(p.ETag, `"`)
					if want := testPage(key, len(p.Body), version, "t"+version); string(p.Body) != string(want.Body) ||
						string(p.Gzip) != string(want.Gzip) || !slices.Equal(p.Tags, want.Tags) {
						t.Errorf("Get(%q): mixed versions (etag %s)", key, p.ETag)
					}
				case 4:
					if err := s.Delete(key); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	var pages, byt int64
	for _, k := range keys {
		if m, err := s.Meta(k); err == nil {
			pages++
			byt += m.Bytes
		}
	}
	if st := s.Stats(); st.Pages != pages || st.Bytes != byt {
		t.Errorf("Stats = %+v, index holds %d pages, %d bytes", st, pages, byt)
	}
}

// TestGetDetectsReplacedFiles replaces a page's files behind the store's
// back with files of the same sizes: Get must not serve the new bytes under
// the old ETag.
func TestGetDetectsReplacedFiles(t *testing.T) {
	s := newTestStore(t, Options{})
	p := testPage("/r", 100, "v1")
	mustPut(t, s, p)
	for _, name := range []string{fileBody, fileGzip} {
		path := filepath.Join(s.dir, "r", name)
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		same := []byte(strings.Repeat("X", len(old)))
		if err := os.WriteFile(path+".new", same, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get("/r"); !isNotFound(err) {
			t.Fatalf("Get after %s was replaced: %v, body %.20q", name, err, got.Body)
		}
		mustPut(t, s, p) // same ETag, but the files are not ours: rewritten
		checkSamePage(t, mustGet(t, s, "/r"), p)
	}
}
