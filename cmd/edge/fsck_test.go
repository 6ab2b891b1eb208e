package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The files are the truth: with the index deleted, `edge fsck` rebuilds it
// and the next server serves the pages without asking the origin.
func TestFsckRebuildsIndex(t *testing.T) {
	o := startOrigin(t, page)
	root := t.TempDir()
	e := startEdge(t, o.URL, func(c *Config) { c.Store.Root, c.Cache.QueryAllow = root, []string{"page"} })
	for _, p := range []string{"/events/1", "/people/2/", "/topics/?page=3"} {
		get(t, e.URL+p)
	}
	e.stop(t)
	if err := os.Remove(filepath.Join(root, "@edge", "index.db")); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"fsck", "-root", root}, &out, &errb); code != 0 {
		t.Fatalf("fsck exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "indexed 3") {
		t.Fatalf("fsck report: %q", out.String())
	}
	e2 := startEdge(t, o.URL, func(c *Config) { c.Store.Root, c.Cache.QueryAllow = root, []string{"page"} })
	for _, p := range []string{"/events/1", "/people/2/", "/topics/?page=3"} {
		if r := get(t, e2.URL+p); r.Header.Get("X-Cache") != "HIT" {
			t.Fatalf("%s after fsck: X-Cache %q", p, r.Header.Get("X-Cache"))
		}
		if o.Hits(p) != 1 {
			t.Fatalf("%s: origin asked again after fsck", p)
		}
	}
}

// `edge fsck` against a store a server holds runs inside that server
// (POST /fsck): it repairs what it finds, reports it, and serving goes on
// meanwhile.
func TestFsckOnline(t *testing.T) {
	o := startOrigin(t, page)
	e := startEdge(t, o.URL, func(c *Config) { c.Admin.Token = "s3cret" })
	const n = 50
	for i := range n {
		get(t, fmt.Sprintf("%s/events/%d", e.URL, i))
	}
	// Damage: a page copied in by hand (files without an index entry),
	// and a temp file left by a crash.
	copyPage(t, filepath.Join(e.Root, "events", "7"), filepath.Join(e.Root, "events", "99"), "/events/7", "/events/99")
	if err := os.WriteFile(filepath.Join(e.Root, "@edge", "tmp", "crashed-1"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.memory.Clear()

	// Serve while the fsck runs: every stored page keeps answering.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var served, failed atomic.Int64
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i = (i + 1) % n {
			r, err := do("GET", fmt.Sprintf("%s/events/%d", e.URL, i))
			if err != nil || r.Status != 200 {
				failed.Add(1)
			}
			served.Add(1)
		}
	})
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"fsck", "-root", e.Root, "-admin", e.AdminListener.Addr().String(), "-token", "s3cret"}, &out, &errb)
	cancel()
	wg.Wait()
	if code != 0 {
		t.Fatalf("fsck exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"online", "scanned 51 page directories", "indexed 1,", "removed 1 temp files"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("fsck report %q lacks %q", out.String(), want)
		}
	}
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during the fsck", failed.Load(), served.Load())
	}
	if r := get(t, e.URL+"/events/99"); r.Header.Get("X-Cache") != "HIT" || o.Hits("/events/99") != 0 {
		t.Errorf("the page copied in is not served from the store after fsck: %s", r.Header.Get("X-Cache"))
	}

	// Without the token the server refuses.
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"fsck", "-root", e.Root, "-admin", e.AdminListener.Addr().String(), "-token", "wrong"}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "401") {
		t.Errorf("fsck with a wrong token: exit %d, %q", code, errb.String())
	}
}

// copyPage copies a page directory, renaming its key in the sidecar.
func copyPage(t *testing.T, from, to, oldKey, newKey string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ents {
		b, err := os.ReadFile(filepath.Join(from, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f.Name(), ".meta") {
			b = bytes.Replace(b, []byte(`"`+oldKey+`"`), []byte(`"`+newKey+`"`), 1)
		}
		if err := os.WriteFile(filepath.Join(to, f.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
