package main

import (
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pregen/edge/bench/internal/results"
)

// profile looks at srv during two more (unreported) throughput runs of
// scenario: perf record (call graphs; where the CPU goes, kernel and user,
// self and cumulative) and perf trace -s (which system calls, how many per
// response). Both attach to every process of the server (nginx's worker,
// varnishd's child).
func (s *suite) profile(ctx context.Context, srv *server, scenario string) error {
	if _, err := exec.LookPath("perf"); err != nil {
		return fmt.Errorf("no perf: %w", err)
	}
	var pids []string
	for _, p := range tree(srv.proc.Pid()) {
		pids = append(pids, strconv.Itoa(p))
	}
	data := filepath.Join(s.work, fmt.Sprintf("perf-%s-%s.data", srv.name, scenario))
	secs := fmt.Sprintf("%.0f", s.opt.duration.Seconds())
	var report strings.Builder

	// 1. Where the CPU goes.
	run, out, err := s.underPerf(ctx, srv, scenario, "perf", "record", "-F", "999", "-g", "-o", data,
		"-p", strings.Join(pids, ","), "--", "sleep", secs)
	if err != nil {
		return fmt.Errorf("perf record: %w: %s", err, out)
	}
	fmt.Fprintf(&report, "perf record -g during a %s run (%.0f req/s):\n\n", run.Kind, run.RPS)
	for _, args := range [][]string{
		{"--no-children", "--sort", "dso", "--percent-limit", "1"},
		{"--no-children", "--sort", "sym", "--percent-limit", "1.5"},
		{"--children", "--sort", "sym", "--percent-limit", "4"},
	} {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		rep, err := exec.CommandContext(rctx, "perf", append([]string{"report", "-i", data, "--stdio", "-g", "none", "-q"}, args...)...).Output()
		cancel()
		if err != nil {
			return fmt.Errorf("perf report: %w", err)
		}
		title := map[string]string{"dso": "self time by binary", "sym": "self time by function"}[args[2]]
		if args[0] == "--children" {
			title = "time in a function and its callees (children, self)"
		}
		fmt.Fprintf(&report, "%s:\n%s\n", title, tidy(string(rep), 25))
	}

	// 2. Which system calls, per response.
	run, out, err = s.underPerf(ctx, srv, scenario, "perf", "trace", "-s", "-p", strings.Join(pids, ","), "--", "sleep", secs)
	if err != nil {
		return fmt.Errorf("perf trace: %w: %s", err, out)
	}
	fmt.Fprintf(&report, "perf trace -s during a %s run (%.0f req/s under tracing), system calls per response:\n%s",
		run.Kind, run.RPS, syscallsPerRequest(out, run.Requests))

	if s.doc.Profiles == nil {
		s.doc.Profiles = map[string]string{}
	}
	s.doc.Profiles[srv.name+"/"+scenario] = report.String()
	return nil
}

// underPerf runs perfArgv (pinned to the load generator's CPU) while one
// throughput run of scenario loads srv, and returns the run and perf's
// output.
func (s *suite) underPerf(ctx context.Context, srv *server, scenario string, perfArgv ...string) (results.Run, string, error) {
	if err := s.settle(ctx); err != nil { // before perf starts its clock
		return results.Run{}, "", err
	}
	rctx, cancel := context.WithTimeout(ctx, s.opt.duration+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(rctx, "taskset", append([]string{"-c", loadCPU}, perfArgv...)...)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return results.Run{}, "", err
	}
	time.Sleep(300 * time.Millisecond) // let perf attach
	run, err := s.measureNow(ctx, srv, scenario, 0, "profiled", s.throughput(srv, scenario, 0))
	werr := cmd.Wait()
	if err != nil {
		return run, out.String(), err
	}
	return run, out.String(), werr
}

var blankRun = regexp.MustCompile(`([ \t]+-)*[ \t]*$`)

// tidy keeps the first n non-comment lines of a perf report, without the
// empty columns perf pads them with.
func tidy(rep string, n int) string {
	var b strings.Builder
	for l := range strings.SplitSeq(rep, "\n") {
		l = blankRun.ReplaceAllString(l, "")
		if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if n--; n < 0 {
			break
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// syscallsPerRequest sums perf trace -s's per-thread tables by system call
// and divides by the responses of the run.
func syscallsPerRequest(out string, requests uint64) string {
	calls := map[string]int64{}
	var order []string
	for l := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(l) // syscall calls errors total min avg max stddev
		if len(f) < 8 || f[0] == "syscall" {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		if _, err := strconv.ParseFloat(f[3], 64); err != nil {
			continue
		}
		if _, ok := calls[f[0]]; !ok {
			order = append(order, f[0])
		}
		calls[f[0]] += n
	}
	if requests == 0 || len(calls) == 0 {
		return "(no system calls traced)\n"
	}
	var total int64
	for _, n := range calls {
		total += n
	}
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(calls[b], calls[a]) })
	var b strings.Builder
	fmt.Fprintf(&b, "  %-18s %8.2f\n", "all", float64(total)/float64(requests))
	for _, name := range order {
		if v := float64(calls[name]) / float64(requests); v >= 0.01 {
			fmt.Fprintf(&b, "  %-18s %8.2f\n", name, v)
		}
	}
	return b.String()
}
