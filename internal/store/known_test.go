package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestKnownKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Known("/a") {
		t.Error("a fresh store knows /a")
	}
	keys := make([]string, 0, knownBatch+5)
	for i := range knownBatch + 5 { // more than one transaction
		keys = append(keys, fmt.Sprintf("/page/%d", i))
	}
	keys = append(keys, "", strings.Repeat("x", 40000)) // skipped
	if err := s.AddKnown(keys); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKnown([]string{"/page/0", "/a"}); err != nil { // again: idempotent
		t.Fatal(err)
	}
	// Pages come and go; the known set stays.
	if _, err := s.Put(testPage("/a", 100, "v1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("/a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestStore(t, dir, Options{}) // durable across a restart
	for _, k := range []string{"/a", "/page/0", fmt.Sprintf("/page/%d", knownBatch+4)} {
		if !s.Known(k) {
			t.Errorf("%s not known after a restart", k)
		}
	}
	for _, k := range []string{"/b", "", "/page/"} {
		if s.Known(k) {
			t.Errorf("%q known", k)
		}
	}
}
