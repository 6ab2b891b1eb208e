package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pregen/edge/internal/demo"
	"github.com/valyala/fasthttp"
)

// The demo's change endpoint end to end: the origin changes an event and
// posts the invalidation of its tag to edge's admin API; edge keeps serving
// the pages (STALE, never a miss or an error), regenerates every page that
// shows the event in the background, and then serves the new title.
func TestDemoChangePropagates(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := startEdge(t, "http://"+ln.Addr().String(), func(c *Config) {
		c.Admin.Token = "s3cret"
		c.Regen.Rate = 100
	})
	site := demo.New(demo.Config{Pages: 300, Latency: -1, EdgeAdminURL: e.Admin, EdgeToken: "s3cret"})
	srv := &fasthttp.Server{Handler: site.Handler}
	go srv.Serve(ln) //nolint:errcheck // ends at Shutdown
	t.Cleanup(func() { _ = srv.Shutdown() })

	// A page showing event 7 other than its own: one of its speakers'.
	ev := get(t, e.URL+"/events/7")
	if ev.Status != 200 || ev.Header.Get("Surrogate-Key") != "" {
		t.Fatalf("/events/7: %d, Surrogate-Key %q", ev.Status, ev.Header.Get("Surrogate-Key"))
	}
	person := regexp.MustCompile(`href="(/people/\d+)"`).FindStringSubmatch(ev.Body)[1]
	paths := []string{"/events/7", person}
	for _, p := range paths {
		get(t, e.URL+p)
	}

	var imp struct{ Pages int }
	if err := json.Unmarshal([]byte(get(t, e.Admin+"/impact?tag=event-7").Body), &imp); err != nil || imp.Pages != 2 {
		t.Fatalf("impact of event-7: %+v %v, want 2 stored pages", imp, err)
	}
	r, err := do("POST", "http://"+ln.Addr().String()+"/_origin/change?event=7")
	if err != nil || r.Status != 200 || !strings.Contains(r.Body, `"edge":"202 Accepted`) {
		t.Fatalf("change: %d %s %v", r.Status, r.Body, err)
	}
	eventually(t, 10*time.Second, "the change reaching every page", func() bool {
		for _, p := range paths {
			r := get(t, e.URL+p)
			if r.Status != 200 || (r.Header.Get("X-Cache") != "HIT" && r.Header.Get("X-Cache") != "STALE") {
				t.Fatalf("%s during the regeneration: %d %q", p, r.Status, r.Header.Get("X-Cache"))
			}
			if !strings.Contains(r.Body, "(revision 1)") || r.Header.Get("X-Cache") != "HIT" {
				return false
			}
		}
		return true
	})
	for _, p := range paths {
		if n := site.Renders(p); n != 2 {
			t.Errorf("%s rendered %d times, want 2 (the miss and one regeneration)", p, n)
		}
	}
	m := get(t, e.Admin+"/metrics").Body
	for _, want := range []string{`edge_invalidation_marks_total{source="api"} 2`, `edge_regenerations_total{outcome="changed"} 2`,
		`edge_invalidation_queue_depth{priority="invalidate"} 0`, `edge_regeneration_mark_to_fresh_seconds_count 2`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	var st Status
	if err := json.Unmarshal([]byte(get(t, e.Admin+"/status").Body), &st); err != nil ||
		st.Invalidation.Outcomes["changed"] != 2 || st.Invalidation.Marks["api"] != 2 {
		t.Errorf("/status invalidation: %+v %v", st.Invalidation, err)
	}

	// The command, through the same admin API.
	var out, errOut bytes.Buffer
	addr := strings.TrimPrefix(e.Admin, "http://")
	if err := run(context.Background(), []string{"invalidate", "-admin", addr, "-token", "s3cret", "-url", "/events/7"}, &out, &errOut); err != 0 {
		t.Fatalf("edge invalidate: exit %d: %s", err, errOut.String())
	}
	if !strings.Contains(out.String(), `"marked": 1`) {
		t.Fatalf("edge invalidate printed %q", out.String())
	}
}
