package sweep

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pregen/edge"
)

// Entry is one page of the age index: when it was generated, and its key.
type Entry struct {
	GeneratedAt time.Time `json:"generated_at"`
	Key         string    `json:"key"`
}

// Index is the store's age index. cmd/edge adapts *store.Store to it.
type Index interface {
	// AgeRange returns up to max pages generated before before, oldest
	// first (by generation time, then key), starting strictly after
	// after (zero: from the oldest); next is where to continue, equal to
	// after when the range is exhausted.
	AgeRange(after Entry, before time.Time, max int) (entries []Entry, next Entry, err error)
	// Pages is the number of stored pages.
	Pages() int64
}

// Marker durably marks pages stale; *store.Store satisfies it.
type Marker interface {
	Mark(keys []string, prio edge.Priority, source string) (marked, unknown int, err error)
}

// State keeps small named values durably; *store.Store satisfies it.
type State interface {
	State(name string) ([]byte, error)
	SetState(name string, value []byte) error
}

// StateName is the name the sweep's position is kept under in State.
const StateName = "sweep"

// Source is the source recorded with the sweep's marks.
const Source = "sweep"

// Sweeper runs the rolling sweep. Set the fields, then call Run once;
// Status is safe for concurrent use.
type Sweeper struct {
	Index Index  // required
	Marks Marker // required
	State State  // required
	// Period: every page is marked for regeneration at least once per
	// Period. Zero or negative: Run returns at once (the sweep is off).
	Period time.Duration
	// Jitter stretches or shrinks each wait by a random fraction of up to
	// Jitter (0 to 1). Zero means none.
	Jitter float64
	// MaxBatch caps the pages marked in one transaction. Zero means 256.
	MaxBatch int
	// OnMarked, if set, is called after each batch of marks (to wake the
	// regeneration workers).
	OnMarked func()
	// Logger receives cycle starts and ends and errors. Nil means
	// slog.Default().
	Logger *slog.Logger

	mu     sync.Mutex // protects cur, marked, last, active
	cur    cycle
	marked int64     // pages marked since Run started
	last   time.Time // last batch of marks
	active bool
}

// cycle is the persisted position of the sweep.
type cycle struct {
	N        int64     `json:"cycle"`
	Start    time.Time `json:"start"`
	Total    int64     `json:"total"` // pages stored when it started
	Done     int64     `json:"done"`  // pages of it marked
	Cursor   Entry     `json:"cursor"`
	Complete bool      `json:"complete"` // walked to its end; the next starts at the deadline
}

const (
	maxWait       = time.Minute            // the longest wait between looks at the index
	catchUpPause  = 100 * time.Millisecond // between batches when behind
	errorPause    = 5 * time.Second
	replanFactor  = 2   // the store grew this many times over the cycle's total …
	replanMinimum = 100 // … plus this many pages: plan a new cycle
)

// Run sweeps until ctx is done and returns nil; the position is saved
// after every batch, so the next Run resumes there. It returns an error
// only if the saved position cannot be read.
func (s *Sweeper) Run(ctx context.Context) error {
	if s.Period <= 0 {
		return nil
	}
	c, err := s.load()
	if err != nil {
		return err
	}
	now := time.Now()
	if c.Start.IsZero() {
		c = s.newCycle(1, now)
	} else {
		s.log().Info("sweep: resuming", "cycle", c.N, "started", c.Start, "done", c.Done, "total", c.Total)
	}
	s.mu.Lock()
	s.cur, s.active = c, true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active = false
		s.mu.Unlock()
	}()
	for {
		wait := s.step(time.Now())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// step does what is due at now and returns how long to wait for the next
// step.
func (s *Sweeper) step(now time.Time) time.Duration {
	s.mu.Lock()
	c := s.cur
	s.mu.Unlock()
	deadline := c.Start.Add(s.Period)

	switch {
	case s.Index.Pages() > replanFactor*c.Total+replanMinimum:
		s.log().Info("sweep: the store grew; planning the cycle again", "cycle", c.N, "total", c.Total, "pages", s.Index.Pages())
		c = s.newCycle(c.N+1, now)
		deadline = c.Start.Add(s.Period)
	case c.Complete && now.Before(deadline):
		return min(deadline.Sub(now), maxWait)
	case c.Complete:
		c = s.newCycle(c.N+1, now)
		deadline = c.Start.Add(s.Period)
	}

	want := c.target(now, s.Period) - c.Done // behind the even pace by this many
	entries, next, err := s.Index.AgeRange(c.Cursor, c.Start, int(min(max(want, 0)+16, int64(s.maxBatch()))))
	if err != nil {
		s.log().Error("sweep: reading the age index", "err", err)
		return errorPause
	}
	if len(entries) == 0 {
		if next == c.Cursor {
			c.Complete = true
			s.log().Info("sweep: cycle walked", "cycle", c.N, "marked", c.Done, "of", c.Total)
		}
		c.Cursor = next // past entries of pages regenerated or removed meanwhile
		if err := s.save(c); err != nil {
			return errorPause
		}
		if c.Complete {
			return min(max(deadline.Sub(now), 0), maxWait)
		}
		return 0
	}

	// The even pace's share, then any page already older than a period.
	n := int(min(max(want, 0), int64(len(entries))))
	overdue := now.Add(-s.Period)
	for n < len(entries) && !entries[n].GeneratedAt.After(overdue) {
		n++
	}
	if n > 0 {
		keys := make([]string, n)
		for i, e := range entries[:n] {
			keys[i] = e.Key
		}
		if _, _, err := s.Marks.Mark(keys, edge.PrioritySweep, Source); err != nil {
			s.log().Error("sweep: marking pages", "err", err)
			return errorPause
		}
		c.Cursor = entries[n-1]
		c.Done += int64(n)
		if err := s.save(c); err != nil {
			return errorPause
		}
		s.mu.Lock()
		s.marked += int64(n)
		s.last = now
		s.mu.Unlock()
		if s.OnMarked != nil {
			s.OnMarked()
		}
	}
	if n == len(entries) && n > 0 && int64(n) < want {
		return catchUpPause // behind: the rest of the backlog, in batches
	}
	if n < len(entries) && !entries[n].GeneratedAt.After(overdue) {
		return catchUpPause
	}

	// Wait for the next page of the even pace, or for the next page to
	// become overdue, whichever comes first.
	wake := now.Add(maxWait)
	if c.Done >= c.Total {
		wake = now // at the end: see whether anything is left
	} else {
		if t := c.Start.Add(time.Duration(float64(s.Period) * float64(c.Done+1) / float64(c.Total))); t.Before(wake) {
			wake = t
		}
	}
	if n < len(entries) {
		if t := entries[n].GeneratedAt.Add(s.Period); t.Before(wake) {
			wake = t
		}
	}
	wait := s.jitter(wake.Sub(now))
	if n == 0 {
		wait = max(wait, time.Millisecond) // nothing was due: never spin
	}
	return max(wait, 0)
}

// target is how many pages of c the even pace has marked by now.
func (c cycle) target(now time.Time, period time.Duration) int64 {
	if now.Before(c.Start) {
		return 0
	}
	el := now.Sub(c.Start)
	if el >= period {
		return c.Total
	}
	return int64(float64(c.Total) * float64(el) / float64(period))
}

// newCycle starts cycle n at now, saves it and makes it current.
func (s *Sweeper) newCycle(n int64, now time.Time) cycle {
	c := cycle{N: n, Start: now, Total: s.Index.Pages()}
	s.log().Info("sweep: cycle started", "cycle", n, "pages", c.Total, "period", s.Period)
	_ = s.save(c) // logged; the cycle goes on in memory
	return c
}

func (s *Sweeper) save(c cycle) error {
	s.mu.Lock()
	s.cur = c
	s.mu.Unlock()
	b, err := json.Marshal(c)
	if err == nil {
		err = s.State.SetState(StateName, b)
	}
	if err != nil {
		s.log().Error("sweep: saving the position", "err", err)
	}
	return err
}

func (s *Sweeper) load() (cycle, error) {
	b, err := s.State.State(StateName)
	if err != nil {
		return cycle{}, fmt.Errorf("sweep: reading the position: %w", err)
	}
	var c cycle
	if b == nil {
		return c, nil
	}
	if err := json.Unmarshal(b, &c); err != nil {
		s.log().Warn("sweep: unreadable saved position; starting a new cycle", "err", err)
		return cycle{}, nil
	}
	return c, nil
}

func (s *Sweeper) jitter(d time.Duration) time.Duration {
	if s.Jitter <= 0 || d <= 0 {
		return d
	}
	j := min(s.Jitter, 1)
	return time.Duration(float64(d) * (1 + j*(2*rand.Float64()-1)))
}

func (s *Sweeper) maxBatch() int {
	if s.MaxBatch <= 0 {
		return 256
	}
	return s.MaxBatch
}

func (s *Sweeper) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// Status is a snapshot of the sweep: a plain value.
type Status struct {
	Enabled  bool          // Period > 0 and Run is running
	Period   time.Duration //
	Cycle    int64         // cycle number, from 1
	Start    time.Time     // when the cycle started
	Deadline time.Time     // Start + Period: every page of the cycle marked by then
	Done     int64         // pages of the cycle marked
	Total    int64         // pages in the store when it started
	Behind   int64         // pages the even pace should have marked by now and has not
	Complete bool          // the cycle is walked; the next starts at Deadline
	Cursor   time.Time     // generation time of the last page marked
	Marked   int64         // pages marked since Run started
	LastMark time.Time     // time of the last batch of marks
	ETA      time.Time     // when the cycle will be walked
}

// Status returns a snapshot of the sweep's progress at now.
func (s *Sweeper) Status(now time.Time) Status {
	s.mu.Lock()
	c, marked, last, active := s.cur, s.marked, s.last, s.active
	s.mu.Unlock()
	st := Status{
		Enabled: active && s.Period > 0, Period: s.Period, Cycle: c.N, Start: c.Start,
		Done: c.Done, Total: c.Total, Complete: c.Complete, Cursor: c.Cursor.GeneratedAt,
		Marked: marked, LastMark: last,
	}
	if c.Start.IsZero() {
		return st
	}
	st.Deadline = c.Start.Add(s.Period)
	st.ETA = st.Deadline
	if !c.Complete {
		st.Behind = max(c.target(now, s.Period)-c.Done, 0)
		if late := now.Add(time.Duration(st.Behind/int64(s.maxBatch())+1) * catchUpPause); st.Behind > 0 && late.After(st.ETA) {
			st.ETA = late
		}
	}
	return st
}
