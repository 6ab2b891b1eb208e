package invalidate

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pregen/edge"
)

// fakeSource delivers scripted events: a message, a heartbeat or a failure
// (unreachable). Receive blocks while the script is empty.
type fakeSource struct {
	mu     sync.Mutex // protects events and acks
	events []sourceEvent
	more   chan struct{} // capacity 1: events were added
	acks   []error
}

type sourceEvent struct {
	body []byte
	err  error
}

func newFakeSource() *fakeSource { return &fakeSource{more: make(chan struct{}, 1)} }

func (s *fakeSource) push(evs ...sourceEvent) {
	s.mu.Lock()
	s.events = append(s.events, evs...)
	s.mu.Unlock()
	select {
	case s.more <- struct{}{}:
	default:
	}
}

func (s *fakeSource) Receive(ctx context.Context) ([]byte, func(error), error) {
	for {
		s.mu.Lock()
		if len(s.events) > 0 {
			ev := s.events[0]
			s.events = s.events[1:]
			s.mu.Unlock()
			if ev.err != nil || ev.body == nil {
				return nil, nil, ev.err
			}
			return ev.body, func(err error) {
				s.mu.Lock()
				s.acks = append(s.acks, err)
				s.mu.Unlock()
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-s.more:
		}
	}
}

func (s *fakeSource) ackList() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acks)
}

// fakeState is an in-memory State.
type fakeState struct {
	mu sync.Mutex // protects m
	m  map[string][]byte
}

func (s *fakeState) State(name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[name], nil
}

func (s *fakeState) SetState(name string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	if v == nil {
		delete(s.m, name)
	} else {
		s.m[name] = v
	}
	return nil
}

func (s *fakeState) window(t *testing.T) *Window {
	t.Helper()
	b, _ := s.State(outageState)
	if b == nil {
		return nil
	}
	w := new(Window)
	if err := json.Unmarshal(b, w); err != nil {
		t.Fatal(err)
	}
	return w
}

type consumerRig struct {
	rig   *serviceRig
	src   *fakeSource
	state *fakeState
	c     *Consumer
	dead  [][]byte
}

func newConsumerRig(t *testing.T, state *fakeState) *consumerRig {
	cr := &consumerRig{rig: newServiceRig(t), src: newFakeSource(), state: state}
	cr.c = &Consumer{Source: cr.src, Service: cr.rig.svc, State: state, Pages: cr.rig.ix,
		OutageAfter: time.Minute, RetryDelay: time.Second, Logger: testLogger(t),
		DeadLetter: func(body []byte, err error) { cr.dead = append(cr.dead, body) }}
	return cr
}

func (cr *consumerRig) run(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := cr.c.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func msg(t *testing.T, m Message) sourceEvent {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return sourceEvent{body: b}
}

var errDown = errors.New("queue: connection refused")

func TestConsumerAppliesAndDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cr := newConsumerRig(t, &fakeState{})
		cr.run(t)
		cr.src.push(
			sourceEvent{body: []byte(`{"tags":["event-1"],"oops":1}`)}, // unknown field
			sourceEvent{body: []byte("\x00\x01 not json")},
			msg(t, Message{URLs: []string{"/a/../../etc/passwd"}}), // decodes; refused on normalising
			msg(t, Message{Tags: []string{"event-1"}}),
		)
		synctest.Wait()
		if got := cr.rig.markedKeys(); !slices.Equal(got, []string{"/events/1", "/people/1"}) {
			t.Fatalf("marked %v", got)
		}
		if len(cr.dead) != 3 {
			t.Fatalf("%d dead letters, want 3", len(cr.dead))
		}
		if acks := cr.src.ackList(); len(acks) != 4 || slices.ContainsFunc(acks, func(e error) bool { return e != nil }) {
			t.Fatalf("acks = %v, want 4 × nil (malformed messages are never redelivered)", acks)
		}
		if st := cr.c.Stats(); st.Received != 4 || st.DeadLetters != 3 || st.Outages != 0 {
			t.Fatalf("stats = %+v", st)
		}
		if got := cr.rig.svc.MarksBySource()["queue"]; got != 2 {
			t.Fatalf("marks by source queue = %d", got)
		}
		// A failure to write the marks asks for redelivery.
		cr.rig.q.mu.Lock()
		cr.rig.q.failMark = errors.New("disk on fire")
		cr.rig.q.mu.Unlock()
		cr.src.push(msg(t, Message{Tags: []string{"event-2"}}))
		synctest.Wait()
		if acks := cr.src.ackList(); len(acks) != 5 || acks[4] == nil {
			t.Fatalf("acks = %v, want a redelivery request last", acks)
		}
	})
}

// The article's advice: when the queue has been down longer than
// OutageAfter, remember the window; when it is back, regenerate every page
// generated before the window ended, at sweep priority.
func TestConsumerOutageWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		state := &fakeState{}
		cr := newConsumerRig(t, state)
		start := time.Now()
		// Generated before the outage, during it, and after it.
		cr.rig.ix.add("/old", start.Add(-time.Hour))
		cr.rig.ix.add("/during", start.Add(90*time.Second))
		cr.rig.ix.add("/after", start.Add(time.Hour))
		cr.run(t)

		// A short failure is no outage.
		cr.src.push(sourceEvent{err: errDown}, sourceEvent{err: errDown}, sourceEvent{})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if w := state.window(t); w != nil || cr.c.Stats().Outages != 0 {
			t.Fatalf("short failure recorded as an outage: %+v", w)
		}

		// Unreachable for two minutes: the window is recorded, durably.
		down := time.Now()
		for range 200 {
			cr.src.push(sourceEvent{err: errDown})
		}
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if w := state.window(t); w != nil {
			t.Fatalf("outage recorded after 59s: %+v", w)
		}
		time.Sleep(60 * time.Second)
		synctest.Wait()
		w := state.window(t)
		if w == nil || !w.Start.Equal(down) || !w.End.IsZero() {
			t.Fatalf("window = %+v, want one starting at %s", w, down)
		}
		if cr.rig.q.pending() != 0 {
			t.Fatal("pages marked during the outage")
		}

		// Back (a heartbeat): every page generated before now is marked at
		// sweep priority, and the window cleared.
		cr.src.mu.Lock()
		cr.src.events = nil
		cr.src.mu.Unlock()
		time.Sleep(time.Minute) // let the consumer's retry timer fire
		back := time.Now()
		cr.src.push(sourceEvent{})
		synctest.Wait()
		want := cr.rig.ix.sorted(func(_ string, p fakePage) bool { return p.gen.Before(back) })
		if got := cr.rig.markedKeys(); !slices.Equal(got, want) || slices.Contains(got, "/after") || !slices.Contains(got, "/during") {
			t.Fatalf("re-marked %v, want %v", got, want)
		}
		cr.rig.q.mu.Lock()
		for _, c := range cr.rig.q.calls {
			if c.prio != edge.PrioritySweep || c.source != "outage" {
				t.Errorf("Mark call %+v, want sweep priority from outage", c)
			}
		}
		cr.rig.q.mu.Unlock()
		if w := state.window(t); w != nil {
			t.Fatalf("window not cleared: %+v", w)
		}
		if st := cr.c.Stats(); st.Outages != 1 || st.Repaired != int64(len(want)) {
			t.Fatalf("stats = %+v", st)
		}
	})
}

// A window recorded before a crash is repaired by the next process once
// the source answers.
func TestConsumerOutageSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		state := &fakeState{}
		b, _ := json.Marshal(Window{Start: time.Now().Add(-time.Hour)})
		state.SetState(outageState, b)
		cr := newConsumerRig(t, state)
		cr.rig.ix.add("/z", time.Now().Add(-time.Minute))
		cr.run(t)
		synctest.Wait()
		if cr.rig.q.pending() != 0 {
			t.Fatal("repaired before the source answered")
		}
		cr.src.push(msg(t, Message{URLs: []string{"/events/1"}}))
		synctest.Wait()
		if !cr.rig.q.Marked("/z") || !cr.rig.q.Marked("/events/1") || state.window(t) != nil {
			t.Fatalf("after restart: marked %v, window %+v", cr.rig.markedKeys(), state.window(t))
		}
	})
}

func TestDeadLetterLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deadletter.log")
	l, err := OpenDeadLetterLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record([]byte(`{"oops":1}`), errors.New("unknown field")); err != nil {
		t.Fatal(err)
	}
	if err := l.Record([]byte{0xff, 0}, errors.New("not UTF-8")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 || lines[0]["body"] != `{"oops":1}` || lines[0]["error"] != "unknown field" ||
		lines[1]["body_base64"] != "/wA=" || lines[0]["time"] == nil {
		t.Fatalf("dead letters: %v", lines)
	}
}
