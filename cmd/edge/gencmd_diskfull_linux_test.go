package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A disk that fills up during edge gen stops the run with a message that
// says so, leaves nothing half-written, and keeps the run's journal: once
// there is room again, the same command makes only the pages not stored.
func TestGenDiskFullStopsAndResumes(t *testing.T) {
	root := mountTmpfs(t, "1M")
	s := startGenSite(t, 200, nil)
	cfg := genConfig(t, s.URL, root, "www.site.test", "")
	args := []string{"-config", cfg, "-sitemap", s.URL + "/sitemap.xml", "-progress", "none",
		"-failures", filepath.Join(t.TempDir(), "failed.txt")}
	out, err := genIn(t.Context(), t, "", args...)
	if err == nil || !strings.Contains(err.Error(), "store is full") || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("run on a full disk: %v\n%s", err, out)
	}
	if tmp, _ := os.ReadDir(filepath.Join(root, "@edge", "tmp")); len(tmp) != 0 {
		t.Errorf("%d temp files left", len(tmp))
	}
	if ents, _ := os.ReadDir(genRunsDir(root)); len(ents) != 1 {
		t.Fatalf("journal after the disk filled up: %v", ents)
	}
	first := s.renders(t, 1)
	if first == 0 || first >= 200 {
		t.Fatalf("%d pages rendered before the disk was full", first)
	}

	// Free space: a bigger file system in the same place.
	if err := syscall.Mount("tmpfs", root, "tmpfs", syscall.MS_REMOUNT, "size=64M"); err != nil {
		t.Skipf("cannot grow the tmpfs: %v", err)
	}
	out, err = genIn(t.Context(), t, "", args...)
	if err != nil || !strings.Contains(out, "ok ") {
		t.Fatalf("resumed run: %v\n%s", err, out)
	}
	// Pages stored before the disk filled up are not rendered again; the
	// ones whose write failed are.
	if total := s.renders(t, 2); total-first > 200 || total < 200 {
		t.Errorf("%d renders in all, %d before the disk filled up", total, first)
	}
	for p := range s.URLs {
		if _, err := os.Stat(filepath.Join(root, strings.TrimPrefix(p, "/"), "index.html")); err != nil {
			t.Fatalf("%s not stored after the resumed run: %v", p, err)
		}
	}
}
