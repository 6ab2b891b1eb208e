package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregen/edge/gen"
	"github.com/pregen/edge/internal/demo"
	"github.com/pregen/edge/internal/store"
	"github.com/valyala/fasthttp"
)

// genSite is the demo site behind a counting test origin.
type genSite struct {
	*demo.Site
	*testOrigin
	pages int
}

// startGenSite serves a demo site of pages pages without render latency.
// hook, if set, runs before each request is answered.
func startGenSite(t *testing.T, pages int, hook func(path string)) *genSite {
	t.Helper()
	site := demo.New(demo.Config{Pages: pages, Latency: -1})
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		if hook != nil {
			hook(string(ctx.Path()))
		}
		site.Handler(ctx)
	})
	return &genSite{site, o, pages}
}

// renders returns the renders of detail pages and fails the test if any
// page was rendered more than max times.
func (s *genSite) renders(t *testing.T, max int64) int64 {
	t.Helper()
	var n int64
	for p := range s.URLs {
		c := s.Renders(p)
		if c > max {
			t.Errorf("%s rendered %d times, want at most %d", p, c, max)
		}
		n += c
	}
	return n
}

// genConfig writes a config file for edge gen and returns its path.
func genConfig(t *testing.T, originURL, root, host, extra string) string {
	t.Helper()
	yaml := fmt.Sprintf(`hosts: [%q]
origin:
  url: %s
  concurrency: 4
store:
  root: %s
  no_sync: true
  gzip_level: 1    # the fastest levels: compression dominates a page's
  brotli_level: 1  # cost under the race detector
cache:
  query_allow: [page]
  bypass_paths: [/accounts/]
log:
  level: warn
%s`, host, originURL, root, extra)
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// genIn runs edge gen in-process with the given standard input and
// returns its output (the summary) and error.
func genIn(ctx context.Context, t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	if !slices.Contains(args, "-failures") { // never the default, in the source tree
		args = append(args, "-failures", filepath.Join(t.TempDir(), "edge-gen-failed.txt"))
	}
	var out bytes.Buffer
	err := genMain(ctx, args, strings.NewReader(stdin), &out, testLog{t})
	t.Logf("edge gen %s → %v\n%s", strings.Join(args, " "), err, out.String())
	return out.String(), err
}

// TestGenStandaloneSitemap generates a demo site from its sitemap with the
// store free: every page once; a second run rewrites nothing; -since skips.
func TestGenStandaloneSitemap(t *testing.T) {
	s := startGenSite(t, 80, nil)
	root := t.TempDir()
	cfg := genConfig(t, s.URL, root, "www.site.test", "")
	failed := filepath.Join(t.TempDir(), "failed.txt")
	args := []string{"-config", cfg, "-sitemap", s.URL + "/sitemap.xml", "-progress", "log", "-failures", failed}
	out, err := genIn(t.Context(), t, "", args...)
	if err != nil || !strings.Contains(out, "ok 80 ") || !strings.Contains(out, "origin latency p50 ") {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	if n := s.renders(t, 1); n != 80 {
		t.Errorf("origin rendered %d pages, want 80", n)
	}
	if _, err := os.Stat(filepath.Join(root, "events", "1", "index.html")); err != nil {
		t.Errorf("page file: %v", err)
	}
	if _, err := os.Stat(failed); !os.IsNotExist(err) {
		t.Errorf("a failures file was written for a run without failures: %v", err)
	}
	if ents, _ := os.ReadDir(genRunsDir(root)); len(ents) != 0 {
		t.Errorf("run journal left after a complete run: %v", ents)
	}

	out, err = genIn(t.Context(), t, "", args...)
	if err != nil || !strings.Contains(out, "unchanged 80 ") || !strings.Contains(out, "wrote 0 B") {
		t.Errorf("second run: %v\n%s", err, out)
	}
	out, err = genIn(t.Context(), t, "", append(args, "-since", "1h")...)
	if err != nil || !strings.Contains(out, "skipped 80 ") {
		t.Errorf("-since run: %v\n%s", err, out)
	}
	if n := s.renders(t, 2); n != 160 {
		t.Errorf("origin rendered %d pages over three runs, want 160", n)
	}
}

// TestGenURLListFromStdin: refused lines are counted with their line
// numbers, failed URLs are appended to the failures file, and that file
// is a URL list.
func TestGenURLListFromStdin(t *testing.T) {
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		if strings.HasPrefix(string(ctx.Path()), "/fail/") {
			ctx.Error("broken", fasthttp.StatusInternalServerError)
			return
		}
		page(ctx)
	})
	root := t.TempDir()
	cfg := genConfig(t, o.URL, root, "www.site.test", "")
	failed := filepath.Join(t.TempDir(), "failed.txt")
	list := "# pages\n/events/1\nhttp://elsewhere.test/x\n/fail/1\nhttp://www.site.test/accounts/login\n/events/2\n/fail/2\n"
	out, err := genIn(t.Context(), t, list, "-config", cfg, "-urls", "-", "-progress", "none", "-failures", failed)
	if err == nil || !strings.Contains(err.Error(), "2 pages or sitemaps failed") {
		t.Fatalf("err %v, want 2 failures reported", err)
	}
	if !strings.Contains(out, "ok 2 ") || !strings.Contains(out, "refused 2") || !strings.Contains(out, "failed 2 ") ||
		!strings.Contains(out, "2 failed URLs appended to "+failed) {
		t.Errorf("summary:\n%s", out)
	}
	b, err := os.ReadFile(failed)
	if err != nil || string(b) != "/fail/1\n/fail/2\n" && string(b) != "/fail/2\n/fail/1\n" {
		t.Fatalf("failures file %q, %v", b, err)
	}
	// Fed back with a failure budget: both fail again, and that is allowed.
	again := filepath.Join(t.TempDir(), "again.txt")
	out, err = genIn(t.Context(), t, "", "-config", cfg, "-urls", failed, "-progress", "none", "-failures", again, "-max-failures", "2")
	if err != nil || !strings.Contains(out, "failed 2 ") {
		t.Errorf("fed back: %v\n%s", err, out)
	}
	if o.Hits("/fail/1") != 2 || o.Hits("/events/1") != 1 {
		t.Errorf("origin hits: /fail/1 %d, /events/1 %d", o.Hits("/fail/1"), o.Hits("/events/1"))
	}
}

// TestGenFourShards runs -shard 0/4 … 3/4 one after the other on one
// store: together they make every page, each once.
func TestGenFourShards(t *testing.T) {
	s := startGenSite(t, 120, nil)
	root := t.TempDir()
	cfg := genConfig(t, s.URL, root, "www.site.test", "")
	for i := range 4 {
		out, err := genIn(t.Context(), t, "", "-config", cfg, "-sitemap", s.URL+"/sitemap.xml", "-progress", "none",
			"-shard", fmt.Sprintf("%d/4", i))
		if err != nil || !strings.Contains(out, "other shards") {
			t.Fatalf("shard %d: %v\n%s", i, err, out)
		}
	}
	if n := s.renders(t, 1); n != 120 {
		t.Errorf("origin rendered %d pages, want 120", n)
	}
}

// TestGenResumesAfterInterruption cancels a run part-way (as Ctrl-C does)
// and runs the same command again: only the remaining pages are rendered.
func TestGenResumesAfterInterruption(t *testing.T) {
	const pages, stopAt = 200, 80
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var n atomic.Int64
	s := startGenSite(t, pages, func(path string) {
		if !strings.HasPrefix(path, "/sitemap") && n.Add(1) == stopAt {
			cancel()
		}
	})
	root := t.TempDir()
	cfg := genConfig(t, s.URL, root, "www.site.test", "")
	args := []string{"-config", cfg, "-sitemap", s.URL + "/sitemap.xml", "-progress", "none"}
	_, err := genIn(ctx, t, "", args...)
	if err == nil || !strings.Contains(err.Error(), "run the same command again to resume") {
		t.Fatalf("interrupted run: %v", err)
	}
	first := s.renders(t, 1)
	if ents, _ := os.ReadDir(genRunsDir(root)); len(ents) != 1 {
		t.Fatalf("journal after an interrupted run: %v", ents)
	}
	out, err := genIn(t.Context(), t, "", args...)
	if err != nil || !strings.Contains(out, fmt.Sprintf("skipped %d ", first)) {
		t.Fatalf("resumed run: %v\n%s", err, out)
	}
	if total := s.renders(t, 1); total != pages {
		t.Errorf("%d renders in both runs (%d in the first), want %d: each page once", total, first, pages)
	}
	if ents, _ := os.ReadDir(genRunsDir(root)); len(ents) != 0 {
		t.Errorf("journal left after the resumed run completed: %v", ents)
	}
	// -fresh forgets nothing now, and makes everything again.
	if out, err = genIn(t.Context(), t, "", append(args, "-fresh")...); err != nil || !strings.Contains(out, fmt.Sprintf("unchanged %d ", pages)) {
		t.Errorf("-fresh run: %v\n%s", err, out)
	}
}

func TestGenBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-origin", "http://127.0.0.1:1"},
		{"-origin", "http://127.0.0.1:1", "-urls", "x", "-sitemap", "y"},
		{"-origin", "http://127.0.0.1:1", "-urls", "x", "-shard", "4/4"},
		{"-origin", "http://127.0.0.1:1", "-urls", "x", "-shard", "a"},
		{"-origin", "http://127.0.0.1:1", "-urls", "x", "-since", "-1h"},
		{"-origin", "http://127.0.0.1:1", "-urls", "x", "-progress", "fancy"},
		{"-origin", "http://127.0.0.1:1", "-urls", "x", "-failures", "x"},
		{"-origin", "http://127.0.0.1:1", "-urls", "x", "extra"},
	} {
		_, err := genIn(t.Context(), t, "", args...)
		if !isUsage(err) {
			t.Errorf("%q: %v, want a usage error (exit 2)", args, err)
		}
	}
}

func isUsage(err error) bool {
	var ce *ConfigError
	return errors.Is(err, errUsage) || errors.As(err, &ce)
}

// TestGenExitStatus runs edge gen through the command's entry point.
func TestGenExitStatus(t *testing.T) {
	requireGenCommand(t)
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		if strings.HasPrefix(string(ctx.Path()), "/fail") {
			ctx.Error("broken", fasthttp.StatusBadGateway)
			return
		}
		page(ctx)
	})
	cfg := genConfig(t, o.URL, t.TempDir(), "www.site.test", "")
	dir := t.TempDir()
	list := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := list("good", "/a", "/b")
	bad := list("bad", "/a", "/fail1", "/fail2")
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"-urls", good}, 0},
		{[]string{"-urls", bad}, 1},
		{[]string{"-urls", bad, "-max-failures", "1"}, 1},
		{[]string{"-urls", bad, "-max-failures", "2"}, 0},
		{[]string{"-urls", good, "-shard", "2/2"}, exitUsage},
		{[]string{"-urls", filepath.Join(dir, "missing")}, 1},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"gen", "-config", cfg, "-progress", "none", "-failures", filepath.Join(dir, "failed")}, c.args...)
		if code := run(t.Context(), args, &out, &errb); code != c.want {
			t.Errorf("edge %s: exit %d, want %d\n%s%s", strings.Join(c.args, " "), code, c.want, out.String(), errb.String())
		}
	}
}

// requireGenCommand skips tests of the command entry point until main.go
// routes "gen" to genCmd.
func requireGenCommand(t *testing.T) {
	t.Helper()
	var out, errb bytes.Buffer
	if run(context.Background(), []string{"gen", "-h"}, &out, &errb); strings.Contains(errb.String(), "unknown command") {
		t.Skip("main.go does not route `edge gen` to genCmd yet")
	}
}

// TestGenKilledAndRestarted kills an edge gen process with SIGKILL part-way
// and runs the same command again: it renders exactly the pages the first
// process had not stored.
func TestGenKilledAndRestarted(t *testing.T) {
	requireGenCommand(t)
	const pages, killAt = 200, 80
	kill := make(chan struct{})
	var n atomic.Int64
	s := startGenSite(t, pages, func(path string) {
		if !strings.HasPrefix(path, "/sitemap") && n.Add(1) == killAt {
			close(kill)
		}
	})
	root := t.TempDir()
	cfg := genConfig(t, s.URL, root, "www.site.test", "")
	args := []string{"gen", "-config", cfg, "-sitemap", s.URL + "/sitemap.xml", "-progress", "none",
		"-failures", filepath.Join(t.TempDir(), "failed.txt")}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "EDGE_TEST_AS_MAIN="+strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-kill:
	case <-time.After(60 * time.Second):
		t.Fatal("the edge gen process never got half-way")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	st, err := store.Open(root, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for p := range s.URLs {
		if _, err := st.Meta(p); err == nil {
			stored[p] = true
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if len(stored) < killAt/2 || len(stored) >= pages {
		t.Fatalf("%d pages stored when killed after %d renders", len(stored), killAt)
	}
	var out, errb bytes.Buffer
	if code := run(t.Context(), args, &out, &errb); code != 0 {
		t.Fatalf("restart: exit %d\n%s%s", code, out.String(), errb.String())
	}
	t.Log(out.String())
	// A page stored before the kill is not rendered again; every other
	// page is rendered by the restart (a second time if the killed
	// process had it in flight).
	for p := range s.URLs {
		n := s.Renders(p)
		if stored[p] && n != 1 || !stored[p] && (n < 1 || n > 2) {
			t.Errorf("%s (stored before the kill: %v) rendered %d times", p, stored[p], n)
		}
	}
	if !strings.Contains(out.String(), fmt.Sprintf("skipped %d ", len(stored))) {
		t.Errorf("restart summary does not count the %d stored pages as skipped", len(stored))
	}
	st, err = store.Open(root, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := st.Stats().Pages; got != pages {
		t.Errorf("%d pages stored after the restart, want %d", got, pages)
	}
}

// genAdmin returns the admin address that serves /gen for e: its own
// admin listener once admin.go routes /gen to Main's genService, else (until
// the lead wires it) a second admin server on 127.0.0.1 with a genService
// built from e's parts exactly as Main.build would.
func genAdmin(t *testing.T, e *testEdge) string {
	t.Helper()
	r := get(t, e.Admin+"/gen/status?job=none")
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return strings.TrimPrefix(e.Admin, "http://")
	}
	keys, err := genKeys(e.Config, "test")
	if err != nil {
		t.Fatal(err)
	}
	g := &gen.Generator{Origin: e.origin, Store: e.store, MaxObjectBytes: int(e.Config.Store.MaxObjectBytes),
		GzipLevel: e.Config.Store.GzipLevel, BrotliLevel: e.Config.Store.BrotliLevel, Proto: e.Config.Origin.ForwardedProto}
	svc := newGenService(e.Main, g, keys)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		switch p := string(ctx.Path()); p {
		case "/gen", "/gen/status", "/gen/cancel":
			svc.serve(ctx, p)
		default:
			ctx.Error("not found\n", fasthttp.StatusNotFound)
		}
	}, CloseOnShutdown: true}
	go srv.Serve(ln) //nolint:errcheck // ends at Shutdown
	t.Cleanup(func() {
		_ = srv.Shutdown()
		svc.close() // before edge closes its store
	})
	return ln.Addr().String()
}

// TestGenViaRunningServer: with edge serve holding the store, edge gen
// sends the run to its admin API; the server makes the pages (and drops
// older copies from its memory tier), and edge gen reports the summary and
// the failures.
func TestGenViaRunningServer(t *testing.T) {
	var version atomic.Int64
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		p := string(ctx.Path())
		if strings.HasPrefix(p, "/fail/") {
			ctx.Error("broken", fasthttp.StatusServiceUnavailable)
			return
		}
		ctx.SetContentType("text/html")
		ctx.SetBodyString(fmt.Sprintf("<h1>%s v%d</h1>", p, version.Load()))
	})
	e := startEdge(t, o.URL, func(c *Config) { c.Admin.Token = "s3cret" })
	host := strings.TrimPrefix(e.URL, "http://")
	// A page the server already holds in memory, at version 0.
	if r := get(t, e.URL+"/p/0"); r.Body != "<h1>/p/0 v0</h1>" {
		t.Fatalf("warm-up: %q", r.Body)
	}
	version.Store(1)

	admin := genAdmin(t, e)
	cfg := genConfig(t, o.URL, e.Root, host, fmt.Sprintf("admin:\n  listen: %s\n  token: s3cret\n", admin))
	var list strings.Builder
	for i := range 1200 { // three chunks
		fmt.Fprintf(&list, "/p/%d\n", i)
	}
	list.WriteString("/fail/1\nhttp://elsewhere.test/x\n")
	failed := filepath.Join(t.TempDir(), "failed.txt")
	out, err := genIn(t.Context(), t, list.String(), "-config", cfg, "-urls", "-", "-progress", "log", "-failures", failed)
	if err == nil || !strings.Contains(err.Error(), "1 pages or sitemaps failed") {
		t.Fatalf("err %v, want one failure", err)
	}
	if !strings.Contains(out, "ok 1200 ") || !strings.Contains(out, "refused 1") || !strings.Contains(out, "failed 1 ") {
		t.Errorf("summary:\n%s", out)
	}
	if b, _ := os.ReadFile(failed); string(b) != "/fail/1\n" {
		t.Errorf("failures file %q", b)
	}
	for _, p := range []string{"/p/0", "/p/1199"} {
		if o.Hits(p) != map[string]int{"/p/0": 2, "/p/1199": 1}[p] {
			t.Errorf("%s: %d origin hits", p, o.Hits(p))
		}
	}
	// The memory copy of /p/0 was dropped: the server serves version 1.
	if r := get(t, e.URL+"/p/0"); r.Body != "<h1>/p/0 v1</h1>" || r.Header.Get("X-Cache") != "HIT" {
		t.Errorf("/p/0 after the run: %q, X-Cache %s", r.Body, r.Header.Get("X-Cache"))
	}
	if got := e.store.Stats().Pages; got != 1200 {
		t.Errorf("server's store holds %d pages, want 1200", got)
	}
}

// TestGenViaRunningServerResumes cancels a run sent to a server part-way
// and sends it again: the server's journal makes the second run skip the
// pages the first made.
func TestGenViaRunningServerResumes(t *testing.T) {
	const pages, stopAt = 300, 100
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var n atomic.Int64
	o := startOrigin(t, func(c *fasthttp.RequestCtx) {
		if n.Add(1) == stopAt {
			cancel()
		}
		page(c)
	})
	e := startEdge(t, o.URL, func(c *Config) { c.Admin.Token = "s3cret"; c.Log.Level = "error" })
	admin := genAdmin(t, e)
	cfg := genConfig(t, o.URL, e.Root, strings.TrimPrefix(e.URL, "http://"), fmt.Sprintf("admin:\n  listen: %s\n  token: s3cret\n", admin))
	listFile := filepath.Join(t.TempDir(), "urls.txt")
	var list strings.Builder
	for i := range pages {
		fmt.Fprintf(&list, "/events/%d\n", i)
	}
	if err := os.WriteFile(listFile, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-config", cfg, "-urls", listFile, "-progress", "none"}
	if _, err := genIn(ctx, t, "", args...); err == nil || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("interrupted run: %v", err)
	}
	first := n.Load()
	out, err := genIn(t.Context(), t, "", args...)
	if err != nil || !strings.Contains(out, "skipped ") {
		t.Fatalf("resumed run: %v\n%s", err, out)
	}
	if total := n.Load(); total != pages {
		t.Errorf("%d origin requests over both runs (%d in the first), want %d", total, first, pages)
	}
	if got := e.store.Stats().Pages; got != pages {
		t.Errorf("%d pages stored, want %d", got, pages)
	}
}

// TestGenAdminAPI exercises the endpoints as curl would.
func TestGenAdminAPI(t *testing.T) {
	s := startGenSite(t, 50, nil)
	e := startEdge(t, s.URL, func(c *Config) { c.Admin.Token = "s3cret" })
	admin := "http://" + genAdmin(t, e)
	post := func(path, token, body string) response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, admin+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return response{resp.StatusCode, resp.Header, b.String()}
	}
	if r := post("/gen", "", `{"urls":["/events/1"],"done":true}`); r.Status != http.StatusUnauthorized {
		t.Errorf("no token: %d", r.Status)
	}
	for _, body := range []string{`{`, `{"sitemap":"/sitemap.xml"}`, `{"since":"soon"}`, `{"shard":"5/2"}`,
		`{"sitemap":"http://x/s.xml","urls":["/a"]}`, `{"run":"../x"}`} {
		if r := post("/gen", "s3cret", body); r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", body, r.Status, r.Body)
		}
	}
	if r := get(t, admin+"/gen/status?job=nope"); r.Status != http.StatusNotFound {
		t.Errorf("unknown job: %d", r.Status)
	}
	// A sitemap run, read by the server itself; the host the demo writes
	// into the sitemap is the one edge serves.
	r := post("/gen", "s3cret", fmt.Sprintf(`{"sitemap":%q}`, s.URL+"/sitemap.xml"))
	var st genStatus
	if r.Status != http.StatusAccepted || json.Unmarshal([]byte(r.Body), &st) != nil || st.Job == "" {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	for st.State == "running" {
		r = get(t, admin+"/gen/status?wait=5s&job="+st.Job)
		if err := json.Unmarshal([]byte(r.Body), &st); err != nil {
			t.Fatal(err)
		}
	}
	if st.State != "done" || st.Summary.OK != 50 {
		t.Errorf("sitemap run: %+v", st)
	}
	if r := post("/gen?job="+st.Job, "s3cret", `{"urls":["/a"]}`); r.Status != http.StatusConflict {
		t.Errorf("chunk for a sitemap run: %d", r.Status)
	}
}

// TestGenAdminAbandonedRun: a URL-fed run whose client stops sending and
// polling is cancelled, its journal kept.
func TestGenAdminAbandonedRun(t *testing.T) {
	old := genIdleTimeout
	genIdleTimeout = 300 * time.Millisecond
	t.Cleanup(func() { genIdleTimeout = old })
	s := startGenSite(t, 10, nil)
	e := startEdge(t, s.URL, func(c *Config) { c.Admin.Token = "s3cret" })
	c := &genClient{base: "http://" + genAdmin(t, e), token: "s3cret", http: client}
	st, code, err := c.do(t.Context(), http.MethodPost, "/gen", genRequest{URLs: []string{"/events/1"}, Run: "abandoned"})
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("start: %d %v", code, err)
	}
	// The status poll itself counts as contact, so wait on the run's end
	// with a poll longer than the idle timeout.
	for st.State == "running" {
		if st, _, err = c.do(t.Context(), http.MethodGet, "/gen/status?wait=5s&job="+st.Job, nil); err != nil {
			t.Fatal(err)
		}
	}
	if st.State != "interrupted" {
		t.Errorf("abandoned run: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(genRunsDir(e.Root), "abandoned")); err != nil {
		t.Errorf("journal of the abandoned run: %v", err)
	}
}
