package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/gen"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/pregen/edge/internal/memcache"
	"github.com/pregen/edge/internal/origin"
	"github.com/pregen/edge/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// invalidationRig is the admin side of invalidation on a real loopback
// listener, routed the way admin.go routes it, over a real store.
type invalidationRig struct {
	m     *Main
	inv   *invalidation
	store *store.Store
	Admin string // http://host:port
	addr  string
}

func newInvalidationRig(t *testing.T, token string) *invalidationRig {
	t.Helper()
	o := startOrigin(t, page)
	cfg := DefaultConfig()
	cfg.Admin.Token = token
	m := &Main{logger: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	m.cfg.Store(&cfg)

	root := filepath.Join(t.TempDir(), "pages")
	st, err := store.Open(root, store.Options{NoSync: true, Logger: m.logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mem, err := memcache.New(memcache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mem.Close)
	keys, err := cachekey.New(cachekey.Rules{Hosts: []string{"edge.test"}})
	if err != nil {
		t.Fatal(err)
	}
	oc, err := origin.New(origin.Config{URL: o.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(oc.Close)
	g := &gen.Generator{Origin: oc, Store: st}
	inv, err := newInvalidation(DefaultRegenConfig(), DefaultQueueConfig(), keys, st, mem, g, nil, root, time.Minute, m.logger)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		p := (&edge.Page{Key: fmt.Sprintf("/events/%d", i), Status: 200, ContentType: "text/html",
			Body: []byte("x"), ETag: `"x"`, GeneratedAt: time.Now(), Tags: []string{"list", fmt.Sprintf("event-%d", i)}}).Finish()
		if _, err := st.Put(p); err != nil {
			t.Fatal(err)
		}
	}

	// The routes the lead adds to adminServer.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{MaxRequestBodySize: 1 << 20, Handler: func(ctx *fasthttp.RequestCtx) {
		switch path := string(ctx.Path()); {
		case path == "/invalidate" && ctx.IsPost():
			m.serveInvalidate(ctx, inv.svc)
		case path == "/impact" && ctx.IsGet():
			m.serveImpact(ctx, inv.svc)
		default:
			ctx.Error("not found\n", fasthttp.StatusNotFound)
		}
	}}
	go srv.Serve(ln) //nolint:errcheck // ends at Shutdown
	t.Cleanup(func() { _ = srv.Shutdown() })
	return &invalidationRig{m: m, inv: inv, store: st, Admin: "http://" + ln.Addr().String(), addr: ln.Addr().String()}
}

func (r *invalidationRig) post(t *testing.T, body string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.Admin+"/invalidate", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
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

func (r *invalidationRig) pending() int64 {
	var n int64
	for _, p := range r.store.MarkStats().Pending {
		n += p
	}
	return n
}

func TestInvalidateAPI(t *testing.T) {
	r := newInvalidationRig(t, "s3cret")
	good := `{"tags":["event-1"],"urls":["/events/2","/nope"]}`
	auth := []string{"Authorization", "Bearer s3cret"}

	// Without the right token: 401, nothing read, nothing marked.
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret"}, {"Authorization", "Bearer s3cret2"}} {
		if resp := r.post(t, good, hdr...); resp.Status != 401 {
			t.Errorf("POST with %v: %d, want 401", hdr, resp.Status)
		}
	}
	if n := r.pending(); n != 0 {
		t.Fatalf("%d pages marked without the token", n)
	}

	// Malformed: 400 naming the field, nothing marked.
	for body, field := range map[string]string{
		`{"tags":["event-1"],"purge":true}`: "purge",
		`{"urls":["/a/../b"]}`:              "urls[0]",
		`{"prefixes":["/x?y"]}`:             "prefixes[0]",
		`{}`:                                "body",
		`not json`:                          "body",
		`{"tags":"event-1"}`:                "tags",
	} {
		resp := r.post(t, body, auth...)
		var e invalidateError
		if resp.Status != 400 || json.Unmarshal([]byte(resp.Body), &e) != nil || e.Field != field {
			t.Errorf("POST %s: %d %s; want 400 naming %s", body, resp.Status, resp.Body, field)
		}
	}
	if n := r.pending(); n != 0 {
		t.Fatalf("%d pages marked by malformed messages", n)
	}

	// Impact: counts, marks nothing.
	for q, want := range map[string]int{"tag=list": 5, "tag=event-1&url=/events/1&url=/events/3": 2,
		"prefix=/events/": 5, "prefix=/people/": 0, "all=1": 5, "url=/nope": 0} {
		resp := get(t, r.Admin+"/impact?"+q)
		var v struct{ Pages int }
		if resp.Status != 200 || json.Unmarshal([]byte(resp.Body), &v) != nil || v.Pages != want {
			t.Errorf("GET /impact?%s: %d %s; want %d pages", q, resp.Status, resp.Body, want)
		}
	}
	for _, q := range []string{"", "tags=list", "url=/a/../b"} {
		if resp := get(t, r.Admin+"/impact?"+q); resp.Status != 400 {
			t.Errorf("GET /impact?%s: %d, want 400", q, resp.Status)
		}
	}
	if n := r.pending(); n != 0 {
		t.Fatalf("/impact marked %d pages", n)
	}

	// Accepted: 202 once the marks are durable.
	resp := r.post(t, good, auth...)
	var res struct{ Marked, Unknown int }
	if resp.Status != 202 || json.Unmarshal([]byte(resp.Body), &res) != nil || res.Marked != 2 || res.Unknown != 1 {
		t.Fatalf("POST: %d %s; want 202 {marked 2, unknown 1}", resp.Status, resp.Body)
	}
	if !r.store.Marked("/events/1") || !r.store.Marked("/events/2") || r.pending() != 2 {
		t.Fatal("marks not written")
	}
	if got := r.inv.svc.MarksBySource()["api"]; got != 2 {
		t.Errorf("marks by source api = %d", got)
	}
	if st := r.inv.status(); st.Pending["invalidate"] != 2 || st.Marks["api"] != 2 || st.Schedule != "" {
		t.Errorf("status = %+v", st)
	}

	// Hard: deleted.
	resp = r.post(t, `{"urls":["/events/4"],"hard":true}`, auth...)
	if resp.Status != 202 || !strings.Contains(resp.Body, `"deleted": 1`) || r.store.Has("/events/4") {
		t.Fatalf("hard POST: %d %s", resp.Status, resp.Body)
	}
}

func TestInvalidateAPIWithoutTokenConfigured(t *testing.T) {
	r := newInvalidationRig(t, "")
	if resp := r.post(t, `{"all":true}`, "Authorization", "Bearer "); resp.Status != 403 {
		t.Fatalf("got %d, want 403", resp.Status)
	}
	if r.pending() != 0 {
		t.Fatal("marked without a configured token")
	}
}

func TestInvalidateCommand(t *testing.T) {
	r := newInvalidationRig(t, "s3cret")
	var out, errOut bytes.Buffer
	run := func(args ...string) error {
		out.Reset()
		errOut.Reset()
		return invalidateCmd(context.Background(), args, &out, &errOut)
	}
	if err := run("-admin", r.addr, "-token", "s3cret", "-tag", "event-1", "-url", "/events/2", "-url", "/events/3"); err != nil {
		t.Fatalf("invalidate: %v (%s)", err, errOut.String())
	}
	var res struct{ Marked, Unknown int }
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Marked != 3 {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	// The token from the environment; -prefix; the admin address as a URL.
	t.Setenv("EDGE_ADMIN_TOKEN", "s3cret")
	if err := run("-admin", r.Admin, "-prefix", "/events/"); err != nil {
		t.Fatalf("with EDGE_ADMIN_TOKEN: %v", err)
	}
	if err := run("-admin", r.addr, "-token", "wrong", "-all"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
	if err := run("-admin", r.addr, "-url", "/a/../b"); err == nil || !strings.Contains(err.Error(), "urls[0]") {
		t.Fatalf("bad URL: %v", err)
	}
	if err := run("-admin", r.addr); !errors.Is(err, errUsage) {
		t.Fatalf("nothing to invalidate: %v", err)
	}
	if err := run("-admin", "127.0.0.1:1", "-all"); err == nil {
		t.Fatal("no server: no error")
	}
}

func TestInvalidationMetrics(t *testing.T) {
	r := newInvalidationRig(t, "s3cret")
	r.post(t, `{"tags":["list"]}`, "Authorization", "Bearer s3cret")
	r.post(t, `{"tags":["list"]}`, "Authorization", "Bearer s3cret")
	reg := prometheus.NewRegistry()
	reg.MustRegister(newInvalidationCollector(r.inv))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range families {
		got[f.GetName()] = f.String()
	}
	for name, want := range map[string]string{
		"edge_invalidation_marks_total":           `value:"api"`,
		"edge_invalidation_queue_depth":           `value:"invalidate"`,
		"edge_invalidation_deduplicated_total":    `value:5`,
		"edge_regeneration_mark_to_fresh_seconds": `histogram`,
		"edge_invalidation_dropped_marks":         `gauge`,
		"edge_invalidation_dead_letters_total":    `counter`,
	} {
		if !strings.Contains(got[name], want) {
			t.Errorf("%s: %s; want %s", name, got[name], want)
		}
	}
}

func TestRegenConfigValidate(t *testing.T) {
	bad := func(key, format string, args ...any) error {
		return &ConfigError{Key: key, Err: fmt.Errorf(format, args...)}
	}
	if err := DefaultRegenConfig().validate(bad); err != nil {
		t.Fatal(err)
	}
	if err := DefaultQueueConfig().validate(bad); err != nil {
		t.Fatal(err)
	}
	for key, mod := range map[string]func(*RegenConfig){
		"regen.concurrency":  func(r *RegenConfig) { r.Concurrency = 0 },
		"regen.rate":         func(r *RegenConfig) { r.Rate = -1 },
		"regen.max_attempts": func(r *RegenConfig) { r.MaxAttempts = 0 },
		"regen.backoff":      func(r *RegenConfig) { r.Backoff = 0 },
		"regen.schedule":     func(r *RegenConfig) { r.Schedule = "0 25 * * *" },
	} {
		rc := DefaultRegenConfig()
		mod(&rc)
		var ce *ConfigError
		if err := rc.validate(bad); !errors.As(err, &ce) || ce.Key != key {
			t.Errorf("%s: %v", key, err)
		}
	}
	rc := DefaultRegenConfig()
	rc.Schedule = "0 3,15 * * *"
	if err := rc.validate(bad); err != nil {
		t.Errorf("a good schedule: %v", err)
	}
	if err := (QueueConfig{}).validate(bad); err == nil {
		t.Error("queue.outage_after 0 accepted")
	}
}

// The wiring drains: marks made through the API are regenerated by run,
// which returns nil once its context ends.
func TestInvalidationRun(t *testing.T) {
	r := newInvalidationRig(t, "s3cret")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.inv.run(ctx) }()
	if resp := r.post(t, `{"tags":["list"]}`, "Authorization", "Bearer s3cret"); resp.Status != 202 {
		t.Fatalf("POST: %d %s", resp.Status, resp.Body)
	}
	eventually(t, 10*time.Second, "the five pages regenerated", func() bool {
		return r.inv.regen.Stats().Outcomes["changed"] == 5 && r.pending() == 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
