package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mountTmpfs mounts a size-limited tmpfs for a test: a real ENOSPC, not an
// injected one. It needs root (CI runs as root); elsewhere the test skips,
// saying why.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a size-limited tmpfs (%v): this test needs root", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// A disk that fills up stops writes (counted) but never serving: stored
// pages keep being served, new pages are served without being stored, and
// no temp or partial file is left behind.
func TestDiskFullKeepsServing(t *testing.T) {
	o := startOrigin(t, page)
	root := mountTmpfs(t, "1M")
	e := startEdge(t, o.URL, func(c *Config) { c.Store.Root = root })

	stored := get(t, e.URL+"/events/0")
	if stored.Header.Get("X-Cache") != "MISS" {
		t.Fatal("first page not generated")
	}
	// Fill the disk with pages until a write fails.
	n := 1
	for ; n < 400 && e.store.Stats().WriteErrors == 0; n++ {
		if r := get(t, fmt.Sprintf("%s/events/%d", e.URL, n)); r.Status != 200 {
			t.Fatalf("page %d while filling the disk: %d", n, r.Status)
		}
	}
	if e.store.Stats().WriteErrors == 0 {
		t.Fatalf("disk never filled after %d pages", n)
	}
	// New pages are still served (from the origin), just not stored.
	for i := range 5 {
		uri := fmt.Sprintf("/people/%d", i)
		r := get(t, e.URL+uri)
		if r.Status != 200 || !strings.Contains(r.Body, "<h1>"+uri+"</h1>") {
			t.Fatalf("%s on a full disk: %d", uri, r.Status)
		}
		if strings.Contains(r.Header.Get("Cache-Status"), "stored") {
			t.Fatalf("%s claims stored on a full disk", uri)
		}
	}
	// Stored pages keep being served, from memory and from disk.
	e.memory.Clear()
	if r := get(t, e.URL+"/events/0"); r.Status != 200 || r.Body != stored.Body {
		t.Fatalf("stored page on a full disk: %d", r.Status)
	}
	if st := e.proxy.Stats(); st.StoreErrors == 0 || st.Errors5xx != 0 {
		t.Fatalf("store errors %d (want > 0), 5xx %d (want 0)", st.StoreErrors, st.Errors5xx)
	}
	// Nothing half-written: no temp files, and every body on disk is whole.
	if tmp, _ := os.ReadDir(filepath.Join(root, "@edge", "tmp")); len(tmp) != 0 {
		t.Fatalf("%d temp files left", len(tmp))
	}
	checked := 0
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "index.html" {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		key := "/" + rel
		p, err := e.store.Get(key)
		if err != nil {
			return nil // files without an index entry: fsck's business, never served
		}
		checked++
		body, _ := os.ReadFile(path)
		if string(body) != string(p.Body) || !strings.HasSuffix(string(body), "</html>") {
			t.Errorf("%s: partial page on disk (%d bytes)", key, len(body))
		}
		return nil
	})
	if checked == 0 {
		t.Fatal("no stored page found on disk to check")
	}
}
