package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
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
