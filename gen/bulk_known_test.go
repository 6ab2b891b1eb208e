package gen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/cachekey"
)

// recordingKnown is a KnownSet that records each batch it is given.
type recordingKnown struct {
	mu      sync.Mutex
	batches [][]string
	err     error
}

func (k *recordingKnown) AddKnown(keys []string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.batches = append(k.batches, append([]string(nil), keys...))
	return k.err
}

// instantMaker makes every page at once, without an origin; keys under
// /broken/ fail.
type instantMaker struct{}

func (instantMaker) Generate(_ context.Context, f edge.Fill) (edge.Result, error) {
	if strings.HasPrefix(f.Key, "/broken/") {
		return edge.Result{}, fmt.Errorf("gen test: %w", edge.ErrOriginUnavailable)
	}
	p := &edge.Page{Key: f.Key, Status: 200, Body: []byte(f.Key)}
	return edge.Result{Page: p.Finish(), Cacheable: true, Changed: true}, nil
}

// TestBulkRecordsKnownKeys: every entry of the run's shard (made or
// failed) is given to Known, in batches of at most knownBatch; refused
// entries and other shards' are not.
func TestBulkRecordsKnownKeys(t *testing.T) {
	keys, err := cachekey.New(cachekey.Rules{Hosts: []string{siteHost}})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	want := map[string]bool{}
	for i := range 5000 {
		p := fmt.Sprintf("/events/%d", i)
		if i%100 == 0 {
			p = fmt.Sprintf("/broken/%d", i)
		}
		lines = append(lines, p)
		if ShardOf(p, 2) == 0 {
			want[p] = true
		}
	}
	lines = append(lines, "http://other.example/x", "/accounts/login", "/search?q=1", "/events/7?utm_source=a")
	known := &recordingKnown{}
	b := &Bulk{
		Maker: instantMaker{}, Keys: keys, Source: URLList(strings.NewReader(strings.Join(lines, "\n")), "list"),
		BypassPaths: []string{"/accounts/"}, Shard: 0, Shards: 2, Concurrency: 4,
		Logger: quietLog(), Known: known,
	}
	sum, err := b.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if sum.OtherShard == 0 || sum.Failed == 0 || sum.Refused != 3 {
		t.Fatalf("summary %+v: want some other-shard, some failed and 3 refused entries", sum)
	}
	got := map[string]int{}
	for _, batch := range known.batches {
		if len(batch) > knownBatch {
			t.Errorf("a batch of %d keys, want at most %d", len(batch), knownBatch)
		}
		for _, k := range batch {
			got[k]++
		}
	}
	if n := len(known.batches); n < 2 {
		t.Errorf("%d batches for %d keys, want several", n, len(want))
	}
	for k := range want {
		if got[k] == 0 {
			t.Errorf("%s not recorded", k)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d distinct keys recorded, want %d", len(got), len(want))
	}
	if want["/events/7"] && got["/events/7"] != 2 { // its line and the utm_ variant normalise to one key
		t.Errorf("/events/7 recorded %d times, want 2", got["/events/7"])
	}
}

// TestBulkKnownErrorDoesNotStopTheRun: a known set that fails is logged,
// and the pages are still made.
func TestBulkKnownErrorDoesNotStopTheRun(t *testing.T) {
	keys, err := cachekey.New(cachekey.Rules{Hosts: []string{siteHost}})
	if err != nil {
		t.Fatal(err)
	}
	b := &Bulk{
		Maker: instantMaker{}, Keys: keys, Source: URLList(strings.NewReader("/a\n/b\n"), "list"),
		Logger: quietLog(), Known: &recordingKnown{err: errors.New("disk on fire")},
	}
	sum, err := b.Run(t.Context())
	if err != nil || sum.OK != 2 {
		t.Errorf("run: %+v, %v; want 2 pages made", sum, err)
	}
}

// TestBulkKnownWithTheStore: a run's keys land in the store's known set.
func TestBulkKnownWithTheStore(t *testing.T) {
	r := newRig(t, 5, 0, 2)
	b := r.bulk(URLList(strings.NewReader("/events/1\n/no/such/page\nhttp://other.example/x\n"), "list"))
	b.Known = r.store
	if _, err := b.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{"/events/1": true, "/no/such/page": true, "/x": false, "/events/2": false} {
		if got := r.store.Known(k); got != want {
			t.Errorf("Known(%s) = %v, want %v", k, got, want)
		}
	}
}
