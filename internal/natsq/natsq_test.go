package natsq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// testClient connects to the nats-server named by NATS_URL (.ci/run starts
// one) under a prefix of its own, deleted at the end.
func testClient(t *testing.T, mod func(*Config)) *Client {
	t.Helper()
	url := os.Getenv("NATS_URL")
	if url == "" {
		t.Skip("NATS_URL is not set: these tests need a real nats-server with JetStream (.ci/run starts one)")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	cfg := Config{URL: url, Prefix: "t" + hex.EncodeToString(b), AckWait: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := Connect(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Delete(ctx); err != nil {
			t.Errorf("deleting the test streams: %v", err)
		}
		c.Close()
	})
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestWorkQueueOncePerJob: jobs published twice with the same message ids
// are stored once (the second publication is a duplicate), and two workers
// draining the queue handle each job exactly once, then both return.
func TestWorkQueueOncePerJob(t *testing.T) {
	c := testClient(t, nil)
	ctx := testCtx(t)
	const n = 500
	for round := range 2 {
		for i := range n {
			key := fmt.Sprintf("/p/%d", i)
			dup, err := c.Enqueue(ctx, KindBulk, key, MsgID("run1", key))
			if err != nil {
				t.Fatal(err)
			}
			if dup != (round == 1) {
				t.Fatalf("round %d: %s duplicate = %v", round, key, dup)
			}
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	handle := func(_ context.Context, j Job) error {
		mu.Lock()
		seen[j.Key]++
		mu.Unlock()
		if j.Kind != KindBulk {
			return fmt.Errorf("kind %q", j.Kind)
		}
		return nil
	}
	var wg sync.WaitGroup
	workers := []*Worker{{Client: c, Handle: handle, UntilEmpty: true}, {Client: c, Handle: handle, UntilEmpty: true}}
	for _, w := range workers {
		wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("workers did not return once the queue was drained")
	}
	if len(seen) != n {
		t.Fatalf("%d distinct jobs handled, want %d", len(seen), n)
	}
	for k, v := range seen {
		if v != 1 {
			t.Errorf("%s handled %d times", k, v)
		}
	}
	if a, b := workers[0].Stats().Done, workers[1].Stats().Done; a+b != n {
		t.Errorf("done %d + %d, want %d", a, b, n)
	}
}

// TestWorkerKilledLosesNothing: a worker that stops while holding jobs
// (its context cancelled mid-job, as when the process is killed) leaves
// them unacknowledged; a second worker gets them after AckWait.
func TestWorkerKilledLosesNothing(t *testing.T) {
	c := testClient(t, func(c *Config) { c.AckWait = time.Second })
	ctx := testCtx(t)
	const n = 20
	for i := range n {
		key := fmt.Sprintf("/k/%d", i)
		if _, err := c.Enqueue(ctx, KindRegen, key, MsgID("inv1", key)); err != nil {
			t.Fatal(err)
		}
	}
	holding := make(chan struct{})
	var once sync.Once
	dead, kill := context.WithCancel(ctx)
	first := &Worker{Client: c, Concurrency: 4, Handle: func(ctx context.Context, j Job) error {
		once.Do(func() { close(holding) })
		<-ctx.Done() // never finishes: killed while rendering
		return ctx.Err()
	}}
	stopped := make(chan struct{})
	go func() { _ = first.Run(dead); close(stopped) }()
	<-holding
	kill()
	<-stopped

	var mu sync.Mutex
	seen := map[string]bool{}
	second := &Worker{Client: c, UntilEmpty: true, Handle: func(_ context.Context, j Job) error {
		mu.Lock()
		seen[j.Key] = true
		mu.Unlock()
		return nil
	}}
	if err := second.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("second worker handled %d jobs, want all %d", len(seen), n)
	}
	if first.Stats().Done != 0 {
		t.Fatalf("the killed worker acknowledged %d jobs", first.Stats().Done)
	}
}

// TestPoisonAndFailingJobsGoToDeadLetters: a poison job is set aside at
// once; a job that keeps failing is redelivered MaxDeliver times, then set
// aside; the queue ends empty.
func TestPoisonAndFailingJobsGoToDeadLetters(t *testing.T) {
	c := testClient(t, func(c *Config) { c.MaxDeliver = 3 })
	ctx := testCtx(t)
	for _, k := range []string{"poison", "failing", "fine"} {
		if _, err := c.Enqueue(ctx, KindRegen, k, MsgID("x", k)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	tries := map[string]int{}
	w := &Worker{Client: c, UntilEmpty: true, RetryDelay: 10 * time.Millisecond, Handle: func(_ context.Context, j Job) error {
		mu.Lock()
		tries[j.Key]++
		mu.Unlock()
		switch j.Key {
		case "poison":
			return fmt.Errorf("bad key: %w", ErrPoison)
		case "failing":
			return errors.New("origin 503")
		}
		return nil
	}}
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if tries["poison"] != 1 || tries["failing"] != 3 || tries["fine"] != 1 {
		t.Fatalf("tries = %v, want poison 1, failing 3, fine 1", tries)
	}
	if n, err := c.DeadLetters(ctx, KindRegen); err != nil || n != 2 {
		t.Fatalf("dead letters = %d, %v; want 2", n, err)
	}
	if waiting, held, err := c.Pending(ctx); err != nil || waiting+held != 0 {
		t.Fatalf("pending %d+%d, %v; want an empty queue", waiting, held, err)
	}
}

// TestEventsFanOut: an event published by edge a reaches edge b (and c),
// not a itself; an edge's durable consumer delivers what was published
// while it was not receiving.
func TestEventsFanOut(t *testing.T) {
	c := testClient(t, nil)
	ctx := testCtx(t)
	evs := map[string]*Events{}
	for _, n := range []string{"a", "b", "c"} {
		evs[n] = &Events{Client: c, Node: n, Heartbeat: 300 * time.Millisecond}
		if body, _, err := evs[n].Receive(ctx); err != nil || body != nil { // creates the consumer
			t.Fatalf("%s: first Receive = %q, %v; want a heartbeat", n, body, err)
		}
	}
	if err := c.PublishEvent(ctx, "a", "ev1", []byte(`{"tags":["x"]}`)); err != nil {
		t.Fatal(err)
	}
	if err := c.PublishEvent(ctx, "a", "ev1", []byte(`{"tags":["x"]}`)); err != nil { // a duplicate
		t.Fatal(err)
	}
	for _, n := range []string{"b", "c"} {
		body, ack, err := evs[n].Receive(ctx)
		if err != nil || string(body) != `{"tags":["x"]}` {
			t.Fatalf("%s received %q, %v", n, body, err)
		}
		ack(nil)
		if body, _, err := evs[n].Receive(ctx); err != nil || body != nil {
			t.Fatalf("%s: after the event, %q, %v; want a heartbeat (the duplicate was dropped)", n, body, err)
		}
	}
	if body, _, err := evs["a"].Receive(ctx); err != nil || body != nil {
		t.Fatalf("a received its own event: %q, %v", body, err)
	}

	// A drop event goes to the Drop hook, never out of Receive.
	var dropped []string
	evs["b"].Drop = func(keys []string) { dropped = append(dropped, keys...) }
	if err := c.PublishDrop(ctx, "c", []string{"/x", "h.example/y"}); err != nil {
		t.Fatal(err)
	}
	if body, _, err := evs["b"].Receive(ctx); err != nil || body != nil {
		t.Fatalf("b: drop event came out of Receive: %q, %v", body, err)
	}
	if !slices.Equal(dropped, []string{"/x", "h.example/y"}) {
		t.Fatalf("dropped %q", dropped)
	}
}

// TestTagIndex: tags recorded for pages are found by tag, from another
// client too (the index lives on the server).
func TestTagIndex(t *testing.T) {
	c := testClient(t, nil)
	ctx := testCtx(t)
	if err := c.RecordTags(ctx, "/a", []string{"news", "home"}); err != nil {
		t.Fatal(err)
	}
	if err := c.RecordTags(ctx, "host.example/b?x=1", []string{"news"}); err != nil {
		t.Fatal(err)
	}
	r := NewTagRecorder(c, 10, nil)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = r.Run(rctx); close(done) }()
	r.Record("/c", []string{"news"})
	stop()
	<-done
	if rec, dropped := r.Stats(); rec != 1 || dropped != 0 {
		t.Fatalf("recorder: %d recorded, %d dropped", rec, dropped)
	}
	other, err := Connect(Config{URL: c.cfg.URL, Prefix: c.cfg.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for tag, want := range map[string][]string{
		"news": {"/a", "/c", "host.example/b?x=1"}, "home": {"/a"}, "none": nil,
	} {
		var got []string
		if err := other.KeysForTag(ctx, tag, func(k string) bool { got = append(got, k); return true }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("tag %q: %q, want %q", tag, got, want)
		}
	}
}
