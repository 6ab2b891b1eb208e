package store

import (
	"fmt"
	"testing"
)

func TestScanStateListsAPrefixInOrder(t *testing.T) {
	s, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 600 { // more than one chunk
		if err := s.SetState(fmt.Sprintf("q/%04d", i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, other := range []string{"p", "q", "r/0"} {
		if err := s.SetState(other, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	err = s.ScanState("q/", func(name string, v []byte) bool {
		if want := fmt.Sprintf("q/%04d", n); name != want || len(v) != 1 || v[0] != byte(n) {
			t.Fatalf("entry %d: %q %v", n, name, v)
		}
		if n%100 == 0 { // deleting while scanning is allowed
			if err := s.SetState(name, nil); err != nil {
				t.Fatal(err)
			}
		}
		n++
		return true
	})
	if err != nil || n != 600 {
		t.Fatalf("scanned %d: %v", n, err)
	}
	n = 0
	_ = s.ScanState("q/", func(string, []byte) bool { n++; return n < 10 })
	if n != 10 {
		t.Fatalf("stop early: %d", n)
	}
	n = 0
	_ = s.ScanState("q/", func(string, []byte) bool { n++; return true })
	if n != 594 {
		t.Fatalf("after deleting 6: %d", n)
	}
}
