package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregen/edge/internal/natsq"
	"github.com/pregen/edge/internal/store"
	"github.com/valyala/fasthttp"
)

// Cluster mode end to end, against a real nats-server: NATS_URL (set by
// .ci/run) for the shared one; NATS_SERVER_BIN to start a private one that
// a test stops and restarts.

// bulkPages is the size of the enqueued site; outageFor the NATS outage
// (the 10 s, scaled down to keep the suite quick: nothing in the
// mechanism depends on the length, only on it being under
// queue.outage_after).
const (
	bulkPages = 5000
	outageFor = 2 * time.Second
)

// Without nats.url, edge worker and gen -enqueue are usage errors (exit 2)
// that say what is missing; nothing is started.
func TestClusterRolesNeedNATS(t *testing.T) {
	for _, args := range [][]string{
		{"worker", "-origin", "http://127.0.0.1:1"},
		{"gen", "-enqueue", "-origin", "http://127.0.0.1:1", "-urls", "-"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "nats.url") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut.String())
		}
	}
}

// natsPrefix returns NATS_URL (or skips) and a fresh prefix whose streams
// are deleted when the test ends.
func natsPrefix(t *testing.T) (url, prefix string) {
	t.Helper()
	url = os.Getenv("NATS_URL")
	if url == "" {
		t.Skip("NATS_URL is not set: cluster tests need a real nats-server with JetStream (.ci/run starts one)")
	}
	return url, cleanPrefix(t, url)
}

func cleanPrefix(t *testing.T, url string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "t" + hex.EncodeToString(b)
	t.Cleanup(func() {
		c, err := natsq.Connect(natsq.Config{URL: url, Prefix: prefix})
		if err != nil {
			return
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Delete(ctx)
	})
	return prefix
}

// versioned is an origin whose pages say which version of the site they
// show; /p/N carries the tags "page-N" and "group-(N%10)".
type versioned struct {
	version atomic.Int64
	renders sync.Map // URI → *atomic.Int64
}

func (v *versioned) handler(ctx *fasthttp.RequestCtx) {
	n, _ := v.renders.LoadOrStore(string(ctx.RequestURI()), new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	var id int
	fmt.Sscanf(string(ctx.Path()), "/p/%d", &id) //nolint:errcheck // 0 for other paths
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Surrogate-Key", fmt.Sprintf("page-%d group-%d", id, id%10))
	fmt.Fprintf(ctx, "<html><body><h1>%s</h1><p>version %d</p></body></html>", ctx.Path(), v.version.Load())
}

func (v *versioned) rendersOf(uri string) int64 {
	n, ok := v.renders.Load(uri)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// startClusterEdge starts an edge in cluster mode on its own store.
func startClusterEdge(t *testing.T, originURL, natsURL, prefix, node string, mod func(*Config)) *testEdge {
	return startEdge(t, originURL, func(c *Config) {
		c.Admin.Token = "s3cret"
		c.Regen.Rate = 1000
		c.NATS = NATSConfig{URL: natsURL, Prefix: prefix, Node: node}
		if mod != nil {
			mod(c)
		}
	})
}

func postInvalidate(t *testing.T, e *testEdge, body string) {
	t.Helper()
	req, err := http.NewRequest("POST", e.Admin+"/invalidate", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /invalidate %s: %d", body, resp.StatusCode)
	}
}

// TestClusterTagInvalidationReachesOtherEdge: two edges with their own
// disks share a NATS. B has made /p/3 (tagged group-3); A has never seen
// it. An invalidation of tag group-3 posted to A reaches B (the fan-out
// stream, with the page found through the shared tag index), B regenerates
// and serves the new version.
func TestClusterTagInvalidationReachesOtherEdge(t *testing.T) {
	url, prefix := natsPrefix(t)
	site := &versioned{}
	origin := startOrigin(t, site.handler)
	a := startClusterEdge(t, origin.URL, url, prefix, "a", nil)
	b := startClusterEdge(t, origin.URL, url, prefix, "b", nil)
	if r := get(t, b.URL+"/p/3"); r.Status != 200 || !strings.Contains(r.Body, "version 0") {
		t.Fatalf("B /p/3: %d %q", r.Status, r.Body)
	}
	eventually(t, 10*time.Second, "B's consumer and tag entry in place", func() bool {
		s := b.cluster.status()
		return s.Connected && s.TagsRecorded == 1 && b.cluster.events.Subscribed()
	})
	if a.store.Has("/p/3") {
		t.Fatal("A holds /p/3: the test wants a page only B has")
	}
	site.version.Store(1)
	postInvalidate(t, a, `{"tags":["group-3"]}`)
	eventually(t, 20*time.Second, "B serving version 1 of /p/3", func() bool {
		r := get(t, b.URL+"/p/3")
		return r.Status == 200 && strings.Contains(r.Body, "version 1") && r.Header.Get("X-Cache") == "HIT"
	})
	if n := site.rendersOf("/p/3"); n != 2 {
		t.Errorf("/p/3 rendered %d times, want 2 (B's miss and B's regeneration)", n)
	}
	// B can serve the new version before A's relay has settled its
	// counters (the outbox entry goes after the publish is acknowledged).
	eventually(t, 20*time.Second, "A's relay: published 1, outbox 0", func() bool {
		s := a.cluster.status()
		return s.Published == 1 && s.Outbox == 0
	})
}

// workerConfig is the config of an in-process edge worker.
func workerConfig(t *testing.T, originURL, natsURL, prefix string) Config {
	cfg := DefaultConfig()
	cfg.Origin.URL = originURL
	cfg.Origin.Concurrency = 4
	cfg.Store.Root = t.TempDir()
	cfg.Store.NoSync = true
	cfg.NATS = NATSConfig{URL: natsURL, Prefix: prefix, AckWait: 5 * time.Second}
	if err := cfg.Validate("test", nil); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func writeURLList(t *testing.T, originURL string, n int) string {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "%s/p/%d\n", originURL, i)
	}
	path := filepath.Join(t.TempDir(), "urls.txt")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestClusterBulkEnqueueRenderedOnce: edge gen -enqueue publishes a site of
// bulkPages pages (twice: the second run adds nothing); two edge workers
// drain the queue and return; every page was rendered exactly once in
// total, and each worker made some.
func TestClusterBulkEnqueueRenderedOnce(t *testing.T) {
	url, prefix := natsPrefix(t)
	site := &versioned{}
	origin := startOrigin(t, site.handler)
	list := writeURLList(t, origin.URL, bulkPages)
	cfgPath := filepath.Join(t.TempDir(), "edge.yaml")
	yaml := fmt.Sprintf("origin:\n  url: %s\nnats:\n  url: %s\n  prefix: %s\n", origin.URL, url, prefix)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	for round, want := range []string{fmt.Sprintf("enqueued %d  already queued 0", bulkPages), fmt.Sprintf("enqueued 0  already queued %d", bulkPages)} {
		var out, errOut bytes.Buffer
		err := genMain(context.Background(), []string{"-enqueue", "-config", cfgPath, "-urls", list, "-progress", "none",
			"-failures", filepath.Join(t.TempDir(), "failed.txt")}, nil, &out, &errOut)
		if err != nil || !strings.Contains(out.String(), want) {
			t.Fatalf("gen -enqueue round %d: %v\n%s%s", round, err, out.String(), errOut.String())
		}
	}
	var wg sync.WaitGroup
	workers := make([]*workerMain, 2)
	for i := range workers {
		workers[i] = &workerMain{Config: workerConfig(t, origin.URL, url, prefix), UntilEmpty: true}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := workers[i].Run(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range bulkPages {
		if n := site.rendersOf(fmt.Sprintf("/p/%d", i)); n != 1 {
			t.Fatalf("/p/%d rendered %d times, want exactly 1", i, n)
		}
	}
	total := int64(0)
	for i, w := range workers {
		s := w.stats()
		if s.Done == 0 || s.Dead != 0 {
			t.Errorf("worker %d: %+v", i, s)
		}
		total += w.runner.ok.Load()
	}
	if total != bulkPages {
		t.Errorf("pages written %d, want %d", total, bulkPages)
	}
}

// TestClusterWorkerKilledLosesNothing: a worker killed mid-run (its
// context cancelled while renders are in flight: nothing acknowledged for
// them) loses no page: a second worker makes the rest, and between the two
// stores every page exists.
func TestClusterWorkerKilledLosesNothing(t *testing.T) {
	url, prefix := natsPrefix(t)
	site := &versioned{}
	const n = 200
	started := make(chan struct{}, n)
	origin := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		select {
		case started <- struct{}{}:
		default: // redeliveries may exceed n
		}
		time.Sleep(20 * time.Millisecond) // a slow render, so that some are in flight at the kill
		site.handler(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := natsq.Connect(natsq.Config{URL: url, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range n {
		key := fmt.Sprintf("%s/p/%d", strings.TrimPrefix(origin.URL, "http://"), i)
		if _, err := c.Enqueue(ctx, natsq.KindBulk, key, natsq.MsgID("kill", key)); err != nil {
			t.Fatal(err)
		}
	}
	cfg1 := workerConfig(t, origin.URL, url, prefix)
	cfg1.NATS.AckWait = time.Second
	first := &workerMain{Config: cfg1}
	kctx, kill := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- first.Run(kctx) }()
	for range 30 {
		<-started
	}
	kill()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cfg2 := workerConfig(t, origin.URL, url, prefix)
	cfg2.NATS.AckWait = time.Second
	second := &workerMain{Config: cfg2, UntilEmpty: true}
	if err := second.Run(ctx); err != nil {
		t.Fatal(err)
	}
	stores := []string{first.Config.Store.Root, second.Config.Store.Root}
	have := map[string]bool{}
	for _, root := range stores {
		st, err := store.Open(root, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.KeysWithPrefix("", func(k string) bool { have[k] = true; return true }); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	if len(have) != n {
		t.Fatalf("%d pages between the two stores, want %d", len(have), n)
	}
	if first.stats().Done == 0 || first.stats().Done >= n {
		t.Errorf("the first worker finished %d jobs; the test wants it killed mid-run", first.stats().Done)
	}
}

// natsServer is a private nats-server process (NATS_SERVER_BIN) that a
// test can stop and start again on the same port and store directory.
type natsServer struct{ *serverProc }

func startNATSServer(t *testing.T) natsServer {
	return natsServer{startServerProc(t, "nats-server", "NATS_SERVER_BIN",
		"this test starts and stops its own nats-server (.ci/run sets it)",
		func(addr, dir string) []string {
			host, port, _ := net.SplitHostPort(addr)
			return []string{"-a", host, "-p", port, "-js", "-sd", dir}
		})}
}

func (s natsServer) url() string { return "nats://" + s.addr }

// TestClusterNATSOutageLosesNoInvalidation: NATS stops (the process is
// killed) for outageFor; an invalidation posted to edge A meanwhile is
// accepted (202, durable in A's outbox) and, once NATS is back on the same
// port and store, reaches edge B, which serves the new version. The outage
// is shorter than queue.outage_after, so it is the outbox, not the outage
// repair, that delivers it.
func TestClusterNATSOutageLosesNoInvalidation(t *testing.T) {
	srv := startNATSServer(t)
	site := &versioned{}
	origin := startOrigin(t, site.handler)
	a := startClusterEdge(t, origin.URL, srv.url(), "edge", "a", nil)
	b := startClusterEdge(t, origin.URL, srv.url(), "edge", "b", nil)
	get(t, b.URL+"/p/5")
	eventually(t, 10*time.Second, "B's consumer in place", func() bool {
		s := b.cluster.status()
		return s.Connected && s.TagsRecorded == 1 && b.cluster.events.Subscribed()
	})
	srv.stop()
	eventually(t, 10*time.Second, "A seeing the outage", func() bool { return !a.cluster.status().Connected })
	site.version.Store(1)
	postInvalidate(t, a, `{"urls":["/p/5"]}`)
	if s := a.cluster.status(); s.Outbox != 1 {
		t.Fatalf("A's outbox during the outage: %d, want 1", s.Outbox)
	}
	time.Sleep(outageFor) // the outage itself: nothing to wait for but time
	srv.start(t)
	eventually(t, 30*time.Second, "B serving version 1 of /p/5", func() bool {
		r := get(t, b.URL+"/p/5")
		return strings.Contains(r.Body, "version 1") && r.Header.Get("X-Cache") == "HIT"
	})
	eventually(t, 20*time.Second, "A after the outage: outbox 0, published 1", func() bool {
		s := a.cluster.status()
		return s.Outbox == 0 && s.Published == 1
	})
	if st := b.inval.consumer.Stats(); st.Outages != 0 || st.Received != 1 {
		t.Errorf("B's consumer: %+v; want the one invalidation received, no outage recorded", st)
	}
}

// TestClusterNATSOutageRecordedAndRepaired: an outage longer than
// queue.outage_after is recorded by the edge's consumer; when NATS is back,
// every page generated before the outage ended is marked and regenerated
// (an invalidation published by something other than an edge, during the
// outage, could have been lost).
func TestClusterNATSOutageRecordedAndRepaired(t *testing.T) {
	srv := startNATSServer(t)
	site := &versioned{}
	origin := startOrigin(t, site.handler)
	b := startClusterEdge(t, origin.URL, srv.url(), "edge", "b", func(c *Config) {
		c.Queue.OutageAfter = 300 * time.Millisecond
	})
	for _, p := range []string{"/p/1", "/p/2"} {
		get(t, b.URL+p)
	}
	eventually(t, 10*time.Second, "B's consumer in place", b.cluster.events.Subscribed)
	srv.stop()
	eventually(t, 20*time.Second, "B recording the outage", func() bool { return b.inval.consumer.Stats().Outages == 1 })
	site.version.Store(1)
	srv.start(t)
	eventually(t, 30*time.Second, "B repairing both pages", func() bool {
		if b.inval.consumer.Stats().Repaired != 2 {
			return false
		}
		for _, p := range []string{"/p/1", "/p/2"} {
			r := get(t, b.URL+p)
			if !strings.Contains(r.Body, "version 1") || r.Header.Get("X-Cache") != "HIT" {
				return false
			}
		}
		return true
	})
}

// TestClusterWorkersRegenerate: with nats.regenerate: workers, an
// invalidation by tag posted to edge A becomes one regen job per page
// (found through the shared tag index: only B holds the page); one worker
// makes it and tells every edge to drop its copy; B then serves the new
// version (from the origin here: with local disks only, there is no shared
// store to read it from).
func TestClusterWorkersRegenerate(t *testing.T) {
	url, prefix := natsPrefix(t)
	site := &versioned{}
	origin := startOrigin(t, site.handler)
	workers := func(c *Config) { c.NATS.Regenerate = "workers" }
	a := startClusterEdge(t, origin.URL, url, prefix, "a", workers)
	b := startClusterEdge(t, origin.URL, url, prefix, "b", workers)
	get(t, b.URL+"/p/3")
	eventually(t, 10*time.Second, "B's consumer and tag entry in place", func() bool {
		s := b.cluster.status()
		return s.Connected && s.TagsRecorded == 1 && b.cluster.events.Subscribed()
	})
	site.version.Store(1)
	postInvalidate(t, a, `{"tags":["group-3"]}`)
	wcfg := workerConfig(t, origin.URL, url, prefix)
	wcfg.Hosts = b.Config.Hosts // the same keys as the edges
	wcfg.NATS.Regenerate = "workers"
	w := &workerMain{Config: wcfg, UntilEmpty: true}
	eventually(t, 10*time.Second, "the job queued", func() bool {
		waiting, _, err := a.cluster.client.Pending(context.Background())
		return err == nil && waiting == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if s := w.stats(); s.Done != 1 || w.runner.ok.Load() != 1 {
		t.Fatalf("worker: %+v, %d written; want the one page", s, w.runner.ok.Load())
	}
	eventually(t, 20*time.Second, "B dropping its copy and serving version 1", func() bool {
		r := get(t, b.URL+"/p/3")
		return strings.Contains(r.Body, "version 1")
	})
	if b.inval.regen.Stats().Outcomes["changed"] != 0 {
		t.Error("B regenerated the page itself; the worker should have")
	}
	if n := site.rendersOf("/p/3"); n != 3 {
		t.Errorf("/p/3 rendered %d times, want 3: B's first miss, the worker, B's miss after the drop", n)
	}
}
