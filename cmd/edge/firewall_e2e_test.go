package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The miss firewall end to end, with the real store and memory tier.

// firewallOrigin answers 404 under /missing/ and a small page elsewhere.
func firewallOrigin(ctx *fasthttp.RequestCtx) {
	if strings.HasPrefix(string(ctx.Path()), "/missing/") {
		ctx.Error("no such page", fasthttp.StatusNotFound)
		return
	}
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetBodyString("<html><body><h1>" + string(ctx.RequestURI()) + "</h1>" + strings.Repeat("<p>lorem ipsum</p>", 40) + "</body></html>")
}

// storedFiles counts the index.html files under a store root.
func storedFiles(t *testing.T, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "index.html" {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSecondHitFloodEndToEnd: under store.admit second-hit, a flood of
// 10,000 URLs asked for once (2,000 under the race detector) (random query strings and unknown paths)
// stores nothing, while ten hot pages, stored on their second request,
// stay hits throughout.
func TestSecondHitFloodEndToEnd(t *testing.T) {
	o := startOrigin(t, firewallOrigin)
	e := startEdge(t, o.URL, func(c *Config) {
		c.Store.Admit = "second-hit"
		c.Cache.QueryAllow = []string{"q"}
		c.Memory.MaxBytes = 2 << 20 // small: a flood kept in memory would push the hot pages out
	})
	const hot = 10
	for i := range hot {
		u := fmt.Sprintf("%s/hot/%d", e.URL, i)
		if r := get(t, u); r.Status != 200 || r.Header.Get("Cache-Status") != "edge; fwd=uri-miss; detail=admission" {
			t.Fatalf("first request: %d %q", r.Status, r.Header.Get("Cache-Status"))
		}
		if r := get(t, u); r.Status != 200 || r.Header.Get("Cache-Status") != "edge; fwd=uri-miss; stored" {
			t.Fatalf("second request: %d %q", r.Status, r.Header.Get("Cache-Status"))
		}
	}
	if n := storedFiles(t, e.Root); n != hot {
		t.Fatalf("%d pages on disk after the hot pages, want %d", n, hot)
	}

	const flood, workers = firewallFlood, 8
	var (
		mu      sync.Mutex
		hotHits int
		hotReqs int
		wg      sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := w; i < flood; i += workers {
				u, want := fmt.Sprintf("%s/search?q=%016x", e.URL, rng.Uint64()), 200
				if i%2 == 1 {
					u, want = fmt.Sprintf("%s/missing/%016x", e.URL, rng.Uint64()), 404
				}
				r, err := do(http.MethodGet, u)
				if err != nil || r.Status != want || r.Header.Get("X-Cache") != "MISS" {
					t.Errorf("flood %s: %d %q %v", u, r.Status, r.Header.Get("X-Cache"), err)
					return
				}
				if i%10 == 0 {
					r, err := do(http.MethodGet, fmt.Sprintf("%s/hot/%d", e.URL, i/10%hot))
					mu.Lock()
					hotReqs++
					if err == nil && r.Header.Get("X-Cache") == "HIT" {
						hotHits++
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if hotHits != hotReqs || hotReqs != flood/10 {
		t.Errorf("hot pages: %d hits of %d requests during the flood, want all %d", hotHits, hotReqs, flood/10)
	}
	if n := e.store.Stats().Pages; n != hot {
		t.Errorf("index holds %d pages after the flood, want %d", n, hot)
	}
	if n := storedFiles(t, e.Root); n != hot {
		t.Errorf("%d pages on disk after the flood, want %d", n, hot)
	}
	if n := e.memory.Pages(); n > hot {
		t.Errorf("memory holds %d pages after the flood, want at most the %d hot ones", n, hot)
	}

	var st Status
	getJSON(t, e.Admin+"/status", &st)
	if st.Admission.Policy != "second-hit" || st.Admission.Admitted != hot || st.Admission.NotAdmitted != hot+flood {
		t.Errorf("/status admission %+v, want %d admitted, %d not", st.Admission, hot, hot+flood)
	}
	metrics := get(t, e.Admin+"/metrics").Body
	for _, line := range []string{
		fmt.Sprintf(`edge_admission_total{result="admitted"} %d`, hot),
		fmt.Sprintf(`edge_admission_total{result="not_admitted"} %d`, hot+flood),
		"edge_miss_rate_limited_total 0",
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

// TestKnownAdmissionEndToEnd: under store.admit known, edge gen (sent to
// the running server) records its URLs, failed ones included; a later miss
// of a listed URL is stored, an unlisted one only served.
func TestKnownAdmissionEndToEnd(t *testing.T) {
	var originDown sync.Map // paths answered 503
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		if _, down := originDown.Load(string(ctx.Path())); down {
			ctx.Error("later", fasthttp.StatusServiceUnavailable)
			return
		}
		firewallOrigin(ctx)
	})
	e := startEdge(t, o.URL, func(c *Config) {
		c.Store.Admit = "known"
		c.Admin.Token = "s3cret"
	})
	host := strings.TrimPrefix(e.URL, "http://")
	originDown.Store("/listed/late", true)
	cfg := genConfig(t, o.URL, e.Root, host, fmt.Sprintf("admin:\n  listen: %s\n  token: s3cret\n", genAdmin(t, e)))
	out, err := genIn(t.Context(), t, "/listed/1\n/listed/2\n/listed/late\n", "-config", cfg, "-urls", "-", "-progress", "none")
	if err == nil || !strings.Contains(out, "ok 2 ") || !strings.Contains(out, "failed 1 ") {
		t.Fatalf("edge gen: %v\n%s", err, out)
	}
	originDown.Delete("/listed/late")

	if r := get(t, e.URL+"/listed/1"); r.Header.Get("X-Cache") != "HIT" {
		t.Errorf("/listed/1 after the run: X-Cache %q", r.Header.Get("X-Cache"))
	}
	r := get(t, e.URL+"/listed/late")
	if r.Status != 200 || r.Header.Get("Cache-Status") != "edge; fwd=uri-miss; stored" {
		t.Errorf("/listed/late: %d %q, want a stored miss", r.Status, r.Header.Get("Cache-Status"))
	}
	for i := range 3 {
		r := get(t, e.URL+"/unlisted")
		if r.Status != 200 || r.Header.Get("Cache-Status") != "edge; fwd=uri-miss; detail=admission" {
			t.Errorf("/unlisted #%d: %d %q, want a miss not stored", i, r.Status, r.Header.Get("Cache-Status"))
		}
	}
	if n := e.store.Stats().Pages; n != 3 {
		t.Errorf("store holds %d pages, want 3 (the listed ones)", n)
	}
	if o.Hits("/unlisted") != 3 {
		t.Errorf("origin asked for /unlisted %d times, want 3", o.Hits("/unlisted"))
	}
}

// TestMissRateLimitEndToEnd: a client over origin.miss_rate_per_client
// gets a 429 with Retry-After; its hits are served; another client (from
// another loopback address) misses freely.
func TestMissRateLimitEndToEnd(t *testing.T) {
	o := startOrigin(t, firewallOrigin)
	e := startEdge(t, o.URL, func(c *Config) {
		c.Origin.MissRatePerClient = 0.001 // one miss per 1000s: no refill during the test
		c.Origin.MissBurstPerClient = 3
	})
	for i := range 3 {
		if r := get(t, fmt.Sprintf("%s/r/%d", e.URL, i)); r.Status != 200 || r.Header.Get("X-Cache") != "MISS" {
			t.Fatalf("miss %d: %d %q", i, r.Status, r.Header.Get("X-Cache"))
		}
	}
	r := get(t, e.URL+"/r/3")
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if r.Status != 429 || err != nil || retry < 900 || retry > 1000 {
		t.Errorf("fourth miss: %d Retry-After %q, want 429 and about 1000s", r.Status, r.Header.Get("Retry-After"))
	}
	if !strings.Contains(r.Body, "too many pages that are not cached") || r.Header.Get("Cache-Status") != "edge; detail=miss-rate-limited" {
		t.Errorf("429: Cache-Status %q body %q", r.Header.Get("Cache-Status"), r.Body)
	}
	if o.Hits("/r/3") != 0 {
		t.Error("the refused miss reached the origin")
	}
	for range 20 {
		if r := get(t, e.URL+"/r/0"); r.Status != 200 || r.Header.Get("X-Cache") != "HIT" {
			t.Fatalf("hit of the limited client: %d %q", r.Status, r.Header.Get("X-Cache"))
		}
	}

	other := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext,
	}}
	defer other.CloseIdleConnections()
	resp, err := other.Get(e.URL + "/r/3")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "MISS" {
		t.Errorf("another client: %d %q, want a 200 MISS", resp.StatusCode, resp.Header.Get("X-Cache"))
	}
	var st Status
	getJSON(t, e.Admin+"/status", &st)
	if st.Admission.RateLimited != 1 {
		t.Errorf("/status rate_limited %d, want 1", st.Admission.RateLimited)
	}
}

// getJSON decodes the JSON document at url into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	r := get(t, url)
	if err := json.Unmarshal([]byte(r.Body), v); err != nil {
		t.Fatalf("GET %s: %d %v\n%s", url, r.Status, err, r.Body)
	}
}

// TestFirewallReload: store.admit and the miss rate change on a reload,
// without a restart.
func TestFirewallReload(t *testing.T) {
	o := startOrigin(t, firewallOrigin)
	e := startEdge(t, o.URL, nil)
	if r := get(t, e.URL+"/a"); r.Header.Get("Cache-Status") != "edge; fwd=uri-miss; stored" {
		t.Fatalf("under always: %q", r.Header.Get("Cache-Status"))
	}
	next := *e.cfg.Load()
	next.Store.Admit, next.Store.AdmitWindow = "second-hit", time.Hour
	next.Origin.MissRatePerClient, next.Origin.MissBurstPerClient = 0.001, 1
	e.apply(next, "test")
	// The config in force is the new one: nothing was left for a restart.
	if got := *e.cfg.Load(); !reflect.DeepEqual(got, next) {
		t.Errorf("config in force after the reload differs from the file:\n%+v\n%+v", got, next)
	}
	if r := get(t, e.URL+"/b"); r.Header.Get("Cache-Status") != "edge; fwd=uri-miss; detail=admission" {
		t.Errorf("after the reload: %q, want a miss not admitted", r.Header.Get("Cache-Status"))
	}
	if r := get(t, e.URL+"/c"); r.Status != 429 {
		t.Errorf("second miss after the reload: %d, want 429 (burst 1)", r.Status)
	}
	if r := get(t, e.URL+"/a"); r.Header.Get("X-Cache") != "HIT" {
		t.Errorf("hit after the reload: %q", r.Header.Get("X-Cache"))
	}
}
