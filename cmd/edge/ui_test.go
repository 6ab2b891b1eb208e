package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// chromium runs Debian's headless Chromium against url with a virtual time
// budget (so the page's one-second polling runs several times, without
// real waiting) and returns the rendered DOM.
func chromium(t *testing.T, url string, extra ...string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (.ci/run installs Debian's chromium)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=4000",
	}, extra...)
	out, err := exec.CommandContext(ctx, bin, append(args, url)...).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return string(out)
}

// The status page renders the live numbers of /status and keeps updating.
func TestStatusPageInChromium(t *testing.T) {
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/broken" {
			ctx.SetStatusCode(fasthttp.StatusOK)
			ctx.HijackSetNoResponse(true)
			ctx.Hijack(func(c net.Conn) {})
			return
		}
		page(ctx)
	})
	// A store from an earlier run: 30 pages generated 5h, 11h, … 179h ago.
	// With the default 7-day period the two older than that are swept at
	// once, the others wait for the even pace.
	root := filepath.Join(t.TempDir(), "store")
	for i := 1; i <= 30; i++ {
		seedStore(t, root, []string{fmt.Sprintf("/events/%d", 100+i)}, time.Duration(i)*6*time.Hour-time.Hour)
	}
	e := startEdge(t, o.URL, func(c *Config) { c.Store.Root = root })
	eventually(t, 20*time.Second, "the two overdue pages swept", func() bool {
		s := statusDoc(t, e.Admin)
		return s.Sweep.Done == 2 && s.Invalidation.Pending["sweep"] == 0 && s.Invalidation.Regenerating == 0
	})
	for _, p := range []string{"/events/1", "/events/1", "/events/1", "/events/2"} {
		get(t, e.URL+p)
	}
	get(t, e.URL+"/broken") // a 502: a warning in the recent events

	dom := chromium(t, e.Admin+"/ui", "--dump-dom")
	want := map[string]string{
		"diskpages": "32", "mempages": "2", "hitratio": "50.0 %", "budget": "0 / 8", "errors": "0 / 1", "pending": "0 pending",
		// The age histogram: the two pages fetched and the two swept are
		// under a minute old; the sweep's progress.
		"age-1m": "4", "sweepdone": "6.7 %", "sweeppages": "2 / 30", "sweepperiod": "7d 0h", "sweepbehind": "0",
	}
	for id, v := range want {
		re := regexp.MustCompile(`id="` + id + `"[^>]*>([^<]*)<`)
		m := re.FindStringSubmatch(dom)
		if m == nil || strings.TrimSpace(m[1]) != v {
			t.Errorf("#%s = %q, want %q", id, m, v)
		}
	}
	// A rate needs two polls: a number here proves the page updates.
	if m := regexp.MustCompile(`id="rps"[^>]*>([0-9,]+)<`).FindStringSubmatch(dom); m == nil {
		t.Error("requests per second not computed: the page did not poll twice")
	}
	if m := regexp.MustCompile(`id="oldest"[^>]*>([^<]*)<`).FindStringSubmatch(dom); m == nil || !strings.HasPrefix(m[1], "6d 23h") {
		t.Errorf("oldest page shown as %q, want 6d 23h (167h)", m)
	}
	if m := regexp.MustCompile(`id="sweepeta"[^>]*>([^<]*)<`).FindStringSubmatch(dom); m == nil || !strings.Contains(m[1], "(in 6d 23h)") {
		t.Errorf("sweep ETA shown as %q", m)
	}
	if n := strings.Count(dom, `<i class="served"`); n != len(ageBounds)+1 {
		t.Errorf("%d served-age bars, want one per bucket", n)
	}
	if !strings.Contains(dom, "request failed") {
		t.Error("recent events lack the 502 warning")
	}
	if m := regexp.MustCompile(`id="meta"[^>]*>([^<]*)<`).FindStringSubmatch(dom); m == nil || !strings.Contains(m[1], "updated") {
		t.Errorf("page header %q: the page did not load /status", m)
	}
	// With EDGE_SCREENSHOT set, also refresh the README's screenshot.
	if out := os.Getenv("EDGE_SCREENSHOT"); out != "" {
		abs, _ := filepath.Abs(out)
		chromium(t, e.Admin+"/ui", "--screenshot="+abs, "--window-size=1280,1100", "--hide-scrollbars")
	}
}
