package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/store"
)

// seedStore writes pages generated age ago into a store directory, as a
// previous run of edge would have left them.
func seedStore(t *testing.T, root string, keys []string, age time.Duration) {
	t.Helper()
	st, err := store.Open(root, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		p := (&edge.Page{Key: k, Status: 200, ContentType: "text/html", Body: []byte("old " + k),
			GeneratedAt: time.Now().Add(-age)}).Finish()
		if _, err := st.Put(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

func statusDoc(t *testing.T, admin string) Status {
	t.Helper()
	r := get(t, admin+"/status")
	var s Status
	if err := json.Unmarshal([]byte(r.Body), &s); err != nil {
		t.Fatalf("/status: %v", err)
	}
	return s
}

// The sweep runs inside edge serve: pages older than sweep.period are
// regenerated at sweep priority through the origin; /status, /metrics and
// edge status show the page ages and the sweep's progress.
func TestSweepInServe(t *testing.T) {
	o := startOrigin(t, page)
	root := filepath.Join(t.TempDir(), "store")
	keys := []string{"/events/1", "/events/2", "/events/3"}
	seedStore(t, root, keys, 3*time.Hour)
	e := startEdge(t, o.URL, func(c *Config) {
		c.Store.Root = root
		c.Sweep.Period = time.Hour
	})
	eventually(t, 20*time.Second, "the overdue pages regenerated and the cycle walked", func() bool {
		s := statusDoc(t, e.Admin)
		return s.Ages.OldestSeconds < 3600 && s.Sweep.Complete
	})
	for _, k := range keys {
		if n := o.Hits(k); n != 1 {
			t.Errorf("origin saw %d requests for %s, want 1", n, k)
		}
	}
	s := statusDoc(t, e.Admin)
	if sw := s.Sweep; !sw.Enabled || sw.Cycle != 1 || sw.Done != 3 || sw.Total != 3 || sw.PeriodSeconds != 3600 {
		t.Errorf("/status sweep = %+v", sw)
	}
	if a := s.Ages; a.Pages != 3 || len(a.Stored) != len(ageBounds)+1 || a.Stored[0].Le != "1m" || a.Stored[0].Count != 3 {
		t.Errorf("/status ages = %+v", a)
	}
	get(t, e.URL+"/events/1") // a hit: a served age
	if s := statusDoc(t, e.Admin); s.Ages.Served[0].Count != 1 {
		t.Errorf("served ages = %+v, want the hit in the first bucket", s.Ages.Served)
	}

	metrics := get(t, e.Admin+"/metrics").Body
	for _, want := range []string{
		`edge_origin_requests_total{priority="sweep",result="2xx"} 3`,
		`edge_page_age_seconds_bucket{le="60"} 3`,
		`edge_page_age_seconds_count 3`,
		`edge_served_page_age_seconds_count 1`,
		`edge_sweep_cycle 1`,
		`edge_sweep_cycle_done_pages 3`,
		`edge_sweep_cycle_pages 3`,
		`edge_sweep_marked_total 3`,
		`edge_sweep_enabled 1`,
		"edge_page_oldest_age_seconds ",
		"edge_sweep_cycle_eta_timestamp_seconds ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	var out, errOut bytes.Buffer
	addr := strings.TrimPrefix(e.Admin, "http://")
	if err := statusCmd(context.Background(), []string{"-admin", addr}, &out, &errOut); err != nil {
		t.Fatalf("edge status: %v (%s)", err, errOut.String())
	}
	for _, want := range []string{"page age     3 pages", "≤ 1m             3", "cycle 1", "3 of 3 pages (100.0 %)", "next cycle"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("edge status output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := statusCmd(context.Background(), []string{"-admin", addr, "-json"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(out.Bytes()) || !strings.Contains(out.String(), `"sweep"`) {
		t.Errorf("edge status -json printed %q", out.String())
	}
}

// sweep.period 0 turns the sweep off: nothing is marked, the status says so.
func TestSweepOff(t *testing.T) {
	o := startOrigin(t, page)
	root := filepath.Join(t.TempDir(), "store")
	seedStore(t, root, []string{"/a"}, 30*24*time.Hour)
	e := startEdge(t, o.URL, func(c *Config) {
		c.Store.Root = root
		c.Sweep.Period = 0
	})
	s := statusDoc(t, e.Admin)
	if s.Sweep.Enabled || s.Sweep.Cycle != 0 || s.Invalidation.Pending["sweep"] != 0 {
		t.Errorf("sweep off: status %+v, pending %v", s.Sweep, s.Invalidation.Pending)
	}
	if s.Ages.OldestSeconds < 29*24*3600 {
		t.Errorf("oldest page %ds old, want the 30-day-old page", s.Ages.OldestSeconds)
	}
	var out bytes.Buffer
	if err := statusCmd(context.Background(), []string{"-admin", strings.TrimPrefix(e.Admin, "http://")}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "sweep        off") {
		t.Errorf("edge status with the sweep off:\n%s", out.String())
	}
	if n := o.Hits("/a"); n != 0 {
		t.Errorf("origin saw %d requests with the sweep off", n)
	}
}

func TestSweepConfig(t *testing.T) {
	for _, tc := range []struct{ yaml, err string }{
		{"sweep: {period: 0}", ""},
		{"sweep: {period: 24h, jitter: 0}", ""},
		{"sweep: {period: -1h}", "sweep.period"},
		{"sweep: {period: 10s}", "sweep.period"},
		{"sweep: {jitter: 1.5}", "sweep.jitter"},
		{"sweep: {perod: 1h}", "perod"},
	} {
		_, err := ParseConfig("t.yaml", []byte("origin: {url: http://127.0.0.1:1}\n"+tc.yaml+"\n"))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.yaml, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want one naming %s", tc.yaml, err, tc.err)
		}
	}
	if d := DefaultConfig().Sweep; d.Period != 7*24*time.Hour || d.Jitter != 0.1 {
		t.Errorf("default sweep config %+v", d)
	}
	cfg, err := ParseConfig("t.yaml", []byte("origin: {url: http://127.0.0.1:1}\nsweep: {period: 0}\n"))
	if err != nil || cfg.Sweep.Period != 0 {
		t.Errorf("period 0 read as %v (%v), want 0 (off)", cfg.Sweep.Period, err)
	}
}
