package main

import (
	"strings"
	"testing"

	"github.com/pregen/edge/bench/internal/results"
)

func TestParseWrk(t *testing.T) {
	out := "Running 5s test @ http://127.0.0.1:1/events/42\n" +
		"wrk-report requests=1000 duration_s=5.001 rps=199.9 p50_ms=0.500 p99_ms=2.000 p999_ms=3.500 errors=2 non2xx=3 bytes=16714000\n"
	var r results.Run
	if err := parseWrk(&r, out); err != nil {
		t.Fatal(err)
	}
	if r.Requests != 1000 || r.RPS != 199.9 || r.P99 != 2 || r.P999 != 3.5 || r.Errors != 5 {
		t.Fatalf("parsed %+v", r)
	}
	if err := parseWrk(&r, "no report\n"); err == nil {
		t.Error("no wrk-report line parsed without error")
	}
}

func TestParseRatectl(t *testing.T) {
	var r results.Run
	err := parseRatectl(&r, []byte(`{"sent":10,"requests":9,"errors":1,"non2xx":2,"unsent":3,"rps":9,"rate":10,"p50_ms":1,"p99_ms":2,"p999_ms":3,"x_cache":{"HIT":9}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 10 || r.Requests != 9 || r.Errors != 3 || r.Unsent != 3 || r.XCache["HIT"] != 9 || r.Rate != 10 {
		t.Fatalf("parsed %+v", r)
	}
}

func TestExpectation(t *testing.T) {
	for _, c := range []struct {
		scenario, server string
		runs             []results.Run
		want             string
		ok               bool
	}{
		{hot, edgeName, []results.Run{{Renders: 0}, {Renders: 0}}, "0", true},
		{hot, edgeName, []results.Run{{Renders: 0}, {Renders: 1}}, "0", false},
		{hot, originName, []results.Run{{Requests: 10, Renders: 12}}, "every request", true},
		{bypass, varnish, []results.Run{{Requests: 10, Renders: 9}}, "every request", false},
		{stampede, proxyCache, []results.Run{{Renders: 1}, {Renders: 1}}, "1 per run", true},
		{stampede, proxyCache, []results.Run{{Renders: 1}, {Renders: 2}}, "1 per run", false},
		{crawlCold, edgeName, []results.Run{{Sent: 100, Renders: 100}, {Sent: 50, Renders: 50}}, "= distinct pages (150)", true},
		{crawlCold, edgeName, []results.Run{{Sent: 100, Renders: 101}}, "= distinct pages (100)", false},
	} {
		got, ok := expectation(c.scenario, c.server, c.runs)
		if got != c.want || ok != c.ok {
			t.Errorf("expectation(%s, %s) = %q, %v; want %q, %v", c.scenario, c.server, got, ok, c.want, c.ok)
		}
	}
}

func TestServes(t *testing.T) {
	for _, c := range []struct {
		server, scenario string
		want             bool
	}{
		{static, hot, true}, {static, crawlWarm, true}, {static, crawlCold, false}, {static, bypass, false},
		{static, stampede, false}, {originName, stampede, false}, {originName, crawlCold, true},
		{varnish, invalidate, false}, {edgeName, invalidate, true}, {proxyCache, stampede, true},
	} {
		if got, why := serves(c.server, c.scenario); got != c.want || (!got && why == "") {
			t.Errorf("serves(%s, %s) = %v, %q; want %v with a reason when false", c.server, c.scenario, got, why, c.want)
		}
	}
}

func TestCommandQuotes(t *testing.T) {
	l := load{argv: []string{"wrk", "-H", "Cookie: sessionid=x", "http://127.0.0.1:1/"}, env: []string{"N=5"}}
	if got, want := l.command(), "N=5 taskset -c 1 wrk -H 'Cookie: sessionid=x' http://127.0.0.1:1/"; got != want {
		t.Errorf("command() = %q, want %q", got, want)
	}
}

func TestSummariseRatiosAndChecks(t *testing.T) {
	s := &suite{opt: options{invalidateN: 10}, rss: map[[2]string]float64{}}
	s.doc = results.Doc{
		Scenarios: []results.Scenario{{Name: hot, Available: true}, {Name: bypass, Available: true}},
		Servers:   []string{edgeName, static, proxyCache, varnish},
	}
	add := func(sc, srv, kind string, rps, p99, us float64, renders int64) {
		s.doc.Runs = append(s.doc.Runs, results.Run{Scenario: sc, Server: srv, Kind: kind, RPS: rps, P99: p99,
			USReq: us, Requests: uint64(rps), Renders: renders})
	}
	for _, rps := range []float64{39000, 40000, 41000} {
		add(hot, edgeName, results.Throughput, rps, 3, 20, 0)
		add(hot, static, results.Throughput, rps, 2, 25, 0)
		add(hot, proxyCache, results.Throughput, rps/2, 5, 40, 0)
		add(hot, varnish, results.Throughput, rps/4, 6, 60, 0)
		add(hot, edgeName, results.Latency, 10000, 1, 20, 0)
		add(hot, static, results.Latency, 10000, 0.5, 25, 0)
	}
	add(bypass, edgeName, results.Throughput, 130, 500, 300, 140)
	s.summarise()
	e := s.doc.Cell(hot, edgeName)
	if e == nil || e.RPS != 40000 || e.RPSRatio != 1 || e.P99Ratio != 2 || e.CPURatio != 0.8 || e.Ref != "nginx-static/hot" {
		t.Fatalf("edge/hot cell %+v", e)
	}
	if b := s.doc.Cell(bypass, edgeName); b == nil || b.Ref != "nginx-static/hot" || !b.RendersOK {
		t.Fatalf("edge/bypass cell %+v", b)
	}
	var got []string
	for _, c := range s.doc.Checks {
		got = append(got, c.What+"="+map[bool]string{true: "pass", false: "fail"}[c.Pass])
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"edge hot vs nginx-static hot, req/s=pass",
		"edge hot vs nginx-static hot, capacity (1/CPU per request)=pass",
		"edge hot vs nginx proxy_cache hot, req/s=pass", // 40000 vs 20000: 2.0×
		"edge hot vs Varnish hot, req/s=pass",           // 4.0×
		"edge hot vs Varnish hot, capacity (1/CPU per request)=pass",
		"edge hot vs nginx proxy_cache hot, capacity (1/CPU per request)=pass",
		"errors, every server and scenario=pass",
		"origin renders as stated=pass",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("checks lack %q:\n%s", want, all)
		}
	}
}

func TestSyscallsPerRequest(t *testing.T) {
	out := `
 Summary of events:

 edge (100), 900 events, 60.0%

   syscall            calls  errors  total       min       avg       max       stddev
                                     (msec)    (msec)    (msec)    (msec)        (%)
   --------------- --------  ------ -------- --------- --------- ---------     ------
   write                200      0     2.000     0.010     0.010     0.020      1.00%
   read                 100      0     1.000     0.010     0.010     0.020      1.00%
   openat                 1      0     0.010     0.010     0.010     0.010      0.00%

 edge (101), 300 events, 20.0%

   syscall            calls  errors  total       min       avg       max       stddev
   --------------- --------  ------ -------- --------- --------- ---------     ------
   epoll_pwait          100      0     1.000     0.010     0.010     0.020      1.00%
   write                 50      0     1.000     0.010     0.010     0.020      1.00%
`
	got := syscallsPerRequest(out, 100)
	want := "  all                    4.51\n  write                  2.50\n  read                   1.00\n  epoll_pwait            1.00\n  openat                 0.01\n"
	if got != want {
		t.Errorf("syscallsPerRequest =\n%s\nwant\n%s", got, want)
	}
	if syscallsPerRequest("nothing", 10) != "(no system calls traced)\n" {
		t.Error("no table gave something")
	}
}

func TestTidy(t *testing.T) {
	rep := "# comment\n\n    29.19%  [k] pvm_irq_enable                     -      -\n     8.23%  [.] Syscall6\n     1.00%  [.] third\n"
	if got, want := tidy(rep, 2), "    29.19%  [k] pvm_irq_enable\n     8.23%  [.] Syscall6\n"; got != want {
		t.Errorf("tidy = %q, want %q", got, want)
	}
}
