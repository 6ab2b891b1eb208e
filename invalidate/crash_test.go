package invalidate_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/pregen/edge/internal/store"
	"github.com/pregen/edge/invalidate"
	"github.com/valyala/fasthttp"
)

// TestMain lets a test re-run this binary as a child process that can be
// killed with SIGKILL (see TestKill9WithMarksPending).
func TestMain(m *testing.M) {
	if dir := os.Getenv("INVALIDATE_TEST_KILL_CHILD"); dir != "" {
		killChild(dir)
		return
	}
	os.Exit(m.Run())
}

const crashPages = 5000

func crashKey(i int) string { return fmt.Sprintf("/k/%d", i) }

// killChild marks every page of the store at dir stale, says "marked",
// starts regenerating with a generator that never returns, says "claimed"
// once two pages are in flight, and waits to be killed.
func killChild(dir string) {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	st, err := store.Open(dir, store.Options{}) // synced: as in production
	if err != nil {
		fail(err)
	}
	keys := make([]string, crashPages)
	for i := range keys {
		keys[i] = crashKey(i)
	}
	if n, _, err := st.Mark(keys, edge.PriorityInvalidate, "api"); err != nil || n != crashPages {
		fail(fmt.Errorf("marked %d: %v", n, err))
	}
	fmt.Println("marked")
	norm, err := cachekey.New(cachekey.Rules{Hosts: []string{publicHost}})
	if err != nil {
		fail(err)
	}
	var inFlight atomic.Int32
	stuck := genFunc(func(ctx context.Context, f edge.Fill) (edge.Result, error) {
		if inFlight.Add(1) == 2 {
			fmt.Println("claimed")
		}
		select {}
	})
	r := &invalidate.Regenerator{Queue: newWatchedQueue(st), Generator: stuck, Pages: st, Memory: nopMemory{},
		Keys: norm, Concurrency: 2, Rate: -1}
	go r.Run(context.Background()) //nolint:errcheck // killed
	r.Wake()
	select {}
}

type genFunc func(ctx context.Context, f edge.Fill) (edge.Result, error)

func (g genFunc) Generate(ctx context.Context, f edge.Fill) (edge.Result, error) { return g(ctx, f) }

type nopMemory struct{}

func (nopMemory) Delete(string) {}

// kill -9 with 5,000 marks pending (two of them being regenerated): after
// a restart every one of the 5,000 pages is regenerated, each once.
func TestKill9WithMarksPending(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 5,000 pages")
	}
	root := filepath.Join(t.TempDir(), "pages")
	st, err := store.Open(root, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range crashPages {
		p := (&edge.Page{Key: crashKey(i), Status: 200, ContentType: "text/html", Body: []byte("old"),
			ETag: `"old"`, GeneratedAt: time.Now()}).Finish()
		if _, err := st.Put(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "INVALIDATE_TEST_KILL_CHILD="+root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(out)
	for _, want := range []string{"marked", "claimed"} {
		if !lines.Scan() || lines.Text() != want {
			t.Fatalf("child said %q (%v), want %q", lines.Text(), lines.Err(), want)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	// Small bodies (no compressed variants): the test is about the marks.
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/html")
		ctx.SetBodyString("new " + string(ctx.Path()))
	})
	r := newRig(t, o.URL, rigOptions{root: root, noSync: true, regen: func(rg *invalidate.Regenerator) {
		rg.Concurrency = 8
	}})
	if ms := r.store.MarkStats(); ms.Pending[edge.PriorityInvalidate] != crashPages || ms.Claimed != 0 {
		t.Fatalf("after the kill: %+v, want %d pending", ms, crashPages)
	}
	done := r.queue.drained()
	r.startRegen()
	r.regen.Wake()
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		o.mu.Lock()
		n := len(o.renders)
		o.mu.Unlock()
		t.Fatalf("no drain: %+v, %d pages rendered, outcomes %v", r.store.MarkStats(), n, r.regen.Stats().Outcomes)
	}
	for i := range crashPages {
		if n := o.rendered(crashKey(i)); n != 1 {
			t.Fatalf("%s rendered %d times after the restart, want 1", crashKey(i), n)
		}
	}
	if ms := r.store.MarkStats(); ms != (store.MarkStats{}) {
		t.Fatalf("marks left: %+v", ms)
	}
}
