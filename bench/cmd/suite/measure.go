package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/pregen/edge/bench/internal/loadgen"
	"github.com/pregen/edge/bench/internal/results"
)

// loadCPU is the CPU the load generators are pinned to; the servers run on
// serverCPU.
const (
	serverCPU = "0"
	loadCPU   = "1"
)

// measure runs l against srv, pinned to the load generator's CPU, and
// returns the run with the server's CPU use, the load CPU's busy share,
// the CPU pressure and the origin renders over the run.
func (s *suite) measure(ctx context.Context, srv *server, scenario string, round int, kind string, l load) (results.Run, error) {
	if err := s.settle(ctx); err != nil {
		return results.Run{}, err
	}
	return s.measureNow(ctx, srv, scenario, round, kind, l)
}

// settle waits for the origin to finish what the last run queued and for
// the machine to be quiet (see quiesce and waitQuiet).
func (s *suite) settle(ctx context.Context) error {
	if _, err := s.quiesce(ctx); err != nil {
		return err
	}
	return s.waitQuiet(ctx)
}

// measureNow is measure without settling first.
func (s *suite) measureNow(ctx context.Context, srv *server, scenario string, round int, kind string, l load) (results.Run, error) {
	run := results.Run{Scenario: scenario, Server: srv.name, Round: round, Kind: kind,
		Command: strings.ReplaceAll(l.command(), s.opt.bin+"/", "$BIN/")}
	renders0, err := s.renders(ctx)
	if err != nil {
		return run, err
	}
	t0 := cpuTicks(srv.proc.Pid())
	_, p0 := pressure()
	b0, j0 := cpuStat(loadCPU)
	start := time.Now()

	// Bounded: the run's own duration (or count at the origin's pace) plus
	// a generous margin.
	rctx, cancel := context.WithTimeout(ctx, s.opt.duration+3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(rctx, "taskset", append([]string{"-c", loadCPU}, l.argv...)...)
	cmd.Env = append(os.Environ(), l.env...)
	cmd.Dir = s.repo
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	elapsed := time.Since(start).Seconds()
	t1 := cpuTicks(srv.proc.Pid())
	_, p1 := pressure()
	b1, j1 := cpuStat(loadCPU)
	if err != nil {
		return run, fmt.Errorf("%s: %w\n%s%s", run.Command, err, stdout.String(), stderr.String())
	}
	renders1, err := s.renders(ctx)
	if err != nil {
		return run, err
	}
	run.Renders = renders1 - renders0
	if l.tool == "wrk" {
		err = parseWrk(&run, stdout.String())
	} else {
		err = parseRatectl(&run, stdout.Bytes())
	}
	if err != nil {
		return run, fmt.Errorf("%s: %w\n%s%s", run.Command, err, stdout.String(), stderr.String())
	}
	secs := float64(t1-t0) / clkTck
	run.CPU = 100 * secs / elapsed
	if run.Requests > 0 {
		run.USReq = 1e6 * secs / float64(run.Requests)
	}
	if j1 > j0 {
		run.CPU1 = 100 * float64(b1-b0) / float64(j1-j0)
	}
	run.PSI = 100 * float64(p1-p0) / 1e6 / elapsed
	line := fmt.Sprintf("%-10s %-17s r%d %-10s %s", scenario, srv.name, round, kind, runLine(run))
	if run.Renders > 0 && run.Renders < 20 { // few: say which pages and who asked
		line += " renders:" + s.rendersSince(ctx, start)
	}
	s.raw = append(s.raw, line)
	return run, nil
}

// command renders l as a shell command line, as it was run.
func (l load) command() string {
	parts := append(append([]string{}, l.env...), "taskset", "-c", loadCPU)
	for _, a := range l.argv {
		if strings.ContainsAny(a, " ;'\"$") {
			a = "'" + a + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func runLine(r results.Run) string {
	return fmt.Sprintf("req=%d rps=%.0f p50=%.3fms p99=%.3fms p99.9=%.3fms err=%d unsent=%d renders=%d cpu=%.0f%% us/req=%.1f cpu1=%.0f%% psi=%.0f%% xcache=%v",
		r.Requests, r.RPS, r.P50, r.P99, r.P999, r.Errors, r.Unsent, r.Renders, r.CPU, r.USReq, r.CPU1, r.PSI, r.XCache)
}

// parseWrk reads the wrk-report line of bench/wrk/report.lua.
func parseWrk(run *results.Run, out string) error {
	var line string
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(l, "wrk-report ") {
			line = l
		}
	}
	if line == "" {
		return fmt.Errorf("no wrk-report line")
	}
	kv := map[string]float64{}
	for _, f := range strings.Fields(line)[1:] {
		k, v, _ := strings.Cut(f, "=")
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("wrk-report %s: %w", f, err)
		}
		kv[k] = n
	}
	run.Requests = uint64(kv["requests"])
	run.RPS = kv["rps"]
	run.P50, run.P99, run.P999 = kv["p50_ms"], kv["p99_ms"], kv["p999_ms"]
	run.Errors = uint64(kv["errors"] + kv["non2xx"])
	return nil
}

func parseRatectl(run *results.Run, out []byte) error {
	var r loadgen.Result
	if err := json.Unmarshal(out, &r); err != nil {
		return err
	}
	run.Requests, run.Sent, run.RPS, run.Rate = r.Requests, r.Sent, r.RPS, r.Rate
	run.P50, run.P99, run.P999 = r.P50, r.P99, r.P999
	run.Errors = r.Errors + r.Non2xx
	run.Unsent = r.Unsent
	run.XCache = r.XCache
	return nil
}

// quiesce waits (up to 10s) until the origin has finished the renders
// queued by the run before (a closed-loop generator stops with requests in
// flight), so that they are not counted in the next run; it returns the
// render count then.
func (s *suite) quiesce(ctx context.Context) (int64, error) {
	last, err := s.renders(ctx)
	for range 40 {
		if err != nil {
			return 0, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		var now int64
		if now, err = s.renders(ctx); err == nil && now == last {
			return now, nil
		}
		last = now
	}
	return last, err
}

// waitQuiet samples the CPU pressure while every server is idle (between
// runs the pressure comes from other processes on the machine) and waits,
// up to -quiet-wait per run and -quiet-budget in all, while it is above
// -quiet-max. Runs that start noisy anyway show it in their psi.
func (s *suite) waitQuiet(ctx context.Context) error {
	if s.opt.quietMax <= 0 {
		return nil
	}
	const sample = 300 * time.Millisecond
	start := time.Now()
	for {
		_, p0 := pressure()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(sample):
		}
		_, p1 := pressure()
		share := 100 * float64(p1-p0) / float64(sample.Microseconds())
		waited := time.Since(start)
		if share < s.opt.quietMax || waited >= s.opt.quietWait || s.quietSpent+waited >= s.opt.quietBudget {
			s.quietSpent += waited
			if waited > time.Second {
				s.logf("waited %.0fs for a quiet CPU (pressure now %.0f%%; %.0fs of the %v budget used)",
					waited.Seconds(), share, s.quietSpent.Seconds(), s.opt.quietBudget)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// renders returns the origin's render count since it started.
func (s *suite) renders(ctx context.Context) (int64, error) {
	total, _, err := s.originStats(ctx)
	return total, err
}

// originRender is one of the origin's recent renders (internal/demo).
type originRender struct {
	At   time.Time `json:"at"`
	Path string    `json:"path"`
	UA   string    `json:"user_agent"`
	Via  string    `json:"via"`
}

// originStats returns the origin's render count and its last renders.
func (s *suite) originStats(ctx context.Context) (int64, []originRender, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.origin.url()+"/_origin/stats?recent=1", nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("origin stats: %w", err)
	}
	defer resp.Body.Close()
	var v struct {
		Total  int64          `json:"total"`
		Recent []originRender `json:"recent"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, nil, fmt.Errorf("origin stats: %w", err)
	}
	return v.Total, v.Recent, nil
}

// rendersSince describes the origin's recent renders from start on, for
// the raw log of a run whose renders need explaining.
func (s *suite) rendersSince(ctx context.Context, start time.Time) string {
	_, recent, err := s.originStats(ctx)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, r := range recent {
		if r.At.Before(start) {
			continue
		}
		fmt.Fprintf(&b, " [%s %s ua=%q via=%q]", r.At.Format("15:04:05.000"), r.Path, r.UA, r.Via)
	}
	return b.String()
}
