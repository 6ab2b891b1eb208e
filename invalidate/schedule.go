package invalidate

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Schedule is a cron-like list of times at which held marks are drained
// (regen.schedule, batch mode). The syntax is the classic five fields,
// separated by spaces:
//
//	minute (0-59)  hour (0-23)  day-of-month (1-31)  month (1-12)  day-of-week (0-7, 0 and 7 are Sunday)
//
// Each field is "*", a number, a range "a-b", a step "*/n", "a-b/n" or
// "a/n" (from a to the end), or a comma-separated list of those. Names
// (JAN, MON) and the @ shortcuts are not supported. As in Vixie cron, when
// both day fields are restricted a day matches if either does. Times are
// in the Schedule's location (the server's local time unless set).
//
// Examples: "0 3,15 * * *" (03:00 and 15:00 every day), "30 2 * * 1-5"
// (02:30 on weekdays), "*/10 * * * *" (every ten minutes).
//
// A Schedule is immutable and safe for concurrent use.
type Schedule struct {
	spec           string
	minute         uint64 // bit i: minute i
	hour           uint32 // bit i: hour i
	dom            uint32 // bit i: day i (1-31)
	month          uint16 // bit i: month i (1-12)
	dow            uint8  // bit i: weekday i (0 = Sunday)
	domAny, dowAny bool   // the day field was "*"-based (not restricted)
	loc            *time.Location
}

// horizon bounds the search for a scheduled time (a schedule such as
// "0 0 29 2 1" fires only in some years).
const horizon = 8 * 366

// ParseSchedule parses a five-field spec for times in loc (nil means
// time.Local). It refuses a schedule that never fires.
func ParseSchedule(spec string, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		loc = time.Local
	}
	f := strings.Fields(spec)
	if len(f) != 5 {
		return nil, fmt.Errorf("schedule %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", spec, len(f))
	}
	s := &Schedule{spec: strings.Join(f, " "), loc: loc}
	var err error
	parse := func(i int, name string, lo, hi int) uint64 {
		if err != nil {
			return 0
		}
		var set uint64
		set, err = parseField(f[i], lo, hi)
		if err != nil {
			err = fmt.Errorf("schedule %q: %s field %q: %w", spec, name, f[i], err)
		}
		return set
	}
	s.minute = parse(0, "minute", 0, 59)
	s.hour = uint32(parse(1, "hour", 0, 23))
	s.dom = uint32(parse(2, "day-of-month", 1, 31))
	s.month = uint16(parse(3, "month", 1, 12))
	dow := parse(4, "day-of-week", 0, 7)
	if err != nil {
		return nil, err
	}
	if dow&(1<<7) != 0 {
		dow |= 1
	}
	s.dow = uint8(dow & 0x7f)
	s.domAny, s.dowAny = f[2][0] == '*', f[4][0] == '*'
	if s.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, loc)).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires", spec)
	}
	return s, nil
}

// parseField parses one field into a bit set of the values in [lo, hi].
func parseField(field string, lo, hi int) (uint64, error) {
	var set uint64
	for part := range strings.SplitSeq(field, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 || n > hi-lo+1 {
				return 0, fmt.Errorf("bad step %q", stepStr)
			}
			step = n
		}
		var a, b int
		switch {
		case rng == "*":
			a, b = lo, hi
		case strings.Contains(rng, "-"):
			x, y, _ := strings.Cut(rng, "-")
			var err error
			if a, err = number(x, lo, hi); err != nil {
				return 0, err
			}
			if b, err = number(y, lo, hi); err != nil {
				return 0, err
			}
			if a > b {
				return 0, fmt.Errorf("range %q runs backwards", rng)
			}
		default:
			var err error
			if a, err = number(rng, lo, hi); err != nil {
				return 0, err
			}
			b = a
			if hasStep {
				b = hi
			}
		}
		for v := a; v <= b; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

func number(s string, lo, hi int) (int, error) {
	if s == "" || len(s) > 2 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	n, _ := strconv.Atoi(s)
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range %d-%d", n, lo, hi)
	}
	return n, nil
}

// String returns the normalised spec.
func (s *Schedule) String() string { return s.spec }

// dayMatches reports whether the schedule fires on the given date.
func (s *Schedule) dayMatches(y int, m time.Month, d int) bool {
	if s.month&(1<<m) == 0 {
		return false
	}
	wd := time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Weekday()
	domOK, dowOK := s.dom&(1<<d) != 0, s.dow&(1<<wd) != 0
	if s.domAny || s.dowAny {
		return domOK && dowOK
	}
	return domOK || dowOK
}

// Prev returns the latest scheduled time at or before t (to the minute),
// or the zero Time if there is none within eight years.
func (s *Schedule) Prev(t time.Time) time.Time {
	t = t.In(s.loc)
	y, m, d := t.Date()
	h, mi := t.Hour(), t.Minute()
	for range horizon {
		if s.dayMatches(y, m, d) {
			for ; h >= 0; h, mi = h-1, 59 {
				if s.hour&(1<<h) == 0 {
					continue
				}
				// The highest scheduled minute ≤ mi.
				if set := s.minute & (1<<(mi+1) - 1); set != 0 {
					at := time.Date(y, m, d, h, 63-bits.LeadingZeros64(set), 0, 0, s.loc)
					if !at.After(t) { // a DST jump can move a local time forward
						return at
					}
				}
			}
		}
		y, m, d = time.Date(y, m, d-1, 0, 0, 0, 0, time.UTC).Date()
		h, mi = 23, 59
	}
	return time.Time{}
}

// Next returns the earliest scheduled time at or after t (to the minute),
// or the zero Time if there is none within eight years.
func (s *Schedule) Next(t time.Time) time.Time {
	t = t.In(s.loc)
	if t.Second() != 0 || t.Nanosecond() != 0 {
		t = t.Truncate(time.Minute).Add(time.Minute)
	}
	y, m, d := t.Date()
	h, mi := t.Hour(), t.Minute()
	for range horizon {
		if s.dayMatches(y, m, d) {
			for ; h <= 23; h, mi = h+1, 0 {
				if s.hour&(1<<h) == 0 {
					continue
				}
				// The lowest scheduled minute ≥ mi.
				if set := s.minute &^ (1<<mi - 1); set != 0 {
					at := time.Date(y, m, d, h, bits.TrailingZeros64(set), 0, 0, s.loc)
					if !at.Before(t) {
						return at
					}
				}
			}
		}
		y, m, d = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Date()
		h, mi = 0, 0
	}
	return time.Time{}
}
