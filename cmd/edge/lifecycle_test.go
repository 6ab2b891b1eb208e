package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pregen/edge/internal/testenv"
	"github.com/valyala/fasthttp"
)

// TestMain lets a test re-run this binary as the edge command itself, so
// process-level behaviour (signals, exit codes) is tested on the real main.
func TestMain(m *testing.M) {
	if args := os.Getenv("EDGE_TEST_AS_MAIN"); args != "" {
		os.Args = append([]string{"edge"}, strings.Fields(args)...)
		main()
		return
	}
	dir, err := os.MkdirTemp("", "edge-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binDir holds the edge binary the process tests build once (edgeCommand).
var (
	binDir  string
	edgeBin testenv.Binary
)

// edgeCommand is how a process test starts `edge args...`: the real binary,
// built once per package run without the race detector (so each start is
// quick); if the go command is not at hand, this test binary acting as
// edge (TestMain above).
func edgeCommand(t *testing.T, env []string, args ...string) testenv.Command {
	t.Helper()
	if path, err := edgeBin.Build(binDir, "edge", "."); err == nil {
		return testenv.Command{Path: path, Args: args, Env: env}
	} else {
		t.Logf("running this test binary as edge: %v", err)
	}
	return testenv.Command{Path: os.Args[0], Env: append(env, "EDGE_TEST_AS_MAIN="+strings.Join(args, " "))}
}

// SIGTERM while a page is being generated: the generation finishes, the
// waiting client gets its page, the page is stored and edge exits 0.
func TestSIGTERMDrainsGeneration(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/slow" {
			close(arrived)
			<-release
		}
		page(ctx)
	})
	root := t.TempDir()
	p := testenv.Start(t, edgeCommand(t, nil, "serve", "-origin", o.URL, "-root", root, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0"))
	addr := p.WaitLine(regexp.MustCompile(`edge serving" listen=(\S+)`))[1]

	got := make(chan response, 1)
	go func() {
		r, err := do("GET", "http://"+addr+"/slow")
		if err != nil {
			t.Errorf("client: %v", err)
		}
		got <- r
	}()
	<-arrived
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.WaitLine(regexp.MustCompile(`shutting down`))
	close(release)
	r := <-got
	if r.Status != 200 || !strings.Contains(r.Body, "<h1>/slow</h1>") {
		t.Fatalf("in-flight request: %d %.80q", r.Status, r.Body)
	}
	if err := p.WaitExit(); err != nil {
		t.Fatalf("edge exited with %v, want status 0", err)
	}
	if n := countFiles(t, root, "index.html"); n != 1 {
		t.Fatalf("%d pages stored, want the drained one", n)
	}
}

// The admin listener: health, metrics, status, and the token on mutations.
func TestAdminAPI(t *testing.T) {
	o := startOrigin(t, page)
	e := startEdge(t, o.URL, func(c *Config) { c.Admin.Token = "s3cret" })
	get(t, e.URL+"/events/7")
	get(t, e.URL+"/events/7")

	if r := get(t, e.Admin+"/healthz"); r.Status != 200 || r.Body != "ok\n" {
		t.Fatalf("healthz: %d %q", r.Status, r.Body)
	}
	m := get(t, e.Admin+"/metrics").Body
	for _, want := range []string{
		`edge_requests_total{cache="HIT"} 1`, `edge_requests_total{cache="MISS"} 1`,
		`edge_origin_requests_total{priority="miss",result="2xx"} 1`, `edge_tier_pages{tier="disk"} 1`,
		`edge_origin_request_duration_seconds_bucket`, `edge_coalesced_waiters_total 0`,
		`edge_tier_bytes{tier="memory"}`, `edge_origin_budget_queued{priority="bulk"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	var st Status
	if err := json.Unmarshal([]byte(get(t, e.Admin+"/status").Body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Requests["HIT"] != 1 || st.Requests["MISS"] != 1 || st.Disk.Pages != 1 || st.Budget.Slots != 8 {
		t.Fatalf("status: %+v", st)
	}
	for _, c := range []struct {
		hdr  []string
		want int
	}{{nil, 401}, {[]string{"Authorization", "Bearer wrong"}, 401}, {[]string{"Authorization", "s3cret"}, 401},
		{[]string{"Authorization", "Bearer s3cret"}, 200}} {
		r, err := do("POST", e.Admin+"/reload", c.hdr...)
		if err != nil || r.Status != c.want {
			t.Errorf("POST /reload %v: %d %v, want %d", c.hdr, r.Status, err, c.want)
		}
	}
	if r, _ := do("GET", e.Admin+"/reload"); r.Status != 405 {
		t.Errorf("GET /reload: %d, want 405", r.Status)
	}
	// The public port does not serve the admin API: /status there is just
	// a page of the origin's.
	if r := get(t, e.URL+"/status"); strings.Contains(r.Body, "uptime_seconds") {
		t.Error("admin status reachable on the public port")
	}
}

// Mutations are refused when no token is configured.
func TestAdminWithoutTokenRefusesMutations(t *testing.T) {
	o := startOrigin(t, page)
	e := startEdge(t, o.URL, nil)
	if r, _ := do("POST", e.Admin+"/reload", "Authorization", "Bearer "); r.Status != 403 {
		t.Fatalf("got %d, want 403", r.Status)
	}
}

// Editing the config file reloads the safe fields without a restart.
func TestConfigFileReload(t *testing.T) {
	o := startOrigin(t, page)
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.yaml")
	write := func(bypass string) {
		yaml := fmt.Sprintf("origin:\n  url: %s\nstore:\n  root: %s\n  no_sync: true\nlisten: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\ncache:\n  bypass_paths: [%s]\n",
			o.URL, filepath.Join(dir, "pages"), bypass)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	cf := commonFlags{config: path}
	cfg, err := cf.load()
	if err != nil {
		t.Fatal(err)
	}
	e := runEdge(t, &Main{Config: cfg, ConfigPath: path, flags: cf})
	if r := get(t, e.URL+"/private/1"); r.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("before reload: %q", r.Header.Get("X-Cache"))
	}
	write("/private/")
	eventually(t, 5*time.Second, "bypass_paths reloaded", func() bool {
		return get(t, e.URL+"/private/2").Header.Get("X-Cache") == "BYPASS"
	})
	// A broken edit is rejected and the running config kept.
	if err := os.WriteFile(path, []byte("origin: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "bad reload counted", func() bool {
		return strings.Contains(get(t, e.Admin+"/metrics").Body, "edge_config_reload_errors_total 1")
	})
	if r := get(t, e.URL+"/private/3"); r.Header.Get("X-Cache") != "BYPASS" {
		t.Fatalf("after a bad reload: %q", r.Header.Get("X-Cache"))
	}
	_ = io.Discard
}
