package invalidate

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/pregen/edge"
)

type serviceRig struct {
	ix    *fakeIndex
	q     *fakeQueue
	mem   *fakeMemory
	svc   *Service
	wakes int
}

func newServiceRig(t *testing.T) *serviceRig {
	rig := &serviceRig{ix: newFakeIndex(), mem: &fakeMemory{}}
	rig.q = newFakeQueue(rig.ix)
	rig.svc = &Service{Keys: testNormalizer(t), Index: rig.ix, Marks: rig.q, Pages: rig.ix, Memory: rig.mem,
		OnMarked: func() { rig.wakes++ }, Logger: testLogger(t)}
	for i := range 5 {
		rig.ix.add(fmt.Sprintf("/events/%d", i), testNow, "list", fmt.Sprintf("event-%d", i))
	}
	rig.ix.add("/events/", testNow, "list")
	rig.ix.add("/events/?page=2", testNow, "list")
	rig.ix.add("/people/1", testNow, "event-1")
	rig.ix.add("/eventsx", testNow)
	return rig
}

func (rig *serviceRig) markedKeys() []string {
	rig.q.mu.Lock()
	defer rig.q.mu.Unlock()
	var keys []string
	for k := range rig.q.marks {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestApplyResolves(t *testing.T) {
	tests := []struct {
		name    string
		msg     Message
		want    []string
		unknown int
	}{
		{"urls", Message{URLs: []string{"/events/1", "http://x.test/events/2", "//x.test/events/3?utm_source=a", "/events/99"}},
			[]string{"/events/1", "/events/2", "/events/3"}, 1},
		{"url with a kept query", Message{URLs: []string{"/events/?page=2"}}, []string{"/events/?page=2"}, 0},
		{"url with an unknown query is never stored", Message{URLs: []string{"/events/1?q=x"}}, nil, 1},
		{"tag", Message{Tags: []string{"event-1"}}, []string{"/events/1", "/people/1"}, 0},
		{"tags overlap", Message{Tags: []string{"event-1", "list"}, URLs: []string{"/events/1"}},
			[]string{"/events/", "/events/0", "/events/1", "/events/2", "/events/3", "/events/4", "/events/?page=2", "/people/1"}, 0},
		{"prefix", Message{Prefixes: []string{"/events/"}},
			[]string{"/events/", "/events/0", "/events/1", "/events/2", "/events/3", "/events/4", "/events/?page=2"}, 0},
		{"prefix is a string prefix of the key", Message{Prefixes: []string{"/events"}},
			[]string{"/events/", "/events/0", "/events/1", "/events/2", "/events/3", "/events/4", "/events/?page=2", "/eventsx"}, 0},
		{"prefix normalised", Message{Prefixes: []string{"http://x.test//people/"}}, []string{"/people/1"}, 0},
		{"all", Message{All: true}, nil, 0}, // every key, checked below
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rig := newServiceRig(t)
			res, err := rig.svc.Apply(t.Context(), tt.msg, "api")
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if tt.msg.All {
				want = rig.ix.sorted(func(string, fakePage) bool { return true })
			}
			if got := rig.markedKeys(); !slices.Equal(got, want) {
				t.Errorf("marked %v, want %v", got, want)
			}
			if res.Marked != len(want) || res.Unknown != tt.unknown {
				t.Errorf("result %+v, want %d marked, %d unknown", res, len(want), tt.unknown)
			}
			for _, k := range want {
				if rig.mem.count(k) != 1 {
					t.Errorf("%s: memory copy not dropped", k)
				}
			}
			if n, err := rig.svc.Impact(t.Context(), tt.msg); err != nil || n != len(want) {
				t.Errorf("Impact = %d, %v; want %d", n, err, len(want))
			}
			if keys, err := rig.svc.Resolve(t.Context(), tt.msg); err != nil || (tt.unknown == 0 && !slices.Equal(keys, want)) {
				t.Errorf("Resolve = %v, %v; want %v", keys, err, want)
			}
			if len(want) > 0 && rig.wakes == 0 {
				t.Error("workers not woken")
			}
			if got := rig.svc.MarksBySource()["api"]; got != int64(len(want)) {
				t.Errorf("marks by source = %d", got)
			}
			rig.q.mu.Lock()
			for _, c := range rig.q.calls {
				if c.prio != edge.PriorityInvalidate || c.source != "api" {
					t.Errorf("Mark call %+v", c)
				}
			}
			rig.q.mu.Unlock()
		})
	}
}

// URLs and prefixes are normalised like requests: what a request could
// not name, a message cannot either, and the error names the field.
func TestApplyRefusesBadURLs(t *testing.T) {
	for _, tt := range []struct {
		msg   Message
		field string
	}{
		{Message{URLs: []string{"/ok", "/a/../b"}}, "urls[1]"},
		{Message{URLs: []string{"/a/%2e%2e/b"}}, "urls[0]"},
		{Message{URLs: []string{"/a%2Fb"}}, "urls[0]"},
		{Message{URLs: []string{"/a\\b"}}, "urls[0]"},
		{Message{URLs: []string{"http://other.test/a"}}, "urls[0]"},
		{Message{URLs: []string{"ftp://x.test/a"}}, "urls[0]"},
		{Message{URLs: []string{"events/1"}}, "urls[0]"},
		{Message{Prefixes: []string{"/a/.."}}, "prefixes[0]"},
		{Message{Prefixes: []string{"/events/?page="}}, "prefixes[0]"},
		{Message{Tags: []string{"list"}, Prefixes: []string{"/ok/", "/%00"}}, "prefixes[1]"},
	} {
		rig := newServiceRig(t)
		_, err := rig.svc.Apply(t.Context(), tt.msg, "api")
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrMalformed) {
			t.Errorf("Apply(%+v) = %v; want an error naming %s", tt.msg, err, tt.field)
		}
		if got := rig.markedKeys(); len(got) != 0 {
			t.Errorf("Apply(%+v) marked %v", tt.msg, got)
		}
		if _, err := rig.svc.Impact(t.Context(), tt.msg); !errors.As(err, &fe) {
			t.Errorf("Impact(%+v) = %v", tt.msg, err)
		}
	}
}

func TestApplyHard(t *testing.T) {
	rig := newServiceRig(t)
	res, err := rig.svc.Apply(t.Context(), Message{Tags: []string{"event-1"}, URLs: []string{"/nope"}, Hard: true}, "api")
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Deleted: 2, Unknown: 1}) {
		t.Fatalf("result = %+v", res)
	}
	if rig.ix.Has("/events/1") || rig.ix.Has("/people/1") || !rig.ix.Has("/events/2") {
		t.Fatal("wrong pages deleted")
	}
	if rig.mem.count("/events/1") != 1 || len(rig.markedKeys()) != 0 {
		t.Fatal("hard: memory not dropped, or pages marked")
	}
}

// A message naming more pages than one transaction takes is marked in
// several, all before Apply returns.
func TestApplyChunks(t *testing.T) {
	rig := newServiceRig(t)
	for i := range 25000 {
		rig.ix.add(fmt.Sprintf("/big/%05d", i), testNow)
	}
	res, err := rig.svc.Apply(t.Context(), Message{Prefixes: []string{"/big/"}}, "queue")
	if err != nil || res.Marked != 25000 {
		t.Fatalf("Apply = %+v, %v", res, err)
	}
	rig.q.mu.Lock()
	calls := len(rig.q.calls)
	rig.q.mu.Unlock()
	if calls != 3 {
		t.Fatalf("%d Mark transactions, want 3", calls)
	}
}

func TestApplyMarkFailure(t *testing.T) {
	rig := newServiceRig(t)
	rig.q.failMark = errors.New("disk on fire")
	_, err := rig.svc.Apply(t.Context(), Message{All: true}, "api")
	if err == nil || errors.Is(err, ErrMalformed) {
		t.Fatalf("Apply = %v; want a server-side error", err)
	}
}

// Ensure (the proxy's OnStale) leaves a marked page alone (it is queued)
// and drops an outdated memory copy of a page no longer marked; it never
// wakes the workers (a hot stale page would wake them on every hit).
func TestEnsure(t *testing.T) {
	rig := newServiceRig(t)
	rig.q.mark(t, "/events/1")
	for range 100 {
		rig.svc.Ensure("/events/1")
	}
	if rig.wakes != 0 || rig.mem.count("/events/1") != 0 {
		t.Fatalf("marked: wakes %d, dropped %d", rig.wakes, rig.mem.count("/events/1"))
	}
	rig.svc.Ensure("/events/2")
	if rig.wakes != 0 || rig.mem.count("/events/2") != 1 {
		t.Fatalf("not marked: wakes %d, dropped %d", rig.wakes, rig.mem.count("/events/2"))
	}
}
