package store

import (
	"fmt"
	"testing"
)

// TestOutboxSurvivesReopen: items added are listed oldest first, survive a
// close and reopen, and are gone once deleted.
func TestOutboxSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := st.OutboxAdd(fmt.Appendf(nil, "item %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got []string
	var first uint64
	if err := st.OutboxEach(func(seq uint64, body []byte) bool {
		if first == 0 {
			first = seq
		}
		got = append(got, string(body))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[item 0 item 1 item 2]" {
		t.Fatalf("outbox after reopen = %q", got)
	}
	if err := st.OutboxDelete(first); err != nil {
		t.Fatal(err)
	}
	if n, err := st.OutboxLen(); err != nil || n != 2 {
		t.Fatalf("OutboxLen = %d, %v; want 2", n, err)
	}
}
