package invalidate

import (
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	good := []string{
		"0 3,15 * * *", "*/10 * * * *", "30 2 * * 1-5", "0 0 1 1 *", "5-55/10 8-18/2 1,15 * 0,7",
		"0 0 29 2 *", "  0   3 * * *  ", "59 23 31 12 7", "0/15 * * * *",
	}
	for _, s := range good {
		if _, err := ParseSchedule(s, time.UTC); err != nil {
			t.Errorf("ParseSchedule(%q): %v", s, err)
		}
	}
	bad := []string{
		"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
		"* * * 13 *", "* * * * 8", "a * * * *", "1-2-3 * * * *", "5-1 * * * *", "*/0 * * * *",
		"*/61 * * * *", "1,,2 * * * *", "- * * * *", "-1 * * * *", "+1 * * * *", "@daily",
		"0 0 30 2 *", "0 0 31 4,6,9,11 *", "001 * * * *", "JAN * * * *",
	}
	for _, s := range bad {
		if _, err := ParseSchedule(s, time.UTC); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", s)
		}
	}
}

func TestSchedulePrevNext(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse("2006-01-02 15:04:05", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		spec, t, prev, next string
	}{
		{"0 3,15 * * *", "2026-05-10 10:00:00", "2026-05-10 03:00:00", "2026-05-10 15:00:00"},
		{"0 3,15 * * *", "2026-05-10 03:00:00", "2026-05-10 03:00:00", "2026-05-10 03:00:00"},
		{"0 3,15 * * *", "2026-05-10 03:00:01", "2026-05-10 03:00:00", "2026-05-10 15:00:00"},
		{"0 3,15 * * *", "2026-05-10 02:59:59", "2026-05-09 15:00:00", "2026-05-10 03:00:00"},
		{"0 3,15 * * *", "2026-01-01 00:00:00", "2025-12-31 15:00:00", "2026-01-01 03:00:00"},
		{"*/10 * * * *", "2026-05-10 10:17:30", "2026-05-10 10:10:00", "2026-05-10 10:20:00"},
		{"*/10 * * * *", "2026-05-10 23:55:00", "2026-05-10 23:50:00", "2026-05-11 00:00:00"},
		// Weekdays only: 2026-05-09 is a Saturday.
		{"30 2 * * 1-5", "2026-05-09 12:00:00", "2026-05-08 02:30:00", "2026-05-11 02:30:00"},
		// Both day fields restricted: either matches (the 1st, or a Sunday).
		{"0 0 1 * 0", "2026-05-05 12:00:00", "2026-05-03 00:00:00", "2026-05-10 00:00:00"},
		{"0 0 1 * 0", "2026-05-30 12:00:00", "2026-05-24 00:00:00", "2026-05-31 00:00:00"},
		{"0 0 1 * 7", "2026-05-31 12:00:00", "2026-05-31 00:00:00", "2026-06-01 00:00:00"},
		// Leap day.
		{"0 12 29 2 *", "2026-05-01 00:00:00", "2024-02-29 12:00:00", "2028-02-29 12:00:00"},
		{"59 23 31 12 *", "2026-05-01 00:00:00", "2025-12-31 23:59:00", "2026-12-31 23:59:00"},
	}
	for _, tt := range tests {
		s, err := ParseSchedule(tt.spec, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Prev(at(tt.t)); !got.Equal(at(tt.prev)) {
			t.Errorf("%q.Prev(%s) = %s, want %s", tt.spec, tt.t, got, tt.prev)
		}
		if got := s.Next(at(tt.t)); !got.Equal(at(tt.next)) {
			t.Errorf("%q.Next(%s) = %s, want %s", tt.spec, tt.t, got, tt.next)
		}
	}
}

func TestScheduleLocation(t *testing.T) {
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	s, err := ParseSchedule("0 3 * * *", oslo)
	if err != nil {
		t.Fatal(err)
	}
	// 03:00 in Oslo in May (UTC+2) is 01:00 UTC.
	got := s.Next(time.Date(2026, 5, 10, 0, 0, 0, 0, time.UTC))
	if want := time.Date(2026, 5, 10, 1, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next = %s, want %s", got.UTC(), want)
	}
}

// FuzzParseSchedule: parsing never panics, and an accepted schedule's Prev
// and Next bracket any time with scheduled times that agree with each other.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"0 3,15 * * *", "*/10 * * * *", "30 2 * * 1-5", "0 0 1 * 0", "0 12 29 2 *",
		"5-55/10 8-18/2 1,15 * 0,7", "60 * * * *", "* * * * 8", "1-2-3 * * * *"} {
		f.Add(s, int64(1778400000))
	}
	f.Fuzz(func(t *testing.T, spec string, unix int64) {
		s, err := ParseSchedule(spec, time.UTC)
		if err != nil {
			return
		}
		tm := time.Unix(unix%(1<<35), 0).UTC() // within ±1000 years of 1970
		prev, next := s.Prev(tm), s.Next(tm)
		if !next.IsZero() {
			if next.Before(tm) || next.Second() != 0 || !s.Prev(next).Equal(next) || !s.Next(next).Equal(next) {
				t.Fatalf("%q at %s: Next %s inconsistent", spec, tm, next)
			}
		}
		if !prev.IsZero() {
			if prev.After(tm) || !s.Next(prev).Equal(prev) {
				t.Fatalf("%q at %s: Prev %s inconsistent", spec, tm, prev)
			}
			if !next.IsZero() && !next.Equal(prev) && !s.Next(prev.Add(time.Minute)).Equal(next) {
				t.Fatalf("%q at %s: a scheduled time between Prev %s and Next %s", spec, tm, prev, next)
			}
		}
	})
}
