package proxy

import (
	"testing"
	"time"
)

// Pages served from a tier are counted by age (now − generated_at); misses
// and pass-through are not.
func TestServedAgeHistogram(t *testing.T) {
	h := newHarness(t, nil)
	old := newPage("/old", "an old page")
	old.GeneratedAt = testNow.Add(-3 * 24 * time.Hour)
	h.mem.put(newPage("/fresh", "a fresh page")) // testAge (42s) old
	h.mem.put(old)
	for _, uri := range []string{"/fresh", "/fresh", "/old", "/missing"} {
		h.get(uri)
	}
	got := h.s.Stats().ServedAge
	if got.Count != 3 {
		t.Fatalf("served ages counted %d pages, want 3 (the miss is not served from a tier)", got.Count)
	}
	for i, b := range AgeBounds {
		want := uint64(0)
		switch {
		case b >= 3*24*time.Hour:
			want = 3
		case b >= testAge:
			want = 2
		}
		if got.Cumulative[i] != want {
			t.Errorf("pages at most %v old = %d, want %d", b, got.Cumulative[i], want)
		}
	}
	if want := 2*testAge + 3*24*time.Hour; got.Sum != want {
		t.Errorf("sum of ages = %v, want %v", got.Sum, want)
	}
}
