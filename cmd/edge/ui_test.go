package main

import (
	"context"
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
	e := startEdge(t, o.URL, nil)
	for _, p := range []string{"/events/1", "/events/1", "/events/1", "/events/2"} {
		get(t, e.URL+p)
	}
	get(t, e.URL+"/broken") // a 502: a warning in the recent events

	dom := chromium(t, e.Admin+"/ui", "--dump-dom")
	want := map[string]string{
		"diskpages": "2", "mempages": "2", "hitratio": "50.0 %", "budget": "0 / 8", "errors": "0 / 1", "pending": "0 pending",
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
	if !strings.Contains(dom, "request failed") {
		t.Error("recent events lack the 502 warning")
	}
	if m := regexp.MustCompile(`id="meta"[^>]*>([^<]*)<`).FindStringSubmatch(dom); m == nil || !strings.Contains(m[1], "updated") {
		t.Errorf("page header %q: the page did not load /status", m)
	}
	// With EDGE_SCREENSHOT set, also refresh the README's screenshot.
	if out := os.Getenv("EDGE_SCREENSHOT"); out != "" {
		abs, _ := filepath.Abs(out)
		chromium(t, e.Admin+"/ui", "--screenshot="+abs, "--window-size=1280,820", "--hide-scrollbars")
	}
}
